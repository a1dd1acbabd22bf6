"""VisaTransport through pyvisa-py against a real SCPI server on 127.0.0.1: replies, blocks, timeouts,
garbled replies, a closed socket, reconnecting with backoff, and the I/O log."""

import logging
import time

import numpy as np
import pytest

from drivers import DeviceDisconnected, TransportError, TransportTimeout, VisaTransport, open_transport
from specpy.errors import Error

from .loopback import IDN, ScpiServer


@pytest.fixture
def visa(server):
    transport = VisaTransport(server.resource, timeout=0.3)
    yield transport
    transport.close()


def test_query_write_and_read(visa, server):
    assert visa.query("*IDN?") == IDN
    visa.write("SOUR:POW 0.125")
    visa.write("SOUR:POW?")
    assert visa.read() == "0.125"
    assert server.instrument.log[-2:] == ["SOUR:POW 0.125", "SOUR:POW?"]


def test_binary_block_lands_in_a_new_array(visa):
    array = visa.query_binary("DATA? 1000", "<f8")
    assert array.dtype == np.dtype("<f8") and array.flags.writeable
    np.testing.assert_array_equal(array, np.arange(1000) * 0.5)
    assert visa.query("ECHO? after") == "after"  # the block's trailing newline was consumed
    assert visa.query_binary("DATA? 0").size == 0


def test_binary_block_lands_in_the_callers_array(visa):
    out = np.full(50_000, -1.0)  # bigger than a socket read: the body comes in several pieces
    assert visa.query_binary("DATA? 50000", "<f8", out=out) is not None
    np.testing.assert_array_equal(out, np.arange(50_000) * 0.5)
    with pytest.raises(TransportError, match="does not fit the 400000-byte buffer"):
        visa.query_binary("DATA? 10", "<f8", out=out)
    assert visa.query("ECHO? after") == "after"


def test_a_block_that_stops_part_way_is_a_timeout_and_the_session_recovers(visa):
    with pytest.raises(TransportTimeout, match="'SHORT\\? 1000 10'"):
        visa.query_binary("SHORT? 1000 10")
    assert visa.query("ECHO? next") == "next"


def test_a_block_cut_off_by_the_instrument_is_a_disconnect(server):
    transport = VisaTransport(server.resource, timeout=0.5, backoff=(0.01, 0.05))
    try:
        with pytest.raises(DeviceDisconnected, match="connection lost"):
            transport.query_binary("CUT? 1000 10")
        assert not transport.connected
        time.sleep(0.02)
        assert transport.query("ECHO? back") == "back" and transport.reconnects == 1
    finally:
        transport.close()


def test_query_after_sends_a_command_and_a_query_in_one_write(visa, server):
    assert visa.query_after("SOUR:POW 0.25", "SOUR:POW?") == "0.25"
    assert server.instrument.log[-2:] == ["SOUR:POW 0.25", "SOUR:POW?"]


def test_binary_block_with_a_bad_length_is_a_transport_error(visa):
    with pytest.raises(TransportError, match="24 bytes is not a whole number of"):
        visa.query_binary("DATA? 3", "V16")  # 3 float64 = 24 bytes, not a multiple of 16
    assert visa.query("ECHO? ok") == "ok"


def test_a_reply_that_is_not_a_block_is_refused_and_the_session_recovers(visa):
    with pytest.raises(TransportError, match="expected a definite-length block"):
        visa.query_binary("ECHO? 1234")
    assert visa.query("ECHO? next") == "next"


def test_timeout_is_typed_names_resource_and_command_and_recovers(visa, server):
    with pytest.raises(TransportTimeout) as caught:
        visa.query("NOPE?")
    error = caught.value
    assert isinstance(error, TimeoutError) and isinstance(error, Error)
    assert error.resource == server.resource and error.command == "NOPE?"
    assert server.resource in str(error) and "'NOPE?'" in str(error) and "0.3 s" in str(error)
    assert visa.query("SYST:ERR?") == '-113,"Undefined header; NOPE?"'


def test_a_late_reply_never_answers_the_next_query(visa):
    with pytest.raises(TransportTimeout):
        visa.query("LATE? 0.4 stale-token")
    time.sleep(0.2)  # the late reply has arrived by now and sits unread
    assert visa.query("ECHO? fresh") == "fresh"


def test_a_garbled_reply_is_a_transport_error_and_does_not_poison_the_session(visa):
    with pytest.raises(TransportError, match="not ascii text"):
        visa.query("GARBLE?")
    assert visa.query("ECHO? clean") == "clean"


def test_a_socket_closed_by_the_instrument_is_a_disconnect_and_reconnects(server):
    reconnected = []
    transport = VisaTransport(server.resource, timeout=0.3, backoff=(0.05, 0.2))
    transport.add_reconnect_hook(lambda: reconnected.append(transport.query("ECHO? hook")))
    try:
        transport.write("DROP")
        with pytest.raises(DeviceDisconnected) as caught:
            transport.query("ECHO? lost")
        assert isinstance(caught.value, ConnectionError)
        assert "connection lost" in str(caught.value) and "'ECHO? lost'" in str(caught.value)
        assert not transport.connected
        deadline = time.monotonic() + 2.0
        while True:
            try:
                assert transport.query("ECHO? back") == "back"
                break
            except DeviceDisconnected:
                assert time.monotonic() < deadline, "no reconnect within 2 s"
                time.sleep(0.01)
        assert transport.reconnects == 1 and reconnected == ["hook"]
    finally:
        transport.close()


def test_backoff_spaces_out_reconnect_attempts_while_the_instrument_is_away():
    server = ScpiServer()
    resource = server.resource
    transport = VisaTransport(resource, timeout=0.2, backoff=(0.2, 0.4))
    try:
        server.close()
        with pytest.raises(DeviceDisconnected):
            transport.query("ECHO? gone")
        with pytest.raises(DeviceDisconnected, match="next reconnect attempt in"):
            transport.query("ECHO? soon")  # inside the back-off window: no attempt at all
        time.sleep(0.25)
        with pytest.raises(DeviceDisconnected, match="reconnect failed"):
            transport.query("ECHO? again")  # the window has passed: a real attempt, refused
        with pytest.raises(DeviceDisconnected, match="reconnect failed"):
            transport.reconnect(timeout=0.3)
    finally:
        transport.close()


def test_explicit_reconnect_and_close(visa):
    visa.reconnect()
    assert visa.query("ECHO? again") == "again" and visa.reconnects == 1
    visa.close()
    visa.close()
    with pytest.raises(DeviceDisconnected, match="the transport is closed"):
        visa.query("ECHO? closed")
    assert "closed" in repr(visa)


def test_opening_a_dead_resource_is_a_typed_error():
    server = ScpiServer()
    resource = server.resource
    server.close()
    with pytest.raises(DeviceDisconnected, match="cannot open"):
        VisaTransport(resource, timeout=0.2)


def test_io_is_logged_at_debug_with_resource_command_reply_and_timing(visa, server, caplog):
    with caplog.at_level(logging.DEBUG, logger="drivers.transport"):
        visa.query("ECHO? logged")
        visa.write("MODE PULS")
    assert f"{server.resource} query 'ECHO? logged' -> 'logged' (" in caplog.text
    assert f"{server.resource} write 'MODE PULS' (" in caplog.text and " ms)" in caplog.text


def test_open_transport_picks_visa_for_visa_resources(server):
    with open_transport(server.resource, timeout=0.5) as transport:
        assert isinstance(transport, VisaTransport)
        assert transport.query("*IDN?") == IDN


def test_settings_are_checked():
    with pytest.raises(ValueError, match="timeout must be a positive"):
        VisaTransport("TCPIP::127.0.0.1::1::SOCKET", timeout=0)
    with pytest.raises(ValueError, match="read_termination must not be empty"):
        VisaTransport("TCPIP::127.0.0.1::1::SOCKET", read_termination="")


def test_a_closed_shared_resource_manager_is_replaced(server):
    """pyvisa gives every caller the same manager; a script closing its own must not break ours."""
    import pyvisa

    first = VisaTransport(server.resource, timeout=2.0)  # the transports' manager now exists
    first.close()
    pyvisa.ResourceManager("@py").close()  # the very same manager, closed by "someone else"
    transport = VisaTransport(server.resource, timeout=2.0)
    try:
        assert transport.query("*IDN?") == IDN
    finally:
        transport.close()
