"""connect_rig: a simulated rig file starts the simulator as a subprocess and a driver-level script runs on
it; the same file with simulated = false and resources drives 'real' instruments; problems are located."""

import numpy as np
import pytest

from drivers.rig import ROLES, connect_rig, default_rig_path
from drivers.rigconfig import RigConfigError, load_rig, parse_rig
from specpy.errors import ValidationError


def test_a_driver_level_script_on_the_default_simulated_rig():
    with connect_rig(default_rig_path()) as rig:
        assert set(rig.roles()) == set(ROLES) and rig.simulator.running
        stage, scanner, counter = rig.by_role("stage"), rig.by_role("scanner"), rig.by_role("counter")
        excitation, sted, wheel = rig.by_role("excitation_laser"), rig.by_role("sted_laser"), rig.by_role("shutter_wheel")
        stage.move_to(x=2e-6, y=-1e-6, timeout=10.0)
        assert stage.position() == pytest.approx((2e-6, -1e-6, 0.0))
        scanner.configure(64, 64, 150e-9, 150e-9, 0.0, 0.0, 100e-6)
        wheel.select_filter(1)
        wheel.open_shutter()
        excitation.parameters.set("power", excitation.max_power() / 2)
        excitation.states.set("emission", True)
        excitation.wait_until_emitting(timeout=10.0)
        bright = counter.acquire_frame(scanner).astype(float)
        sted.parameters.set("power", 0.05)
        sted.states.set("emission", True)
        sted.wait_until_emitting(timeout=10.0)
        depleted = counter.acquire_frame(scanner).astype(float)
        wheel.close_shutter()
        closed = counter.acquire_frame(scanner).astype(float)
        wheel.open_shutter()
        excitation.states.set("emission", False)
        dark = counter.acquire_frame(scanner).astype(float)
        simulator = rig.simulator
    assert not simulator.running
    # Dark counts only (default detector: 50 counts/s) once the shutter is closed or the excitation is off.
    pixel_dark = 50.0 * 100e-6
    for frame in (closed, dark):
        assert frame.mean() < pixel_dark + 5 * np.sqrt(pixel_dark / frame.size)
    assert bright.mean() > 100 * max(closed.mean(), 1 / bright.size)
    assert bright.max() > depleted.max()  # STED narrows each emitter's image: less light per field


def test_same_file_with_real_resources_and_simulated_false(tmp_path, sim):
    addresses = sim.addresses()
    text = f'''
[rig]
name = "bench"
simulated = false

[devices.scan]
driver = "drivers.galvo_scanner:GalvoScanner"
resource = "{addresses['scanner']['resource']}"
role = "scanner"
simulator = "scanner"

[devices.pc]
driver = "drivers.photon_counter:PhotonCounter"
resource = "{addresses['counter']['resource']}"
role = "counter"

[devices.xyz]
driver = "drivers.asi_stage:AsiStage"
resource = "{addresses['stage']['path']}"
role = "stage"
'''
    path = tmp_path / "bench.toml"
    path.write_text(text)
    with connect_rig(path) as rig:
        assert rig.simulator is None and list(rig.devices) == ["scan", "pc", "xyz"]
        frame = rig.by_role("counter").acquire_frame(rig.by_role("scanner"))
        assert frame.shape == (64, 64)
        with pytest.raises(ValidationError, match="no device with role 'sted_laser'; roles: scanner, counter, stage"):
            rig.by_role("sted_laser")


def test_rig_problems_are_all_reported_with_lines():
    text = '''[rig]
simulated = "yes"

[devices.a]
driver = "drivers.asi_stage:AsiStage"
role = "stage"

[devices.b]
driver = "drivers.asi_stage:AsiStage"
resource = "/dev/ttyUSB1"
role = "stage"
'''
    with pytest.raises(RigConfigError) as caught:
        parse_rig(text, "bad.toml")
    problems = {(p.line, p.key): p.message for p in caught.value.problems}
    assert "must be true or false" in problems[(2, "rig.simulated")]
    assert "'resource' is missing" in problems[(4, "devices.a")]
    assert len(problems) == 2  # 'a' had a problem, so it claimed no role that 'b' could clash with


def test_a_simulated_rig_needs_no_resources_but_unique_roles():
    text = '''[rig]
simulated = true

[devices.one]
driver = "drivers.obis_laser:ObisLaser"
role = "sted_laser"

[devices.two]
driver = "drivers.obis_laser:ObisLaser"
role = "sted_laser"
'''
    with pytest.raises(RigConfigError) as caught:
        parse_rig(text, "roles.toml")
    assert [(p.line, p.key) for p in caught.value.problems] == [(10, "devices.two.role")]
    assert "'sted_laser' is already used by 'one'" in str(caught.value)
    rig = load_rig(default_rig_path())
    assert rig.simulated and all(d.resource is None for d in rig.devices.values())


def test_an_unknown_simulated_instrument_is_located_and_nothing_is_left_running(tmp_path):
    path = tmp_path / "odd.toml"
    path.write_text('''[rig]
simulated = true

[devices.camera]
driver = "drivers.galvo_scanner:GalvoScanner"
simulator = "camera"
''')
    with pytest.raises(RigConfigError, match=r"line 4 \[devices.camera.simulator\]: the simulator has no instrument"):
        connect_rig(path)
