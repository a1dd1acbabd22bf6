"""The wire format: arrays without copies, strict decoding, typed errors from an allowlist only."""

from pathlib import Path

import numpy as np
import pytest

import specpy
from specpy.remote import protocol as wire
from specpy.remote.errors import ProtocolError, RemoteError, RemoteValueError, build_error


def test_arrays_round_trip_as_frames_with_their_layout_in_the_header():
    array = np.arange(24, dtype=">i4").reshape(2, 3, 4)
    frames = wire.encode({"v": 1, "data": array, "nested": {"list": [np.float32(1.5), np.uint8]}})
    assert len(frames) == 2 and frames[1].nbytes == array.nbytes
    message = wire.decode(frames[0], frames[1:])
    np.testing.assert_array_equal(message["data"], array)
    assert message["data"].dtype == np.dtype(">i4")
    assert message["nested"]["list"] == [1.5, np.uint8]


def test_a_received_array_is_a_view_of_its_frame():
    frame = bytearray(np.arange(4, dtype="<u2").tobytes())
    header = wire.encode({"v": 1, "a": np.zeros(4, "<u2")})[0]
    array = wire.decode(header, [frame])["a"]
    frame[0] = 9
    assert array[0] == 9  # no copy was made


@pytest.mark.parametrize("descriptor, frame, match", [
    ([0, "<f8", [1 << 20, 1 << 20], "C"], b"", "limit"),
    ([0, "<f8", [3], "C"], b"x" * 16, "needs 24"),
    ([0, "O", [1], "C"], b"x" * 8, "numeric dtype"),
    ([0, "<f8", [-1], "C"], b"", "sizes >= 0"),
    ([5, "<f8", [1], "C"], b"x" * 8, "does not exist"),
    ([0, "<f8", [1], "Z"], b"x" * 8, "order"),
])
def test_bad_array_descriptors_are_refused(descriptor, frame, match):
    import msgpack

    header = msgpack.packb({"v": 1, "a": msgpack.ExtType(wire.EXT_ARRAY, msgpack.packb(descriptor))})
    with pytest.raises(ProtocolError, match=match):
        wire.decode(header, [frame])


def test_error_types_come_from_the_allowlist_and_nothing_is_imported_by_name():
    error = build_error("ValidationError", "bad value", "")
    assert type(error) is specpy.ValidationError and isinstance(error, ValueError) and str(error) == "bad value"
    assert type(build_error("ValueError", "v", "")) is RemoteValueError
    unknown = build_error("os.system", "nope", "tb")
    assert type(unknown) is RemoteError and "os.system" in str(unknown) and unknown.remote_traceback == "tb"
    assert type(build_error("SystemExit", "x", "")) is RemoteError


def test_unsendable_values_are_refused_on_the_sending_side():
    with pytest.raises(TypeError, match="cannot be sent"):
        wire.encode({"v": 1, "f": open})
    with pytest.raises(TypeError, match="cannot be sent"):
        wire.encode({"v": 1, "a": np.array([object()])})


def test_a_path_is_sent_as_its_file_name():
    message = wire.decode(*wire.encode({"v": 1, "file": Path("data") / "m.obf"}))
    assert message["file"] == str(Path("data") / "m.obf")
