"""SerialTransport on a real pty (and pyserial URLs): replies, blocks, timeouts, and unplug/replug of the
port with a typed error, reconnection, re-applied settings and no leaked threads or descriptors."""

import threading
import time

import numpy as np
import pytest

from drivers import DeviceDisconnected, SerialTransport, TransportTimeout, open_transport

from .conftest import LoopbackLaser, open_fds
from .loopback import IDN


@pytest.fixture
def serial_port(pty_device):
    transport = SerialTransport(pty_device.link, timeout=0.3, baud_rate=115200)
    yield transport
    transport.close()


def test_query_and_binary_block_over_a_pty(serial_port, pty_device):
    assert serial_port.query("*IDN?") == IDN
    serial_port.write("MODE PULS")
    assert serial_port.query("MODE?") == "PULS"
    np.testing.assert_array_equal(serial_port.query_binary("DATA? 300"), np.arange(300) * 0.5)
    assert serial_port.query("ECHO? tail") == "tail"
    assert pty_device.instrument.log[-1] == "ECHO? tail"


def test_timeout_over_a_pty_is_typed_and_the_late_reply_is_discarded(serial_port):
    with pytest.raises(TransportTimeout) as caught:
        serial_port.query("LATE? 0.4 stale")
    assert caught.value.command == "LATE? 0.4 stale" and caught.value.resource == serial_port.resource
    time.sleep(0.2)
    assert serial_port.query("ECHO? fresh") == "fresh"


def test_a_second_program_cannot_open_the_same_port(serial_port, pty_device):
    with pytest.raises(DeviceDisconnected, match="cannot open"):
        SerialTransport(pty_device.link, timeout=0.3)


def test_pyserial_urls_work_too(server):
    with open_transport(f"socket://127.0.0.1:{server.port}", timeout=0.5) as transport:
        assert isinstance(transport, SerialTransport)
        assert transport.query("*IDN?") == IDN
    with SerialTransport("loop://", timeout=0.2) as loop:
        assert loop.query("echoed back") == "echoed back"


def test_unplug_while_waiting_for_a_reply_raises_within_one_timeout(pty_device):
    transport = SerialTransport(pty_device.link, timeout=1.0)
    try:
        unplugger = threading.Timer(0.1, pty_device.unplug)
        unplugger.start()
        start = time.monotonic()
        with pytest.raises(DeviceDisconnected) as caught:
            transport.query("NOPE?")  # no reply ever comes; the port vanishes while we wait
        elapsed = time.monotonic() - start
        unplugger.join()
        assert elapsed < transport.timeout, f"the disconnect took {elapsed:.2f} s to surface"
        assert pty_device.link in str(caught.value) and "'NOPE?'" in str(caught.value)
    finally:
        transport.close()


def wait_for_reconnect(call, seconds=2.0):
    """Call until it stops raising DeviceDisconnected; fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return call()
        except DeviceDisconnected:
            if time.monotonic() > deadline:
                pytest.fail(f"no reconnect within {seconds} s of replug")
            time.sleep(0.01)


def test_twenty_unplug_replug_cycles_reconnect_reapply_settings_and_leak_nothing(pty_device):
    laser = LoopbackLaser(pty_device.link, name="laser", timeout=0.5, check_errors=False)
    laser.connect()
    laser.parameters.set("mode", "pulsed")
    try:
        fds, threads = open_fds(), threading.active_count()
        for cycle in range(20):
            power = round(0.01 * (cycle + 1), 6)
            laser.parameters.set("power", power)
            pty_device.unplug()
            start = time.monotonic()
            with pytest.raises(DeviceDisconnected) as caught:
                laser.states.read("temperature")
            assert time.monotonic() - start < laser.transport.timeout
            assert caught.value.command == "TEMP?"
            pty_device.plug(power_cycle=True)  # the instrument comes back with its defaults
            mark = len(pty_device.instrument.log)
            assert wait_for_reconnect(lambda: laser.parameters.read("power")) == power
            assert laser.parameters.read("mode") == "pulsed"
            replayed = pty_device.instrument.log[mark:]
            assert replayed[:2] == ["MODE PULS", f"SOUR:POW {power!r}"], replayed
            assert laser.transport.reconnects == cycle + 1
        assert open_fds() == fds
        assert threading.active_count() == threads
    finally:
        laser.close()
