"""`specpy demo` end to end in its own process: the PNG, the recovered STED law, the records, the files.

One full run per mode: the default (the job through a `specpy serve` service the demo starts on
loopback, as the README's first command runs it) and `--local` (the same seed gives the same numbers).
"""

from __future__ import annotations

import json
import os

import pytest
from astropy.io import fits

from specpy import File
from specpy.targets import Database, bead_scans, products
from specpy.targets.models import SpotFit

from .conftest import run_process, user_environment

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One demo run (seed 1, the service mode) in a fresh output directory: (completed process, output directory, environment)."""
    directory = tmp_path_factory.mktemp("demo")
    env = user_environment(directory)
    result = run_process(["-m", "specpy.cli", "demo", "--out", str(directory / "out"), "--seed", "1"], env, directory)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result, directory / "out", env


def summary(out):
    return json.loads((out / "summary.json").read_text())


def test_the_report_is_a_png(demo):
    _, out, _ = demo
    data = (out / "specpy-demo.png").read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 20_000


def test_d0_and_psat_are_recovered_within_5_percent_of_the_rig_files_truth(demo):
    result, out, _ = demo
    facts = summary(out)
    rig = (out / "rig.toml").read_text()
    assert "d0 = 2.5e-07" in rig and "psat = 0.005" in rig  # the truth the simulator was given
    assert facts["truth"]["d0"] == 2.5e-07 and facts["truth"]["psat"] == 0.005
    assert abs(facts["fit"]["d0"] / 2.5e-07 - 1) < 0.05
    assert abs(facts["fit"]["psat"] / 0.005 - 1) < 0.05
    assert facts["within_tolerance"] is True
    powers = [row["power"] for row in facts["sted_series"]]
    assert len(powers) >= 6 and powers[0] == 0 and max(powers) >= 5 * facts["truth"]["psat"]
    assert all(row["beads"] >= 10 for row in facts["sted_series"])
    widths = [row["fwhm"] for row in facts["sted_series"]]
    assert widths == sorted(widths, reverse=True)  # more STED, sharper
    # the printed table says the same
    assert f"{facts['fit']['d0'] * 1e9:.1f}" in result.stdout and f"{facts['fit']['psat'] * 1e3:.2f}" in result.stdout
    assert "within 5% of the simulator's truth" in result.stdout


def test_the_z_stack_and_time_series_are_fitted_plane_by_plane(demo):
    _, out, _ = demo
    facts = summary(out)
    z = facts["z_stack"]
    focus = max(z, key=lambda row: row["counts"])
    assert len(z) >= 5 and focus["z"] == 0.0 and focus["beads"] >= 10
    assert z[0]["counts"] < focus["counts"] / 10 and z[-1]["counts"] < focus["counts"] / 10
    assert len(facts["time_series"]) >= 3 and all(row["beads"] >= 10 for row in facts["time_series"])


def test_output_names_every_file_and_the_files_are_there(demo):
    result, out, _ = demo
    files = summary(out)["files"]
    for name in ("sted_series", "z_stack", "time_series", "database", "products", "report", "summary", "rig"):
        assert files[name] in result.stdout, name
    with File(files["sted_series"], File.Read) as f:
        assert f.number_of_stacks() == 6
        assert [f.read(i).shape() for i in range(6)] == [[128, 128, 1, 1]] * 6
    with File(files["z_stack"], File.Read) as f:
        assert f.read(0).shape() == [128, 128, 9, 1]
    with File(files["time_series"], File.Read) as f:
        assert f.read(0).shape() == [128, 128, 1, 5]


def test_every_stack_is_recorded_as_rows_and_a_product(demo):
    _, out, _ = demo
    facts = summary(out)
    with Database(facts["database"]["url"], root=out / "products") as database:
        found = products(database)
        assert len(found) == 8 == facts["database"]["products"]  # 6 STED frames, the z-stack, the time series
        assert len(bead_scans(database)) == 8
        with database.session() as session:
            assert session.query(SpotFit).count() >= 6 * 10 + 5 * 10
        z_product = next(row for row in found if row["stack"].startswith("z-stack"))
        with fits.open(database.root / z_product["path"], checksum=True) as hdus:
            assert "z_index" in hdus["RESULTS"].columns.names


def test_db_check_finds_the_database_consistent(demo, tmp_path):
    _, out, env = demo
    url = summary(out)["database"]["url"]
    result = run_process(["-m", "specpy.cli", "db", "--url", url, "--root", str(out / "products"), "check"], env, tmp_path)
    assert result.returncode == 0 and "consistent" in result.stdout, result.stdout + result.stderr


def test_the_job_ran_through_the_service_which_was_stopped_cleanly(demo):
    result, out, _ = demo
    facts = summary(out)
    assert facts["application"]["mode"] == "service" and facts["application"]["host"].startswith("localhost:")
    log = (out / "service" / "specpy-serve.log").read_text()
    pid = int(log.split(" pid ")[1].split()[0])
    assert "specpy.remote" not in result.stderr  # the service's log goes to its file, not the demo's terminal
    assert "SIGTERM: stopping" in log and log.rstrip().endswith("stopped")
    assert "0 request(s) lost" in log
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone (and reaped by the demo)


def test_local_mode_gives_the_same_numbers_for_the_same_seed(demo, tmp_path):
    _, out, env = demo
    local = run_process(["-m", "specpy.cli", "demo", "--local", "--out", str(tmp_path / "local"), "--seed", "1"], env,
                        tmp_path)
    assert local.returncode == 0, local.stderr
    first, second = summary(out), summary(tmp_path / "local")
    assert second["application"] == {"mode": "local", "host": ""} and not (tmp_path / "local" / "service").exists()
    assert first["fit"] == second["fit"] and first["sted_series"] == second["sted_series"]
    assert second["within_tolerance"] is True
