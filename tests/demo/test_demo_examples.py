"""Every script in examples/ runs on the simulated rig, in its own process, and writes where it is told."""

from __future__ import annotations

from pathlib import Path


from specpy import File
from specpy.demo.service import loopback_service

from .conftest import REPO, run_process, user_environment

EXAMPLES = REPO / "examples"


def run_example(name: str, tmp_path: Path, *arguments: str):
    result = run_process([str(EXAMPLES / name), *arguments], user_environment(tmp_path), tmp_path)
    assert result.returncode == 0, f"{name}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result


def test_every_example_is_tested():
    scripts = {path.name for path in EXAMPLES.glob("*.py") if path.name != "example_output.py"}
    assert scripts == {"confocal_frame.py", "z_stack_focus.py", "sted_power_series.py", "fit_saved_file.py",
                       "remote_acquisition.py"}


def test_confocal_frame_then_fit_of_the_saved_file(tmp_path):
    out = tmp_path / "out"
    run_example("confocal_frame.py", tmp_path, str(out))
    with File(out / "confocal_frame.obf", File.Read) as f:
        assert f.read(0).shape() == [128, 128, 1, 1]
    result = run_example("fit_saved_file.py", tmp_path, str(out / "confocal_frame.obf"), str(out))
    assert "converged" in result.stdout
    from astropy.table import Table

    table = Table.read(out / "confocal_frame_spots.ecsv")
    assert len(table) > 3 and {"x", "y", "fwhm_x", "fwhm_y", "status", "plane"} <= set(table.colnames)


def test_fit_saved_file_without_a_file_says_how_to_use_it(tmp_path):
    result = run_process([str(EXAMPLES / "fit_saved_file.py")], user_environment(tmp_path), tmp_path)
    assert result.returncode != 0 and "FILE [OUT_DIR]" in result.stderr


def test_z_stack_focus_finds_the_focus_with_step_callbacks(tmp_path):
    result = run_example("z_stack_focus.py", tmp_path, str(tmp_path / "out"))
    assert result.stdout.count("step ") == 9
    assert "brightest frame at z = +0.00 um" in result.stdout
    with File(tmp_path / "out" / "z_stack_focus.obf", File.Read) as f:
        assert f.read(0).shape() == [80, 80, 1, 9]


def test_sted_power_series_sharpens_with_power(tmp_path):
    env = user_environment(tmp_path)
    env["SPECPY_EXAMPLES_OUT"] = str(tmp_path / "from-env")  # the output directory may also come from the environment
    result = run_process([str(EXAMPLES / "sted_power_series.py")], env, tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines() if line.strip()[:1].isdigit()]
    widths = [float(row[2]) for row in rows]
    assert len(widths) == 4 and widths == sorted(widths, reverse=True)
    assert (tmp_path / "from-env" / "sted_power_series.obf").is_file()


def test_remote_acquisition_runs_through_a_service_on_spec_server_port(tmp_path):
    with loopback_service(None, tmp_path / "service") as service:  # the simulated rig, a free port
        env = user_environment(tmp_path)
        env["SPEC_SERVER_PORT"] = str(service.port)
        result = run_process([str(EXAMPLES / "remote_acquisition.py"), str(tmp_path / "out")], env, tmp_path)
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert service.process.returncode == 0  # stopped cleanly by SIGTERM
    assert "at 'localhost'" in result.stdout and result.stdout.count("  step ") == 3
    photons = [int(line.split()[-2]) for line in result.stdout.splitlines() if line.startswith("  step ")]
    assert photons[0] > photons[1] > photons[2] > 0  # each STED power set by the blocking step callback took effect
    with File(tmp_path / "out" / "remote_acquisition.obf", File.Read) as f:
        assert f.read(0).shape() == [64, 64, 1, 3]
