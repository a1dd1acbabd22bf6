"""The demo's parts without a rig: the rig file and its truth, the plan, progress, per-plane bead analysis."""

import io
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import numpy as np
import pytest

from drivers.rig import default_rig_path
from drivers.rigconfig import load_rig
from specpy import Stack, ValidationError
from specpy.demo.acquisition import Plan, power_name
from specpy.demo.progress import FITTED, Progress
from specpy.demo.records import analysis_parameters
from specpy.demo.rig import SampleLayout, read_truth, toml_text, write_rig
from specpy.targets import TargetError
from specpy.targets.analysis import analyse_beads, outer_axes


def test_rig_file_is_a_valid_rig_and_carries_the_truth(tmp_path):
    layout = SampleLayout(grid=3, radius=10e-9)
    path = write_rig(tmp_path / "rig.toml", default_rig_path(), seed=5, layout=layout, d0=300e-9, psat=8e-3)
    rig = load_rig(path)
    assert rig.simulated and set(rig.devices) == set(load_rig(default_rig_path()).devices)
    truth = read_truth(path)
    assert (truth.d0, truth.psat, truth.bead_radius, truth.beads) == (300e-9, 8e-3, 10e-9, 9)
    assert truth.bead_fwhm == pytest.approx(2.3548 * 10e-9 / np.sqrt(5), rel=1e-4)
    with open(path, "rb") as handle:
        rows = tomllib.load(handle)["simulation"]["sample"]["emitter"]
    assert np.allclose([[r["x"], r["y"], r["z"]] for r in rows], layout.positions(5))
    assert not np.allclose(layout.positions(5), layout.positions(6))  # the seed places the beads


def test_toml_text_round_trips_nested_tables_and_refuses_the_unwritable():
    table = {"a": 1, "b": {"c": "x\"y", "d": [1.5, 2.5], "e": True}, "rows": [{"x": 1.0}, {"x": 2.0}]}
    assert tomllib.loads(toml_text(table)) == table
    with pytest.raises(ValidationError, match="TOML"):
        toml_text({"a": None})


def test_truth_needs_explicit_beads_of_one_size(tmp_path):
    path = tmp_path / "rig.toml"
    path.write_text("[simulation.sample]\nbeads = 3\n")
    with pytest.raises(ValidationError, match="explicit beads"):
        read_truth(path)
    path.write_text("[[simulation.sample.emitter]]\nbrightness = 1.0\nradius = 1e-9\n"
                    "[[simulation.sample.emitter]]\nbrightness = 1.0\nradius = 2e-9\n")
    with pytest.raises(ValidationError, match="one radius"):
        read_truth(path)


def test_plan_refuses_what_cannot_give_a_sted_law():
    with pytest.raises(ValidationError, match="3 distinct powers"):
        Plan(powers=(0.0, 1e-3, 1e-3))
    with pytest.raises(ValidationError, match="time_points"):
        Plan(time_points=0)
    frame = Plan().frame(0.0)
    assert frame["channels"]["sted"] == {"enabled": False, "power": 0.0}
    assert frame["scan"]["axes"] == "xyz" and frame["scan"]["z"]["offset"] == 0.0  # focus set by every measurement
    assert power_name(0.0) == "confocal" and power_name(2.5e-3) == "STED 2.5 mW"
    assert analysis_parameters(Plan(pixel=25e-9))["roi"] == 21  # about twice the confocal FWHM in pixels


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_rewrites_one_line_on_a_terminal_and_is_quiet_elsewhere():
    quiet = io.StringIO()
    progress = Progress(quiet)
    progress.stage("frames", 2)
    progress.advance()
    progress.finish()
    assert not progress.enabled and quiet.getvalue() == ""
    terminal = Terminal()
    progress = Progress(terminal)
    progress.stage("the z-stack", 3)
    progress.advance()
    progress.advance(FITTED, 5)  # never beyond the total
    assert progress.line().endswith("the z-stack: 1/3 frames acquired, 3/3 fitted")
    progress.finish()
    text = terminal.getvalue()
    assert "\n" not in text and text.count("\r") >= 4 and text.endswith("\r")


def bead_stack(planes_z: int, planes_t: int, seed: int = 3) -> tuple[Stack, list[tuple[float, float]]]:
    """Gaussian beads (FWHM 6 px) on a 48 x 40 field, repeated over z and t with Poisson noise."""
    rng = np.random.default_rng(seed)
    centres = [(12.3, 10.7), (33.6, 28.2)]
    y, x = np.mgrid[0:40, 0:48]
    sigma = 6 / 2.3548
    image = 2.0 + sum(300 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2)) for cx, cy in centres)
    stack = Stack(np.uint32, [48, 40, planes_z, planes_t])
    stack.data()[...] = rng.poisson(np.broadcast_to(image, stack.data().shape))
    stack.set_labels(["x", "y", "z", "t"])
    return stack, centres


@pytest.mark.parametrize("planes_z, planes_t, columns", [(3, 1, ["z_index"]), (1, 2, ["t_index"]), (2, 2, ["z_index", "t_index"])])
def test_bead_analysis_fits_every_plane(planes_z, planes_t, columns):
    stack, centres = bead_stack(planes_z, planes_t)
    analysis = analyse_beads(stack, {"roi": 13})
    spots = analysis.spots
    assert len(spots) == 2 * planes_z * planes_t
    assert sorted(set(spots["plane"])) == list(range(planes_z * planes_t))
    assert all(name in spots.colnames for name in columns)
    for plane in range(planes_z * planes_t):
        here = spots[spots["plane"] == plane]
        assert sorted(zip(np.round(here["x"]), np.round(here["y"]))) == [(12, 11), (34, 28)]
    assert np.allclose(0.5 * (spots["fwhm_x"] + spots["fwhm_y"]), 6.0, rtol=0.1)
    assert analysis.model.shape == stack.data().shape == analysis.background.shape
    assert analysis.summary_row(0, "image")["spots"] == len(spots)


def test_bead_analysis_keeps_2d_images_on_any_two_axes_and_refuses_planes_without_x_y():
    stack = Stack(np.uint32, [48, 1, 40])
    assert outer_axes(stack) == ()
    with pytest.raises(TargetError, match="x-y"):
        outer_axes(Stack(np.uint32, [48, 1, 4, 5]))


def test_demo_without_matplotlib_says_what_to_install_before_starting(tmp_path, monkeypatch):
    from specpy.demo import DemoOptions, run_demo
    from specpy.demo.report import ReportUnavailableError

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ReportUnavailableError, match=r"\[plot\]"):
        run_demo(DemoOptions(out=tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_demo_options_refuse_nonsense():
    from specpy.demo import DemoOptions

    with pytest.raises(ValidationError, match="seed"):
        DemoOptions(seed=-1)
    with pytest.raises(ValidationError, match="tolerance"):
        DemoOptions(tolerance=5)
