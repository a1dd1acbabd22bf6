"""The Driver base: declarations checked at class creation, connect/identify/refresh, validated writes that
never let a bad value reach the instrument, device errors, re-applied settings after a reconnect, health."""

import time

import astropy.units as u
import numpy as np
import pytest

from drivers import Control, DeviceDisconnected, DeviceError, Driver, TransportError
from drivers.scpi import ScpiInstrument
from specpy.errors import ValidationError
from specpy.tree import Array, Bool, Enum, Float, Int, PartialSetError, Str

from .conftest import LoopbackLaser
from .loopback import IDN


@pytest.fixture
def laser(server):
    driver = LoopbackLaser(server.resource, name="laser", timeout=0.5).connect()
    yield driver
    driver.close()


def test_connect_identifies_and_reads_every_value(laser):
    assert laser.identity == IDN
    assert laser.parameters.get() == {"power": 0.0, "mode": "cw", "frequency": 1000.0}
    assert laser.states.get() == {"emission": False, "temperature": 295.5, "wavelength": 6.4e-07}


def test_sets_are_validated_converted_and_sent_in_si(laser, server):
    laser.parameters.set("power", 25 * u.mW)
    laser.parameters.set("mode", "pulsed")
    laser.states.set("emission", True)
    assert server.instrument.values["SOUR:POW"] == "0.025"
    assert server.instrument.values["MODE"] == "PULS" and server.instrument.values["OUTP"] == "1"
    assert laser.parameters.read("") == {"power": 0.025, "mode": "pulsed", "frequency": 1000.0}


def test_a_bad_value_never_reaches_the_instrument(laser, server):
    before = list(server.instrument.log)
    for path, value in [("power", 0.6), ("power", 1 * u.m), ("mode", "burst"), ("power", "high")]:
        with pytest.raises(ValidationError) as caught:
            laser.parameters.set(path, value)
        assert caught.value.path == path
    with pytest.raises(ValidationError, match="temperature is read-only"):
        laser.states.set("temperature", 300.0)
    with pytest.raises(ValidationError, match="nothing was set; 2 problem"):
        laser.parameters.set("", {"power": 0.1, "mode": "burst", "frequency": -1.0})
    assert server.instrument.log == before
    assert laser.parameters.get("power") == 0.0


def test_an_instrument_refusal_is_a_device_error_and_the_cache_keeps_the_old_value(laser):
    with pytest.raises(DeviceError) as caught:
        laser.parameters.set("frequency", 5e6)
    assert caught.value.code == -222 and caught.value.command == "FREQ 5000000.0"
    assert "laser: instrument error -222 'Data out of range' after 'FREQ 5000000.0'" == str(caught.value)
    assert laser.parameters.get("frequency") == 1000.0


def test_a_multi_set_refused_part_way_by_the_instrument_says_what_was_applied(laser):
    with pytest.raises(PartialSetError) as caught:
        laser.parameters.set("", {"power": 0.2, "frequency": 2e6, "mode": "pulsed"})
    assert caught.value.applied == ["power"] and caught.value.failed == "frequency"
    assert caught.value.pending == ["mode"] and isinstance(caught.value.cause, DeviceError)
    assert laser.parameters.read("") == {"power": 0.2, "mode": "cw", "frequency": 1000.0}


def test_settings_are_reapplied_in_order_after_the_instrument_drops_the_connection(server):
    laser = LoopbackLaser(server.resource, name="laser", timeout=0.3).connect()
    try:
        laser.parameters.set("frequency", 2500.0)
        laser.parameters.set("power", 0.3)
        laser.parameters.set("frequency", 4000.0)  # re-set: moves to the end of the replay order
        laser.states.set("emission", True)  # a switch: deliberately not re-applied
        server.drop_clients()
        server.instrument.reset()  # as after a power cycle
        with pytest.raises(DeviceDisconnected):
            laser.states.read("temperature")
        mark = len(server.instrument.log)
        deadline = time.monotonic() + 2.0
        while True:
            try:
                assert laser.parameters.read("power") == 0.3
                break
            except DeviceDisconnected:
                assert time.monotonic() < deadline, "no reconnect within 2 s"
                time.sleep(0.01)
        sent = [line for line in server.instrument.log[mark:] if not line.startswith("SYST:ERR?")]
        assert sent[:3] == ["SOUR:POW 0.3", "FREQ 4000.0", "SOUR:POW?"]
        assert server.instrument.values["OUTP"] == "0"
        assert laser.health().reconnects == 1
    finally:
        laser.close()


def test_health_reports_problems_without_raising(server):
    laser = LoopbackLaser(server.resource, name="laser", timeout=0.3, check_errors=False).connect()
    try:
        assert laser.health().ok
        laser.parameters.set("frequency", 9e6)  # refused by the instrument, unnoticed with check_errors off
        health = laser.health()
        assert not health.ok and health.problems == ("instrument error -222 'Data out of range'",)
        assert laser.health().ok  # the queue was drained by the first report
        server.close()
        health = laser.health()
        assert not health.ok and "*IDN?" in health.problems[0]
    finally:
        laser.close()
    assert not LoopbackLaser(server.resource).health().ok


def test_using_a_driver_before_connect_is_a_typed_error(server):
    laser = LoopbackLaser(server.resource, name="idle")
    with pytest.raises(DeviceDisconnected, match="idle is not connected"):
        laser.parameters.set("power", 0.1)
    assert laser.parameters.get("power") is None


def test_options_and_resources_are_checked_with_clear_messages(server):
    with pytest.raises(ValidationError, match=r"unknown option for LoopbackLaser 'timout'; did you mean 'timeout'"):
        LoopbackLaser(server.resource, timout=1)
    with pytest.raises(ValidationError, match="timeout: 700 is out of range"):
        LoopbackLaser(server.resource, timeout=700)
    assert LoopbackLaser(server.resource, timeout="250 ms").options["timeout"] == pytest.approx(0.25)

    class SerialOnly(ScpiInstrument):
        """Talks over serial only."""

        RESOURCE_KINDS = ("serial",)

    with pytest.raises(ValidationError, match=r"SerialOnly talks over serial; .* is a visa resource"):
        SerialOnly(server.resource)


def test_special_methods_formats_scale_and_binary_arrays(server):
    class Special(Driver):
        """Exercises the less common Control features."""

        def _read_power_mw(self):
            return float(self.transport.query("SOUR:POW?")) * 1e-3

        def _set_label(self, value):
            self.transport.write(f"VAL {value.upper()}")

        PARAMETERS = {
            "power_mw": Control(Float(unit="W", min=0, max=1e-3), get="SOUR:POW?", set="SOUR:POW {}", scale=1e-3),
            "label": Control(Str(), get="VAL?", set=_set_label),
            "on": Control(Bool(), get="OUTP?", set="OUTP {}", format=lambda on: "ON" if on else "OFF"),
        }
        STATES = {
            "trace": Control(Array(unit="V", read_only=True), get="DATA? 4", binary="<f8", scale=2.0),
            "power_via_method": Control(Float(unit="W", read_only=True), get=_read_power_mw),
        }

    with Special(server.resource, timeout=0.5) as driver:
        # Without an error check a write returns before the instrument has read it; each read-back
        # below is a round trip on the same connection, so the instrument has handled the write by then.
        driver.parameters.set("power_mw", 0.5 * u.mW)
        assert driver.parameters.read("power_mw") == pytest.approx(0.5e-3)
        assert server.instrument.values["SOUR:POW"] == "0.5"  # the wire unit is mW
        assert driver.states.read("power_via_method") == pytest.approx(0.5e-3)
        driver.parameters.set("label", "abc")
        assert driver.parameters.read("label") == "ABC"
        driver.parameters.set("on", True)
        assert driver.parameters.read("on") is True and server.instrument.values["OUTP"] == "ON"
        np.testing.assert_array_equal(driver.states.get("trace"), [0.0, 1.0, 2.0, 3.0])


def test_a_reply_that_does_not_parse_is_a_transport_error_naming_the_query(server):
    class Confused(Driver):
        """Reads a word where a number is expected."""

        STATES = {"level": Control(Float(read_only=True), get="MODE?")}

    driver = Confused(server.resource, timeout=0.5)
    with pytest.raises(TransportError, match=r"during 'MODE\?': reply 'CW' cannot be read"):
        driver.connect()
    driver.close()


@pytest.mark.parametrize(
    "declare, fragment",
    [
        (lambda: {"x": Control(Float(), get="X?")}, "without a set command must have a read-only leaf"),
        (lambda: {"x": Control(Float(read_only=True), get="X?", set="X {}")}, "takes no set command"),
        (lambda: {"x": Control(Float(), get="X?", set="X")}, "exactly one '{}'"),
        (lambda: {"x": Control(Float(), get="X?", set="X {} {}")}, "exactly one '{}'"),
        (lambda: {"x": Control(Enum(["a"]), get="X?", set="X {}", wire={"b": "B"})}, "'b' is not a choice"),
        (lambda: {"x": Control(Str(), get="X?", set="X {}", scale=2.0)}, "for numeric leaves only"),
        (lambda: {"x": Float()}, "Bad.PARAMETERS: 'x': expected a Control or a dict of them"),
        (lambda: {"x": Control(Int(read_only=True))}, "needs a get query, a set command, or both"),
    ],
)
def test_bad_declarations_fail_when_the_class_is_made(declare, fragment):
    with pytest.raises((TypeError, ValidationError), match=fragment):
        type("Bad", (Driver,), {"PARAMETERS": declare()})


def test_declarations_are_inherited_and_extended():
    class Base(Driver):
        """Base."""

        PARAMETERS = {"a": Control(Float(), get="A?", set="A {}")}
        OPTIONS = {"extra": Int(default=3)}

    class Child(Base):
        """Child."""

        PARAMETERS = {"stage": {"x": Control(Float(unit="m"), get="X?", set="X {}")}}

    assert list(Child.PARAMETERS) == ["a", "stage/x"]
    assert Child.OPTIONS["extra"].default == 3 and "timeout" in Child.OPTIONS
    assert Child.description() == "Child."
    with pytest.raises(TypeError, match="declared both as parameter and as state"):
        type("Clash", (Driver,), {"PARAMETERS": {"a": Control(Bool(), get="A?", set="A {}")},
                                  "STATES": {"a": Control(Bool(), get="A?", set="A {}")}})
