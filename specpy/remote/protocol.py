"""The wire format (docs/protocol.md): envelopes, the msgpack header codec, and array frames.

A header is msgpack with strict settings: str keys, UTF-8 strings (raw=False), size limits, and
only the extension types defined here (ARRAY, HANDLE, DTYPE). Arrays travel as raw frames after
the header, sent without copying; their dtype, shape and order sit in the header. Nothing is
ever pickled, evaluated or imported by name.
"""

from __future__ import annotations

import os
import re
import traceback as traceback_module
from collections.abc import Callable, Sequence
from typing import Any

import msgpack
import numpy as np

from ..errors import Error
from .errors import ProtocolError

VERSION = 1
CLIENT = b"SPXC01"  # first frame of every client <-> broker message
WORKER = b"SPXW01"  # first frame of every worker <-> broker message
READY, REQUEST, REPLY, HEARTBEAT, DISCONNECT = b"\x01", b"\x02", b"\x03", b"\x04", b"\x05"
COMMANDS = {READY, REQUEST, REPLY, HEARTBEAT, DISCONNECT}
BROKER_SERVICE = "mmi"  # the broker's own service: endpoints and the list of services

EXT_ARRAY, EXT_HANDLE, EXT_DTYPE = 1, 2, 3
MAX_HEADER = 8 << 20  # bytes of one header
MAX_FRAMES = 64  # array frames per message
MAX_ARRAY = 4 << 30  # bytes of one array frame
MAX_DIMENSIONS = 32
MAX_NAME = 255  # bytes of a service name or a topic
_DTYPE = re.compile(r"^[<>|=]?[biufc][1-9][0-9]?$")
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")

HandleOf = Callable[[Any], "tuple[str, int, str] | None"]
ResolveHandle = Callable[[str, int, str], Any]


def check_name(raw: bytes, what: str = "service name") -> str:
    """A service name as str: 1-64 of [A-Za-z0-9_.-], else ProtocolError."""
    try:
        name = bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError(f"the {what} is not UTF-8") from None
    if not _NAME.match(name):
        raise ProtocolError(f"the {what} {name[:70]!r} is not 1-64 characters of A-Z a-z 0-9 _ . -")
    return name


def check_dtype(text: Any) -> np.dtype:
    """A plain numeric numpy dtype from its `dtype.str` ('<u4', ...); never an object dtype."""
    if not isinstance(text, str) or not _DTYPE.match(text):
        raise ProtocolError(f"{text!r} is not a numeric dtype string such as '<u4' or '<f8'")
    try:
        dtype = np.dtype(text)
    except TypeError:
        raise ProtocolError(f"{text!r} is not a numeric dtype") from None
    if dtype.hasobject or dtype.kind not in "biufc":
        raise ProtocolError(f"{text!r} is not a numeric dtype")
    return dtype


def _unpack_strict(data: bytes | memoryview, ext_hook: Callable[[int, bytes], Any] | None) -> Any:
    size = len(data)
    if size > MAX_HEADER:
        raise ProtocolError(f"a header of {size} bytes is over the limit of {MAX_HEADER}")
    try:
        return msgpack.unpackb(
            data, raw=False, strict_map_key=True, use_list=True, ext_hook=ext_hook or _no_ext,
            max_str_len=size, max_bin_len=size, max_array_len=size,
            max_map_len=size, max_ext_len=size,
        )
    except Error:  # ours (a stale handle, a bad descriptor): as it is
        raise
    except Exception as error:  # truncated, extra data, invalid UTF-8, limits: all the same to us
        raise ProtocolError(f"the header is not valid msgpack: {type(error).__name__}: {error}") from None


def _no_ext(code: int, data: bytes) -> Any:
    raise ProtocolError(f"extension type {code} is not allowed here")


def encode(message: dict[str, Any], handle_of: HandleOf | None = None) -> list[Any]:
    """A message dict -> [header bytes, *array buffers]; arrays anywhere in it become frames."""
    frames: list[Any] = []

    def default(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject or value.dtype.kind not in "biufc":
                raise TypeError(f"an array of dtype {value.dtype} cannot be sent")
            array = np.ascontiguousarray(value)
            frames.append(array)
            descriptor = [len(frames) - 1, array.dtype.str, list(array.shape), "C"]
            return msgpack.ExtType(EXT_ARRAY, msgpack.packb(descriptor))
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
            return msgpack.ExtType(EXT_DTYPE, msgpack.packb(np.dtype(value).str))
        if isinstance(value, tuple):
            return list(value)
        if isinstance(value, os.PathLike):  # a file name (pathlib.Path): its str
            return os.fspath(value)
        handle = handle_of(value) if handle_of is not None else None
        if handle is not None:
            return msgpack.ExtType(EXT_HANDLE, msgpack.packb(list(handle)))
        raise TypeError(f"a {type(value).__name__} cannot be sent over the wire")

    header = msgpack.packb(message, default=default, use_bin_type=True, strict_types=False)
    if len(header) > MAX_HEADER:
        raise ProtocolError(f"a header of {len(header)} bytes is over the limit of {MAX_HEADER}")
    if len(frames) > MAX_FRAMES:
        raise ProtocolError(f"{len(frames)} arrays in one message; the limit is {MAX_FRAMES}")
    return [header, *frames]


def decode(header: Any, frames: Sequence[Any] = (), resolve_handle: ResolveHandle | None = None) -> dict[str, Any]:
    """[header, *array frames] -> the message dict; arrays are read-only views of their frames."""
    if len(frames) > MAX_FRAMES:
        raise ProtocolError(f"{len(frames)} array frames; the limit is {MAX_FRAMES}")

    def ext_hook(code: int, data: bytes) -> Any:
        if code == EXT_ARRAY:
            return _array(_unpack_strict(data, None), frames)
        if code == EXT_HANDLE:
            value = _unpack_strict(data, None)
            if (not isinstance(value, list) or len(value) != 3 or not isinstance(value[0], str)
                    or type(value[1]) is not int or not isinstance(value[2], str)):
                raise ProtocolError(f"a handle is [kind, id, session], not {value!r}")
            if resolve_handle is None:
                raise ProtocolError("a handle where none is expected")
            return resolve_handle(value[0], value[1], value[2])
        if code == EXT_DTYPE:
            return check_dtype(_unpack_strict(data, None)).type
        raise ProtocolError(f"extension type {code} is not part of protocol version {VERSION}")

    message = _unpack_strict(_buffer(header), ext_hook)
    if not isinstance(message, dict):
        raise ProtocolError(f"a header is a map, not {type(message).__name__}")
    if message.get("v") != VERSION:
        raise ProtocolError(f"protocol version {message.get('v')!r}; this side speaks {VERSION}")
    return message


def _buffer(frame: Any) -> Any:
    """The bytes-like content of a frame (zmq.Frame, bytes or memoryview) without copying."""
    buffer = getattr(frame, "buffer", None)
    return buffer if buffer is not None else frame


def _array(descriptor: Any, frames: Sequence[Any]) -> np.ndarray:
    if not isinstance(descriptor, list) or len(descriptor) != 4:
        raise ProtocolError(f"an array descriptor is [frame, dtype, shape, order], not {descriptor!r}")
    index, dtype_text, shape, order = descriptor
    if type(index) is not int or not 0 <= index < len(frames):
        raise ProtocolError(f"array frame {index!r} does not exist ({len(frames)} frame(s) follow the header)")
    if order not in ("C", "F"):
        raise ProtocolError(f"array order {order!r} is neither 'C' nor 'F'")
    dtype = check_dtype(dtype_text)
    if (not isinstance(shape, list) or len(shape) > MAX_DIMENSIONS
            or not all(type(n) is int and 0 <= n <= MAX_ARRAY for n in shape)):
        raise ProtocolError(f"an array shape is a list of at most {MAX_DIMENSIONS} sizes >= 0, not {shape!r}")
    expected = dtype.itemsize
    for n in shape:
        expected *= n
        if expected > MAX_ARRAY:
            raise ProtocolError(f"an array of shape {shape} and dtype {dtype.str} is over the {MAX_ARRAY}-byte limit")
    buffer = memoryview(_buffer(frames[index]))
    if buffer.nbytes != expected:
        raise ProtocolError(f"array frame {index} holds {buffer.nbytes} bytes; shape {shape} of {dtype.str} "
                            f"needs {expected}")
    return np.frombuffer(buffer, dtype=dtype).reshape(shape, order=order)


def send(sock: Any, frames: Sequence[Any]) -> None:
    """Send a multipart message: small frames copied (cheaper), arrays and received frames zero-copy."""
    import zmq

    last = len(frames) - 1
    for index, frame in enumerate(frames):
        flags = zmq.SNDMORE if index < last else 0
        if isinstance(frame, bytes) and len(frame) < zmq.COPY_THRESHOLD:
            sock.send(frame, flags, copy=True)
        else:
            sock.send(frame, flags, copy=False)


def receive(sock: Any, envelope: int) -> list[Any]:
    """Receive a multipart message: its first `envelope` frames as bytes (copying a small frame is cheaper than
    wrapping it), the rest (arrays) as zero-copy zmq.Frames."""
    import zmq

    frames = [sock.recv()]
    while sock.get(zmq.RCVMORE):
        frames.append(sock.recv(copy=len(frames) < envelope))
    return frames


def request(request_id: int, op: str, target: Any, args: Sequence[Any], kwargs: dict[str, Any],
            hook: str | None = None) -> dict[str, Any]:
    """A request header."""
    message = {"v": VERSION, "id": request_id, "op": op, "target": target, "args": list(args), "kwargs": kwargs}
    if hook is not None:
        message["hook"] = hook
    return message


def result(request_id: Any, value: Any) -> dict[str, Any]:
    """A successful reply header."""
    return {"v": VERSION, "id": request_id, "ok": True, "result": value}


def failure(request_id: Any, error: BaseException, with_traceback: bool = True) -> dict[str, Any]:
    """An error reply header: type name, message and a short remote traceback summary."""
    summary = ""
    if with_traceback and error.__traceback__ is not None:
        frames = traceback_module.extract_tb(error.__traceback__)[-3:]
        summary = "".join(traceback_module.format_list(frames))
    return {"v": VERSION, "id": request_id, "ok": False,
            "error": {"type": type(error).__name__, "message": str(error)[:4000], "traceback": summary[:4000]}}


def request_id_bytes(request_id: int) -> bytes:
    """The envelope's request id frame: 8 bytes, big-endian."""
    return request_id.to_bytes(8, "big")
