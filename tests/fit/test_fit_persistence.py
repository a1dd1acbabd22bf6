"""Command logs replay bit for bit; saved sessions load in a fresh process; files cannot run code."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from specpy import Stack
from specpy.fit import SessionFileError, Session


def _build(line, spots):
    counts, _ = line(1, 7, norm=1500.0)
    windows, _, _ = spots(50, 800.0, 10.0, seed=8)
    s = Session()
    stack = Stack(counts[0].astype(np.uint16))
    stack.set_lengths([40 * 2e-9])
    s.data(stack, roi=(slice(2, 38),))
    s.com("gauss1d", label="line")
    s.com("const")
    s.par_range("line.fwhm", lower=1e-9, upper=1e-7)
    s.fit()
    t = Session()
    t.data(windows, batch_axes=0, stat="chi2", variance="gehrels")
    t.com("gauss2d")
    t.com("const")
    t.par_couple(1, 1, "fwhm_y", 1, 1, "fwhm_x", 1.0)
    t.par_expr("s1.c2.level", expression="0.01 * s1.c1.norm + 2")
    t.par_decouple(1, 2, "level")
    t.par_free(1, 2, "level")
    t.fit_stat("cstat")
    t.par_share(1, 1, "fwhm_x")
    t.fit()
    return s, t


def _values(session):
    return {session.mod.dotted(p): p.value.copy() for _, _, p in session.mod.parameters()}


def test_log_replay_is_bit_identical(tmp_path, line, spots):
    for original in _build(line, spots):
        path = tmp_path / "session.log"
        original.log_save(path)
        assert (tmp_path / "session.log.npz").exists()
        lines = path.read_text().splitlines()
        assert json.loads(lines[0])["format"] == "specpy.fit.log"
        replay = Session()
        replay.log_exe(path)
        a, b = _values(original), _values(replay)
        assert a.keys() == b.keys()
        for name in a:
            np.testing.assert_array_equal(a[name], b[name])
        assert replay.opt_fit.stat == original.opt_fit.stat
        for name in original.opt_fit.names:
            np.testing.assert_array_equal(replay.opt_fit.errors[name], original.opt_fit.errors[name])
        assert [c for c, _, _ in replay.logs.entries] == [c for c, _, _ in original.logs.entries]


def test_failed_calls_are_not_logged(line):
    counts, _ = line(1, 7)
    s = Session()
    s.data(counts[0])
    with pytest.raises(Exception):
        s.com("nosuch")
    assert [c for c, _, _ in s.logs.entries] == ["data_array"]


def test_save_and_load_in_a_fresh_process(tmp_path, line, spots):
    _, original = _build(line, spots)
    path = tmp_path / "state.json"
    original.save(path)
    script = textwrap.dedent(
        f"""
        import json, numpy as np
        from specpy.fit import Session
        s = Session.load({str(path)!r})
        out = {{name: p.value.tolist() for name, p in ((s.mod.dotted(p), p) for _, _, p in s.mod.parameters())}}
        before = s.opt_fit.stat
        log = [c for c, _, _ in s.logs.entries]
        again = s.fit().stat
        print(json.dumps({{"values": out, "stat": before, "refit": again, "links": list(s.par_table()["link"]), "log": log}}))
        """
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=root, timeout=120, check=True)
    loaded = json.loads(done.stdout)
    for name, value in _values(original).items():
        np.testing.assert_array_equal(np.array(loaded["values"][name]), value)
    assert loaded["stat"] == original.opt_fit.stat
    assert loaded["refit"] == pytest.approx(original.opt_fit.stat, abs=1e-6)
    assert loaded["links"] == list(original.par_table()["link"])
    assert loaded["log"] == [c for c, _, _ in original.logs.entries]


def test_load_restores_everything_in_process(tmp_path, line, spots):
    original, _ = _build(line, spots)
    original.save(tmp_path / "s.json")
    loaded = Session.load(tmp_path / "s.json")
    assert loaded.dataset.get(1).units == original.dataset.get(1).units
    np.testing.assert_array_equal(loaded.asc.model(1), original.asc.model(1))
    assert loaded.mod.by_name("line.fwhm").upper == 1e-7
    assert loaded.calc().stat == original.calc().stat


@pytest.mark.parametrize(
    "content, fragment",
    [
        ('{"format": "something else", "version": 1}\n', "not a specpy.fit.log file"),
        ('{"format": "specpy.fit.log", "version": 99}\n', "version 99 is not supported"),
        ('{"format": "specpy.fit.log", "version": 1}\n{"cmd": "__init__", "args": []}\n', "unknown command '__init__'"),
        ('{"format": "specpy.fit.log", "version": 1}\n{"cmd": "par", "args": [{"__pickle__": "x"}]}\n', "unknown tagged value"),
        ("not json at all\n", "cannot read it"),
    ],
)
def test_bad_log_files_are_refused(tmp_path, content, fragment):
    path = tmp_path / "bad.log"
    path.write_text(content)
    with pytest.raises(SessionFileError, match=fragment):
        Session().log_exe(path)


def test_arrays_are_never_unpickled(tmp_path):
    path = tmp_path / "evil.log"
    path.write_text('{"format": "specpy.fit.log", "version": 1}\n{"cmd": "par", "args": [{"__array__": "a0"}]}\n')
    np.save(tmp_path / "payload.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "payload.npy").rename(tmp_path / "a0.npy")
    import zipfile

    with zipfile.ZipFile(tmp_path / "evil.log.npz", "w") as z:
        z.write(tmp_path / "a0.npy", "a0.npy")
    with pytest.raises(SessionFileError, match="cannot read the arrays"):
        Session().log_exe(path)


def test_session_file_is_not_a_log(tmp_path, line):
    counts, _ = line(1, 7)
    s = Session()
    s.data(counts[0])
    s.save(tmp_path / "s.json")
    with pytest.raises(SessionFileError, match="not a specpy.fit.log file"):
        Session().log_exe(tmp_path / "s.json")


def test_data_set_shares_the_logs_private_copy():
    """data() keeps one read-only copy of the input, used by both the data set and the log; later edits by the caller change neither."""
    counts = np.random.default_rng(3).poisson(5.0, (4, 6, 6)).astype(float)
    s = Session()
    s.data(counts, batch_axes=0)
    ds = s.dataset.get(1)
    logged = s.logs.entries[0][1][0]
    assert np.shares_memory(ds.counts, logged) and not np.shares_memory(ds.counts, counts)
    assert not ds.counts.flags.writeable and not logged.flags.writeable
    original = counts.copy()
    counts[:] = -1.0
    np.testing.assert_array_equal(ds.counts, original)
    np.testing.assert_array_equal(logged, original)


def test_a_dropped_session_is_freed_without_the_garbage_collector():
    """No reference cycle keeps a session's arrays alive until the next collection."""
    import gc
    import weakref

    counts = np.random.default_rng(4).poisson(20.0, (8, 7, 7)).astype(float)
    gc.disable()
    try:
        s = Session(workers=1)
        s.data(counts, batch_axes=0)
        s.com("gauss2d")
        s.com("const")
        s.fit()
        s.asc.table()
        ref = weakref.ref(s)
        del s
        assert ref() is None
    finally:
        gc.enable()
