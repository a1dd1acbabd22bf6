"""Kill the writer at random points (200 seeded trials): never a partial product visible, never a
complete row without its file, and a re-run finishes every job.

Most trials fork a writer that finishes a few products and then dies (os._exit, no clean-up, like
SIGKILL) at an injected point of the protocol: mid-write of the FITS bytes (a truncated temporary file), before the file fsync,
before the rename, before the directory fsync, in the middle of the database transaction, just
before COMMIT, just after COMMIT. The rest are real SIGKILLs at a random moment of a writer
looping over products.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import numpy as np
import pytest
from sqlalchemy import event, text
from sqlalchemy.orm import Session

from specpy.targets import Database, files
from specpy.targets import fits as products
from specpy.targets.check import check, repair
from specpy.targets.pipeline import write_outputs

from .helpers import FORK, assert_consistent, bead_stack, fake_analysis, fake_pipeline, stop

TRIALS = 200
REAL_KILLS = 24
POINTS = ("write", "fsync", "replace", "dir_fsync", "mid_transaction", "commit", "after_commit")
KILLED = 137


def _die(*_: object, **__: object) -> None:
    os._exit(KILLED)


def _arm(point: str, database: Database, rng: np.random.Generator) -> None:
    """Make this (forked, disposable) process die at `point` of the next product write."""
    if point == "write":
        real_write = products.write_chunks_atomic

        def partial_write(path: str, chunks: list[bytes]) -> None:
            data = b"".join(bytes(chunk) for chunk in chunks)

            def dying() -> Iterator[bytes]:
                yield data[:len(data) // int(rng.integers(2, 9))]  # the bytes that made it to disk
                _die()

            real_write(path, dying())

        products.write_chunks_atomic = partial_write
    elif point == "fsync":
        os.fsync = _die
    elif point == "replace":
        os.replace = _die
    elif point == "dir_fsync":
        files.fsync_directory = _die
    elif point == "mid_transaction":
        countdown = [int(rng.integers(1, 12))]

        def count(*_: object) -> None:
            countdown[0] -= 1
            if countdown[0] <= 0:
                _die()

        event.listen(database.engine, "after_cursor_execute", count)
    elif point == "commit":
        event.listen(database.engine, "commit", _die)
    else:
        event.listen(Session, "after_commit", _die)


def _writer(url: str, root: str, seeds: list[int], point: str | None, seed: int) -> None:
    """Write the products of `seeds` in order; die at `point` during the last one (None: loop until killed)."""
    database = Database(url, root)
    pipeline = fake_pipeline(database)
    rng = np.random.default_rng(seed)
    for index, stack_seed in enumerate(seeds):
        stack = bead_stack(stack_seed)
        if point is not None and index == len(seeds) - 1:
            _arm(point, database, rng)
            task = pipeline.task_for(stack)
            write_outputs(database, task, stack, fake_analysis(stack, {}))  # past the completeness check: always writes
        else:
            pipeline.process(stack)
    os._exit(0)


def _run_trials(store: Database) -> tuple[set[int], dict[str, int]]:
    """The trials, two writers at a time on disjoint keys (so they also contend for the database)."""
    rng = np.random.default_rng(20240501)
    url, root = store.url, str(store.root)
    touched: set[int] = set()
    outcomes = {"died": 0, "finished": 0}
    for pair in range(0, TRIALS, 2):
        processes, kill_at, trial_seeds = [], [], []
        for trial in (pair, pair + 1):
            seeds = [1000 + trial]
            if touched and rng.random() < 0.3:
                seeds.insert(0, int(rng.choice(sorted(touched))))
            trial_seeds.append(seeds)
            real = trial >= TRIALS - REAL_KILLS
            args = (url, root, seeds * 4 if real else seeds, None if real else POINTS[trial % len(POINTS)], trial)
            processes.append(FORK.Process(target=_writer, args=args, daemon=True))
            kill_at.append(float(rng.uniform(0.0, 0.15)) if real else None)
        for process in processes:
            process.start()
        start = time.monotonic()
        for process, moment in sorted(zip(processes, kill_at), key=lambda item: item[1] or 0.0):
            if moment is not None:
                time.sleep(max(0.0, moment - (time.monotonic() - start)))
                os.kill(process.pid, signal.SIGKILL)
        for code in stop(processes):
            assert code in (0, KILLED, -signal.SIGKILL), f"trials {pair}-{pair + 1}: a writer failed with exit code {code}"
            outcomes["died" if code != 0 else "finished"] += 1
        seeds = sorted({seed for seeds in trial_seeds for seed in seeds})
        touched.update(seeds)
        pipeline = fake_pipeline(store)
        assert_consistent(store, [pipeline.task_for(bead_stack(seed)) for seed in seeds])
    return touched, outcomes


def test_killed_writers_never_leave_partial_products(sqlite_store: Database) -> None:
    touched, outcomes = _run_trials(sqlite_store)
    assert outcomes["died"] >= TRIALS - REAL_KILLS  # every injected crash point fired

    pipeline = fake_pipeline(sqlite_store)
    tasks = [pipeline.task_for(bead_stack(seed)) for seed in sorted(touched)]
    before = assert_consistent(sqlite_store, tasks)
    assert not all(before.values()), "the crashes should have left unfinished tasks"
    outcomes_rerun = pipeline.run([bead_stack(seed) for seed in sorted(touched)])
    assert {outcome.status for outcome in outcomes_rerun} <= {"written", "complete"}
    assert all(assert_consistent(sqlite_store, tasks).values()), "a re-run must finish every job"

    findings = check(sqlite_store)
    assert {finding.kind for finding in findings} <= {"temporary"}, [str(f) for f in findings]
    repair(sqlite_store, findings)
    assert check(sqlite_store) == []
    with sqlite_store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    leftovers = [name for _, _, names in os.walk(sqlite_store.root) for name in names if files.TEMP_MARK in name]
    assert leftovers == []


@pytest.mark.parametrize("point", POINTS)
def test_each_crash_point_then_rerun(sqlite_store: Database, point: str) -> None:
    """One crash at each point: the state is consistent, exists() agrees, and the re-run completes it."""
    process = FORK.Process(target=_writer, args=(sqlite_store.url, str(sqlite_store.root), [7], point, 0), daemon=True)
    process.start()
    assert stop([process]) == [KILLED]
    pipeline = fake_pipeline(sqlite_store)
    task = pipeline.task_for(bead_stack(7))
    complete = assert_consistent(sqlite_store, [task])[task.key]
    assert complete == (point == "after_commit")
    assert pipeline.process(bead_stack(7)).status == ("complete" if complete else "written")
    assert assert_consistent(sqlite_store, [task])[task.key]
