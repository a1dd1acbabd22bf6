"""Concurrent writers in several processes, on the same key and on different keys."""

from __future__ import annotations

from sqlalchemy import func, select

from specpy.targets import Database
from specpy.targets.check import check
from specpy.targets.models import BeadSummary, Product, SpotFit, TaskRun
from specpy.targets.pipeline import write_outputs

from .helpers import FORK, assert_consistent, bead_stack, fake_analysis, fake_pipeline, in_child, stop

WRITERS = 6


def _same_key_writer(url: str, root: str, start, force: bool) -> None:
    database = Database(url, root)
    start.wait(30)
    stack = bead_stack(42)
    pipeline = fake_pipeline(database)
    if force:  # past the completeness check: really races on the file and the rows
        write_outputs(database, pipeline.task_for(stack), stack, fake_analysis(stack, {}))
    else:
        assert pipeline.process(stack).status in ("written", "complete")
    database.close()


def _many_keys_writer(url: str, root: str, start, first: int, count: int) -> None:
    database = Database(url, root)
    start.wait(30)
    outcomes = fake_pipeline(database).run([bead_stack(seed) for seed in range(first, first + count)])
    assert {outcome.status for outcome in outcomes} <= {"written", "complete"}
    database.close()


def test_same_key_from_several_processes(store) -> None:
    start = FORK.Event()
    processes = [in_child(_same_key_writer, store.url, str(store.root), start, index % 2 == 0) for index in range(WRITERS)]
    start.set()
    assert stop(processes) == [0] * WRITERS
    task = fake_pipeline(store).task_for(bead_stack(42))
    assert assert_consistent(store, [task]) == {task.key: True}
    with store.session() as session:
        assert session.execute(select(func.count()).select_from(TaskRun)).scalar_one() == 1
        assert session.execute(select(func.count()).select_from(Product)).scalar_one() == 1
        assert session.execute(select(func.count()).select_from(SpotFit)).scalar_one() == 3
        assert session.execute(select(func.count()).select_from(BeadSummary)).scalar_one() == 1
    assert len([path for path in store.root.rglob("*") if path.is_file()]) == 1
    assert check(store) == []


def test_different_keys_from_several_processes(store) -> None:
    start = FORK.Event()
    per_writer = 8
    # writers overlap by half their keys, so some keys are contended too
    processes = [in_child(_many_keys_writer, store.url, str(store.root), start, index * per_writer // 2, per_writer)
                 for index in range(4)]
    start.set()
    assert stop(processes) == [0] * 4
    seeds = range(0, 3 * per_writer // 2 + per_writer)
    pipeline = fake_pipeline(store)
    state = assert_consistent(store, [pipeline.task_for(bead_stack(seed)) for seed in seeds])
    assert all(state.values()) and len(state) == len(seeds)
    with store.session() as session:
        assert session.execute(select(func.count()).select_from(TaskRun)).scalar_one() == len(seeds)
        assert session.execute(select(func.count()).select_from(SpotFit)).scalar_one() == 3 * len(seeds)
    assert check(store) == []
