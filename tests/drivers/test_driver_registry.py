"""Plug-ins: drivers found through the `specpy.drivers` entry-point group or a dotted path; a broken entry
point is reported beside the working ones; `specpy drivers` lists them with their resource kinds."""

import importlib
import os
import subprocess
import sys
import textwrap

import pytest

from drivers.registry import DriverNotFound, format_listing, installed_drivers, load_driver
from drivers.scpi import ScpiInstrument

from .conftest import LoopbackLaser

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """A real installed distribution (a .dist-info on sys.path) declaring a good, a broken and a wrong entry point."""
    (tmp_path / "lab_plugins.py").write_text(textwrap.dedent('''
        from drivers.scpi import ScpiInstrument

        class Shutter(ScpiInstrument):
            """A shutter controller."""

            RESOURCE_KINDS = ("serial",)

        NOT_A_DRIVER = 42
    '''))
    (tmp_path / "lab_broken.py").write_text("import a_module_that_does_not_exist\n")
    info = tmp_path / "lab_plugins-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: lab-plugins\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(textwrap.dedent("""
        [specpy.drivers]
        lab-shutter = lab_plugins:Shutter
        lab-broken = lab_broken:Thing
        lab-number = lab_plugins:NOT_A_DRIVER
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    for name in ("lab_plugins", "lab_broken"):
        sys.modules.pop(name, None)


def test_entry_points_load_and_broken_ones_are_reported_not_raised(plugins):
    drivers, problems = installed_drivers()
    found = {d.name: d for d in drivers}
    assert found["lab-shutter"].cls.__name__ == "Shutter"
    assert found["lab-shutter"].resource_kinds == ("serial",)
    assert found["lab-shutter"].description == "A shutter controller."
    reasons = {p.name: p.error for p in problems}
    assert "ModuleNotFoundError" in reasons["lab-broken"] and "a_module_that_does_not_exist" in reasons["lab-broken"]
    assert "42, not a Driver subclass" in reasons["lab-number"]
    listing = format_listing(drivers, problems)
    assert "lab-shutter" in listing and "serial" in listing and "lab_plugins:Shutter" in listing
    assert "2 entry point(s) could not be loaded" in listing


def test_load_by_entry_point_name_or_dotted_path(plugins):
    assert load_driver("lab-shutter").__name__ == "Shutter"
    assert load_driver("tests.drivers.conftest:LoopbackLaser") is LoopbackLaser
    assert load_driver("tests.drivers.conftest.LoopbackLaser") is LoopbackLaser
    assert load_driver("drivers.scpi:ScpiInstrument") is ScpiInstrument


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("lab-shuter", "did you mean lab-shutter"),
        ("lab-broken", "failed to import"),
        ("no_such_module:Driver", "cannot import module 'no_such_module'"),
        ("drivers.scpi:Nope", "has no 'Nope'"),
        ("drivers.base:Health", "not a Driver subclass"),
        ("", "entry-point name or a dotted path"),
    ],
)
def test_unknown_or_unusable_drivers_are_clear_errors(plugins, spec, fragment):
    with pytest.raises(DriverNotFound, match=fragment):
        load_driver(spec)


def run_cli(*args, extra_path=""):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (extra_path, ROOT) if p))
    return subprocess.run(
        [sys.executable, "-m", "specpy.cli", *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def test_cli_lists_plugins_and_reports_the_broken_ones(plugins):
    result = run_cli("drivers", extra_path=str(plugins))
    assert result.returncode == 0, result.stderr
    assert "lab-shutter" in result.stdout and "A shutter controller." in result.stdout
    assert "lab-broken (lab_broken:Thing): ModuleNotFoundError" in result.stdout


def test_cli_lists_the_builtin_drivers():
    result = run_cli("drivers")
    assert result.returncode == 0, result.stderr
    line = next((line for line in result.stdout.splitlines() if line.startswith("scpi ")), None)
    assert line is not None, f"the built-in 'scpi' driver is not registered:\n{result.stdout}"
    assert "visa, serial" in line and "drivers.scpi:ScpiInstrument" in line
