"""DatabaseTarget and the write protocol: one transaction, idempotent re-runs, copy_from, failures, db check."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select

from specpy.targets import DatabaseTarget, ProductError, TargetError, Task, record_outputs
from specpy.targets.check import QUARANTINE, check, repair
from specpy.targets.models import Acquisition, BeadSummary, ParameterSet, Product, RunInput, RunOutput, SpotFit, TaskRun
from specpy.targets.pipeline import complete

from .helpers import assert_consistent, bead_stack, fake_pipeline

TABLES = (Acquisition, ParameterSet, TaskRun, RunInput, Product, RunOutput, SpotFit, BeadSummary)


def counts(database) -> dict[str, int]:
    with database.session() as session:
        return {model.__tablename__: session.execute(select(func.count()).select_from(model)).scalar_one() for model in TABLES}


def test_write_read_exists_and_lineage(store) -> None:
    pipeline = fake_pipeline(store)
    stack = bead_stack(1)
    task = pipeline.task_for(stack)
    spots = DatabaseTarget(SpotFit, task, store)
    assert not spots.exists() and spots.read() is None
    assert pipeline.process(stack).status == "written"
    assert spots.exists() and DatabaseTarget(BeadSummary, task, store).exists()
    rows = spots.read()
    assert [row.spot for row in rows] == [0, 1, 2] and all(row.length_unit == "m" for row in rows)
    with store.session() as session:
        run = session.execute(select(TaskRun).where(TaskRun.key == task.key)).scalar_one()
        assert run.status == "complete" and run.pid == os.getpid() and run.versions["specpy"] and run.error is None
        acquisition = session.execute(select(Acquisition)).scalar_one()
        assert acquisition.sha256 == task.inputs[0].sha256 and acquisition.sample == "beads-40nm"
        assert {row.acquisition_id for row in rows} == {acquisition.id}
        assert session.execute(select(RunInput.role, RunInput.sha256)).one() == ("image", acquisition.sha256)
        product = session.execute(select(Product)).scalar_one()
        assert not os.path.isabs(product.path) and product.size == os.path.getsize(store.root / product.path)
        parameters = session.execute(select(ParameterSet.canonical_json)).scalar_one()
        assert parameters == '{"roi":7}'


def test_reruns_change_nothing(store) -> None:
    pipeline = fake_pipeline(store)
    stacks = [bead_stack(seed) for seed in range(3)]
    pipeline.run(stacks)
    before = counts(store)
    paths = sorted(store.root.rglob("*.fits"))
    stamps = [(path.stat().st_mtime_ns, path.stat().st_ino) for path in paths]
    with store.session() as session:
        runs = session.execute(select(TaskRun.key, TaskRun.modified, TaskRun.finished_at)).all()
    for _ in range(3):
        assert {outcome.status for outcome in pipeline.run(stacks)} == {"complete"}
    task = pipeline.task_for(stacks[0])
    assert DatabaseTarget(SpotFit, task, store).write(fake_pipeline(store).analyse(stacks[0], {}).spot_rows(0, "image")) is False
    assert counts(store) == before
    assert [(path.stat().st_mtime_ns, path.stat().st_ino) for path in sorted(store.root.rglob("*.fits"))] == stamps
    with store.session() as session:
        assert session.execute(select(TaskRun.key, TaskRun.modified, TaskRun.finished_at)).all() == runs


def test_changing_a_parameter_makes_a_new_product(store) -> None:
    stack = bead_stack(1)
    first = fake_pipeline(store)
    second = fake_pipeline(store)
    second.parameters = {"roi": 9}
    assert first.process(stack).key != second.process(stack).key
    assert counts(store)["product"] == 2 and counts(store)["acquisition"] == 1


def test_rows_are_checked_before_the_transaction(store) -> None:
    target = DatabaseTarget(SpotFit, Task("manual"), store)
    with pytest.raises(TargetError, match=r"unknown columns \['colour'\]"):
        target.write({"stack": 0, "spot": 0, "status": 0, "length_unit": "m", "colour": "red"})
    with pytest.raises(TargetError, match=r"lacks the required columns \['length_unit'\]"):
        target.write([{"stack": 0, "spot": 0, "status": 0}])
    with pytest.raises(TargetError, match="names input 'image'"):
        target.write({"stack": 0, "spot": 0, "status": 0, "length_unit": "m", "input": "image"})
    with pytest.raises(TargetError, match="must be a dict"):
        target.write("rows")
    with pytest.raises(TargetError, match="not a result table"):
        DatabaseTarget(TaskRun, Task("manual"), store)
    assert counts(store)["task_run"] == 0
    assert target.write({"stack": 0, "spot": 0, "status": 0, "length_unit": "pixel", "fwhm_x": float("nan")})
    assert target.exists() and target.read()[0].fwhm_x is None


def test_get_query_columns_and_full_output(store) -> None:
    pipeline = fake_pipeline(store)
    stack = bead_stack(2)
    pipeline.process(stack)
    target = DatabaseTarget(SpotFit, pipeline.task_for(stack), store)
    with store.session() as session:
        rows = session.execute(target.get_query(["spot", "fwhm_x"], full_output=True)).all()
    assert [row[0] for row in rows] == [0, 1, 2] and rows[0][2].key == target.task.key
    with pytest.raises(TargetError, match=r"no columns \['nope'\]"):
        target.get_query(["nope"])


def test_copy_from_shares_the_product(store) -> None:
    pipeline = fake_pipeline(store)
    stack = bead_stack(3)
    pipeline.process(stack)
    source = DatabaseTarget(SpotFit, pipeline.task_for(stack), store)
    copy = DatabaseTarget(SpotFit, Task("bead_fwhm_copy", {"from": source.task.key}), store)
    with pytest.raises(TargetError, match="not complete"):
        DatabaseTarget(SpotFit, Task("elsewhere"), store).copy_from(copy)
    assert copy.copy_from(source) is True and copy.exists()
    assert [row.fwhm_x for row in copy.read()] == [row.fwhm_x for row in source.read()]
    assert copy.copy_from(source) is False
    assert counts(store)["product"] == 1
    with store.session() as session:
        lineage = session.execute(select(RunInput).where(RunInput.role == "copy_of")).scalar_one()
        assert lineage.product_id == session.execute(select(Product.id)).scalar_one()
    single = DatabaseTarget(SpotFit, Task("one_row"), store)
    assert single.copy_from(source.read()[1]) and [row.spot for row in single.read()] == [1]


def test_failures_are_recorded_and_never_downgrade(store) -> None:
    pipeline = fake_pipeline(store)
    cube = bead_stack(4)
    pipeline.analyse = lambda stack, parameters: (_ for _ in ()).throw(TargetError("no beads in a cube"))
    outcome = pipeline.process(cube)
    assert outcome.status == "failed" and "no beads" in outcome.error
    with store.session() as session:
        run = session.execute(select(TaskRun)).scalar_one()
        assert run.status == "failed" and run.error == "TargetError: no beads in a cube"
    assert counts(store)["product"] == 0 and not list(store.root.rglob("*.fits"))
    assert fake_pipeline(store).process(cube).status == "written"  # the re-run completes it
    from specpy.targets import record_failure

    record_failure(store, pipeline.task_for(cube), "late error")
    assert complete(store, pipeline.task_for(cube))


def test_a_vanished_product_is_refused(store) -> None:
    from specpy.targets import AstraSource
    from specpy.targets.pipeline import poisson_ivar

    stack = bead_stack(5)
    pipeline = fake_pipeline(store)
    task = pipeline.task_for(stack)
    analysis = pipeline.analyse(stack, {})
    written = AstraSource(task, store.root).write(stack, stack.data(), poisson_ivar(stack.data()), analysis.background,
                                                   analysis.model, analysis.model, analysis.spots)
    written.path.unlink()
    with pytest.raises(ProductError, match="vanished"):
        record_outputs(store, task, {SpotFit: []}, written)
    assert counts(store)["task_run"] == 0


def test_db_check_finds_and_repairs(store) -> None:
    pipeline = fake_pipeline(store)
    stacks = [bead_stack(seed) for seed in range(4)]
    pipeline.run(stacks)
    assert check(store) == []
    tasks = [pipeline.task_for(stack) for stack in stacks]
    products = {task.key: store.root / "bead_fwhm" / task.key[:2] / f"bead_fwhm-{task.key}.fits" for task in tasks}
    # a corrupted file (same size), a missing file, an orphan, a temporary file
    corrupt = products[tasks[0].key]
    data = bytearray(corrupt.read_bytes())
    data[-100] ^= 0x01
    corrupt.write_bytes(bytes(data))
    products[tasks[1].key].unlink()
    orphan = store.root / "bead_fwhm" / "zz" / "bead_fwhm-orphan.fits"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"SIMPLE")
    temporary = corrupt.with_name(f".{corrupt.name}.tmp-0123456789ab")
    temporary.write_bytes(b"half")
    assert not DatabaseTarget(SpotFit, tasks[0], store).exists()
    assert DatabaseTarget(SpotFit, tasks[0], store).exists(verify_hash=False)  # same size: only the hash tells
    findings = check(store)
    relative = {kind: {f.path for f in findings if f.kind == kind} for kind in ("mismatch", "missing", "orphan", "temporary")}
    assert len(findings) == 4
    assert relative == {"mismatch": {str(corrupt.relative_to(store.root))}, "missing": {str(products[tasks[1].key].relative_to(store.root))},
                        "orphan": {str(orphan.relative_to(store.root))}, "temporary": {str(temporary.relative_to(store.root))}}
    actions = repair(store, findings)
    assert len(actions) == 5 and check(store) == []
    assert (store.root / QUARANTINE / orphan.relative_to(store.root)).exists()
    assert not complete(store, tasks[0]) and not complete(store, tasks[1])
    assert {outcome.status for outcome in pipeline.run(stacks)} == {"written", "complete"}
    assert all(assert_consistent(store, tasks).values()) and check(store) == []
