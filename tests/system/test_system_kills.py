"""kill -9 of the service mid-step and of the broker: what the client is told, what the autosave and the
database keep, how fast everything reconnects, and that no command ever runs twice."""

from __future__ import annotations

import threading
import time

import pytest

from specpy import File
from specpy.remote.errors import RequestTimeout, ServiceLost, ServiceUnavailable
from specpy.targets import Database, incomplete_runs, upgrade_database
from tests.remote.harness import eventually, run_past_steps

from .harness import HEARTBEAT, LIVENESS, SMALL_FIELD


def test_kill_9_of_the_service_mid_step_is_service_lost_and_the_autosave_and_database_keep_the_run(lab, tmp_path):
    url = f"sqlite:///{tmp_path / 'lab.db'}"
    upgrade_database(url)
    lab.start_broker()
    lab.start_service("--database", url)
    app = lab.connect(timeout=30)  # far longer than the heartbeat window: only the broker can say "lost"
    m = app.create_measurement()
    m.set_parameters("", SMALL_FIELD)
    m.set_parameters("", {"steps": {"time_points": 500, "interval": 0.02}})
    path = m.path()
    runner, outcome, hook = run_past_steps(app, m, 5)
    lab.services[-1].kill()  # kill -9, between or inside a step
    runner.join(HEARTBEAT * LIVENESS + 5)  # the broker declares the worker dead after LIVENESS heartbeats
    assert not runner.is_alive()
    assert isinstance(outcome[0], ServiceLost) and "was lost" in str(outcome[0])
    app.disconnect_end(hook, 1)

    lab.start_service("--database", url)
    completed = eventually(lambda: app.open(path))  # the restarted service reads the killed one's autosave
    with File(path, File.Read) as f:
        written = f.read(0).meta_data()["samples_written"] // (16 * 16)
    assert 5 <= written < 500
    frames = completed.stack(0).data().reshape(500, -1)
    assert all(frames[t].sum() > 0 for t in range(written))  # every completed step is there ...
    assert not frames[written:].any()  # ... and nothing else
    database = Database(url, root=tmp_path / "products")
    try:
        (run,) = incomplete_runs(database)
        assert run["file"] == path and run["measurement"] == "Measurement 1"
    finally:
        database.close()


def test_kill_9_of_the_broker_everything_reconnects_and_no_command_runs_twice(lab):
    lab.start_broker()
    lab.start_service()
    app = lab.connect(timeout=1.0)
    ends = []
    app.connect_end(lambda: ends.append(1), 0)
    created, uncertain = [], 0
    stop = threading.Event()

    def create_forever() -> None:  # create_measurement is not idempotent: never resent
        nonlocal uncertain
        while not stop.is_set():
            try:
                created.append(app.create_measurement())  # the proxy only: no second request to miss
            except RequestTimeout:
                uncertain += 1  # it may or may not have run, once
            except ServiceUnavailable:
                time.sleep(0.01)

    creator = threading.Thread(target=create_forever)
    creator.start()
    try:
        time.sleep(0.3)
        lab.broker.kill()
        time.sleep(HEARTBEAT * LIVENESS)  # long enough for every side to notice the loss
        lab.start_broker()
        assert eventually(app.version, timeout=3.0)  # clients and the service are back within 3 s
        before = len(created)
        deadline = time.monotonic() + 3.0
        while len(created) == before:
            assert time.monotonic() < deadline, "no command got through within 3 s of the restart"
            time.sleep(0.01)
    finally:
        stop.set()
        creator.join(30)
    names = app.measurement_names()
    created = [m.name() for m in created]
    assert len(set(created)) == len(created)  # every reply names a new measurement
    assert set(created) <= set(names)
    assert len(created) <= len(names) <= len(created) + uncertain  # nothing ran twice
    assert names == [f"Measurement {n}" for n in range(1, len(names) + 1)]
    m = app.measurement(names[-1])
    m.set_parameters("", SMALL_FIELD)
    assert app.run(m) == 0
    assert ends == [1]  # the event thread found the new broker
