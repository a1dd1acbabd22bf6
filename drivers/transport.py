"""Instrument transports: VISA (pyvisa, pyvisa-py by default) and serial (pyserial) behind one interface.

Every transport serialises its I/O under one lock (a query's write and read are one critical
section, so concurrent callers never get each other's replies), turns backend failures into
TransportTimeout or DeviceDisconnected naming the resource and the command, and reconnects by
itself: after a disconnect each call tries to reopen, no more often than a capped exponential
backoff allows, and a reopened transport first runs its reconnect hooks (a driver re-applies its
settings there) before the caller's command goes out. I/O is logged at DEBUG.
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np

from specpy.errors import ValidationError

from .errors import DeviceDisconnected, TransportError, TransportTimeout

log = logging.getLogger(__name__)

_DEBUG = logging.DEBUG


class _Garbled(Exception):
    """A reply that breaks the protocol (bad block header, undecodable text); the input is then stale."""


class Transport(ABC):
    """One connection to one instrument. Open on construction; safe to share between threads."""

    #: The resource kind this transport serves ('visa' or 'serial', see drivers.resources).
    kind: ClassVar[str]

    def __init__(
        self,
        resource: str,
        *,
        timeout: float = 2.0,
        read_termination: str = "\n",
        write_termination: str = "\n",
        encoding: str = "ascii",
        backoff: tuple[float, float] = (0.05, 1.0),
    ):
        if not timeout > 0:
            raise ValidationError(f"{resource}: timeout must be a positive number of seconds, not {timeout!r}")
        if not read_termination:
            raise ValidationError(f"{resource}: read_termination must not be empty (replies need an end)")
        self.resource = resource
        self.timeout = float(timeout)
        self.read_termination = read_termination
        self.write_termination = write_termination
        self.encoding = encoding
        self.lock = threading.RLock()
        self.reconnects = 0
        self._term = read_termination.encode(encoding)
        self._backoff_start, self._backoff_cap = backoff
        self._backoff = self._backoff_start
        self._retry_at = 0.0
        self._closed = False
        self._stale = False
        self._is_open = False
        self._hooks: list[Callable[[], None]] = []
        try:
            self._open()
        except Exception as error:
            raise DeviceDisconnected(resource, None, f"cannot open: {error}") from error
        self._is_open = True

    # -- the backend's primitives -------------------------------------------------------------------
    @abstractmethod
    def _open(self) -> None:
        """Open the underlying connection with this transport's settings."""

    @abstractmethod
    def _close_handle(self) -> None:
        """Close the underlying connection, ignoring errors of an already dead one."""

    @abstractmethod
    def _send(self, data: bytes) -> None:
        """Send raw bytes."""

    @abstractmethod
    def _recv_line(self) -> bytes:
        """Receive up to and without the read termination; TimeoutError if none within the timeout."""

    @abstractmethod
    def _recv_into(self, view: memoryview) -> None:
        """Fill `view` with exactly len(view) raw bytes; TimeoutError if they do not come in time."""

    @abstractmethod
    def _discard_input(self) -> None:
        """Drop whatever a timed-out or garbled exchange left unread (a late reply must not answer the next query)."""

    @abstractmethod
    def _classify(self, error: BaseException) -> tuple[type[TransportError] | None, str]:
        """(TransportTimeout or DeviceDisconnected, what happened), or (None, '') if `error` is not an I/O failure."""

    # -- the public interface ---------------------------------------------------------------------
    def _send_command(self, command: str, *more: str) -> float:
        """Send `command` (and `more` after it) with terminations in one write (the lock is held); return when it
        was sent, for timing."""
        data = "".join(c + self.write_termination for c in (command, *more)).encode(self.encoding)
        self._ready(command)
        start = time.perf_counter()
        try:
            self._send(data)
        except Exception as error:
            raise self._failure(command, error) from error
        return start

    def write(self, command: str) -> None:
        """Send one command (the write termination is appended)."""
        with self.lock:
            start = self._send_command(command)
        if log.isEnabledFor(_DEBUG):
            log.debug("%s write %r (%.3f ms)", self.resource, command, (time.perf_counter() - start) * 1e3)

    def read(self) -> str:
        """Read one reply (without its termination)."""
        with self.lock:
            self._ready(None)
            return self._reply(None, time.perf_counter())

    def query(self, command: str) -> str:
        """Write a command and read its reply as one indivisible exchange."""
        with self.lock:
            return self._reply(command, self._send_command(command))

    def query_after(self, command: str, query: str) -> str:
        """Send `command`, then `query`, in one write (one packet, one wake-up of the instrument) and read the
        query's reply: e.g. an action and the error-queue check that confirms it."""
        with self.lock:
            start = self._send_command(command, query)
            if log.isEnabledFor(_DEBUG):
                log.debug("%s write %r", self.resource, command)
            return self._reply(query, start)

    def query_binary(self, command: str, dtype: Any = "<f8", out: np.ndarray | None = None, *,
                     while_waiting: Callable[[], object] | None = None) -> np.ndarray:
        """Write a command and read an IEEE 488.2 definite-length block (#<n><length><bytes>) into an array.

        The bytes go straight into the array's memory: a new one, or `out` (C-contiguous, of `dtype`, exactly
        the block's size) so that a caller's buffer is filled without a copy. `dtype` gives item type and byte
        order ('<f8', '>u2'). `while_waiting()` runs once the command is out and before the reply is read: work
        that overlaps the instrument's (preparing `out`, say).
        """
        dtype = np.dtype(dtype)
        if out is not None and (out.dtype != dtype or not out.flags.c_contiguous or not out.flags.writeable):
            raise ValidationError(
                f"{self.resource}: out must be a writeable C-contiguous array of {dtype}, not {out.dtype} "
                f"(contiguous={out.flags.c_contiguous}, writeable={out.flags.writeable})"
            )
        with self.lock:
            start = self._send_command(command)
            if while_waiting is not None:
                while_waiting()
            try:
                array = self._recv_block(command, dtype, out)
            except Exception as error:
                raise self._failure(command, error) from error
        if log.isEnabledFor(_DEBUG):
            log.debug(
                "%s query %r -> block of %d x %s (%.3f ms)", self.resource, command, array.size, dtype,
                (time.perf_counter() - start) * 1e3,
            )
        return array

    @contextmanager
    def timeout_for(self, seconds: float) -> Iterator[None]:
        """Use another reply timeout inside the block (a long acquisition's fetch), then restore the usual one."""
        if not seconds > 0:
            raise ValidationError(f"{self.resource}: timeout must be a positive number of seconds, not {seconds!r}")
        with self.lock:
            usual = self.timeout
            self._apply_timeout(float(seconds))
            try:
                yield
            finally:
                self._apply_timeout(usual)

    def _apply_timeout(self, seconds: float) -> None:
        """Set the reply timeout (backends with their own timeout setting extend this; lock held)."""
        self.timeout = seconds

    def add_reconnect_hook(self, hook: Callable[[], None]) -> None:
        """Run `hook()` (holding the lock, connection open) after every reopen and before any other I/O."""
        self._hooks.append(hook)

    def remove_reconnect_hook(self, hook: Callable[[], None]) -> None:
        """Stop running a hook added with add_reconnect_hook."""
        self._hooks.remove(hook)

    @property
    def connected(self) -> bool:
        """Whether the connection is open now (a disconnected transport reopens on its next call)."""
        return self._is_open

    def reconnect(self, timeout: float | None = None) -> None:
        """Close and reopen now, retrying with capped exponential backoff for up to `timeout` seconds."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        with self.lock:
            self._closed = False
            self._drop()
            delay = self._backoff_start
            while True:
                try:
                    self._reopen(None)
                    return
                except DeviceDisconnected:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise
                    time.sleep(min(delay, left))
                    delay = min(delay * 2, self._backoff_cap)

    def hang_up(self) -> None:
        """Close the connection now; the next call opens a new one. For a reply that is owed but must never answer
        a later query, when the instrument cannot be told to drop it (a fetch that waits for a trigger that will
        not come)."""
        with self.lock:
            self._drop()

    def close(self) -> None:
        """Close the connection for good (idempotent); later calls raise DeviceDisconnected."""
        with self.lock:
            self._closed = True
            self._drop()

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open" if self._is_open else "disconnected"
        return f"<{type(self).__name__} {self.resource} {state}>"

    # -- the machinery ------------------------------------------------------------------------------
    def _reply(self, command: str | None, start: float) -> str:
        """Receive and decode one reply line (lock held)."""
        try:
            raw = self._recv_line()
            reply = raw.decode(self.encoding)
        except UnicodeDecodeError as error:
            raise self._failure(command, _Garbled(f"reply is not {self.encoding} text: {raw[:40]!r}")) from error
        except Exception as error:
            raise self._failure(command, error) from error
        if log.isEnabledFor(_DEBUG):
            log.debug("%s query %r -> %r (%.3f ms)", self.resource, command, reply, (time.perf_counter() - start) * 1e3)
        return reply

    def _recv_block(self, command: str, dtype: np.dtype, out: np.ndarray | None = None) -> np.ndarray:
        """Read a definite-length block and its trailing termination into `out` or a fresh array (lock held)."""
        head = bytearray(2)
        self._recv_into(memoryview(head))
        if head[:1] != b"#" or not chr(head[1]).isdigit() or head[1:2] == b"0":
            raise _Garbled(f"expected a definite-length block '#<n><length>', got {bytes(head)!r}")
        digits = bytearray(int(chr(head[1])))
        self._recv_into(memoryview(digits))
        if not digits.isdigit():
            raise _Garbled(f"block length {bytes(digits)!r} is not a number")
        length = int(digits)
        if length % dtype.itemsize:
            raise _Garbled(f"block of {length} bytes is not a whole number of {dtype} items")
        if out is None:
            array = np.empty(length // dtype.itemsize, dtype)
        elif out.nbytes == length:
            array = out.reshape(-1)
        else:
            raise _Garbled(f"block of {length} bytes does not fit the {out.nbytes}-byte buffer given")
        if length:
            self._recv_into(memoryview(array).cast("B"))
        rest = self._recv_line()
        if rest:
            raise _Garbled(f"{len(rest)} unexpected bytes after the block")
        return array

    def _ready(self, command: str | None) -> None:
        """Make the connection usable before I/O: reopen if due, or drop stale input (lock held)."""
        if self._is_open:
            if self._stale:
                try:
                    self._discard_input()
                except Exception as error:
                    raise self._failure(command, error) from error
                self._stale = False
            return
        if self._closed:
            raise DeviceDisconnected(self.resource, command, "the transport is closed")
        wait = self._retry_at - time.monotonic()
        if wait > 0:
            raise DeviceDisconnected(self.resource, command, f"disconnected; next reconnect attempt in {wait:.2f} s")
        self._reopen(command)

    def _reopen(self, command: str | None) -> None:
        """Open and run the reconnect hooks; on failure back off and raise DeviceDisconnected (lock held)."""
        try:
            self._open()
        except Exception as error:
            self._schedule_retry()
            raise DeviceDisconnected(self.resource, command, f"disconnected; reconnect failed: {error}") from error
        self._is_open, self._stale = True, False
        try:
            for hook in list(self._hooks):
                hook()
        except Exception as error:
            if self._is_open:  # a disconnect during a hook has already dropped and scheduled a retry
                self._drop()
                self._schedule_retry()
            if isinstance(error, DeviceDisconnected):
                raise
            detail = f"reconnected, but restoring settings failed: {error}"
            raise DeviceDisconnected(self.resource, command, detail) from error
        self.reconnects += 1
        self._backoff = self._backoff_start
        log.info("%s reconnected (%d so far)", self.resource, self.reconnects)

    def _schedule_retry(self) -> None:
        self._retry_at = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, self._backoff_cap)

    def _drop(self) -> None:
        """Forget the connection (lock held)."""
        if self._is_open:
            self._is_open = False
            self._close_handle()

    def _failure(self, command: str | None, error: BaseException) -> Exception:
        """The typed error for a failed exchange; updates the connection state (lock held)."""
        if isinstance(error, TransportError):
            return error
        if isinstance(error, _Garbled):
            self._stale = True
            return TransportError(self.resource, command, str(error))
        kind, what = self._classify(error)
        if kind is TransportTimeout:
            self._stale = True
            log.debug("%s timeout on %r", self.resource, command)
            return TransportTimeout(self.resource, command, f"no complete reply within {self.timeout:g} s")
        if kind is DeviceDisconnected:
            self._drop()
            self._schedule_retry()
            log.warning("%s disconnected during %r: %s", self.resource, command, what)
            return DeviceDisconnected(self.resource, command, f"connection lost: {what}")
        return error if isinstance(error, Exception) else TransportError(self.resource, command, repr(error))


# -- VISA ----------------------------------------------------------------------------------------------
_managers: dict[str, Any] = {}
_managers_lock = threading.Lock()


def _resource_manager(backend: str) -> Any:
    """One pyvisa ResourceManager per backend, shared by all transports of the process.

    pyvisa hands every caller the same manager, so another user (a script, a test) may close it:
    a closed one is replaced.
    """
    import pyvisa

    with _managers_lock:
        manager = _managers.get(backend)
        if manager is not None:
            try:
                manager.session  # noqa: B018 - raises once the manager is closed
            except pyvisa.errors.InvalidSession:
                manager = None
        if manager is None:
            manager = _managers[backend] = pyvisa.ResourceManager(backend)
        return manager


class VisaTransport(Transport):
    """A VISA resource through pyvisa; pyvisa-py ('@py') unless another backend is named."""

    kind = "visa"

    def __init__(self, resource: str, *, backend: str = "@py", baud_rate: int | None = None, **settings: Any):
        self.backend = backend
        self.baud_rate = baud_rate  # used by serial (ASRL) resources only
        super().__init__(resource, **settings)

    def _open(self) -> None:
        from pyvisa import constants

        ms = int(self.timeout * 1000)
        self._inst = _resource_manager(self.backend).open_resource(
            self.resource, read_termination=self.read_termination, write_termination=self.write_termination,
            timeout=ms, open_timeout=ms, encoding=self.encoding,
        )
        if self.baud_rate is not None and self.resource.upper().startswith("ASRL"):
            self._inst.baud_rate = self.baud_rate
        self._lib, self._session = self._inst.visalib, self._inst.session
        sock = self._socket()
        if sock is not None:  # no Nagle delay between a write and the next query (40 ms each otherwise)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._peer_closed():  # pyvisa-py reports a refused TCP connection as opened
            self._close_handle()
            raise ConnectionRefusedError(f"{self.resource} refused the connection")
        self._max_count = constants.StatusCode.success_max_count_read
        self._termchar_attr = constants.ResourceAttribute.termchar_enabled

    def _apply_timeout(self, seconds: float) -> None:
        super()._apply_timeout(seconds)
        if self._is_open:
            self._inst.timeout = int(seconds * 1000)

    def _close_handle(self) -> None:
        try:
            self._inst.close()
        except Exception as error:  # an already broken session may refuse to close
            log.debug("%s close: %s", self.resource, error)

    def _send(self, data: bytes) -> None:
        self._lib.write(self._session, data)

    def _recv_line(self) -> bytes:
        data, status = self._lib.read(self._session, 1 << 20)
        if status == self._max_count:
            parts = [data]
            while status == self._max_count:
                data, status = self._lib.read(self._session, 1 << 20)
                parts.append(data)
            data = b"".join(parts)
        if data.endswith(self._term):
            return data[: -len(self._term)]
        return data.rstrip(self._term[-1:])

    def _recv_into(self, view: memoryview) -> None:
        sock = self._socket()
        if sock is not None and not self._visa_buffered():
            _recv_exactly(sock, view, self.timeout)  # a block body: straight into the caller's memory
            return
        lib, session, done = self._lib, self._session, 0
        lib.set_attribute(session, self._termchar_attr, False)  # raw bytes may contain the termination
        try:
            with self._inst.ignore_warning(self._max_count):
                while done < len(view):
                    chunk, _ = lib.read(session, len(view) - done)
                    view[done : done + len(chunk)] = chunk
                    done += len(chunk)
        finally:
            lib.set_attribute(session, self._termchar_attr, True)

    def _visa_buffered(self) -> bool:
        """Whether pyvisa-py may hold received bytes not yet read (then its own read must deliver them first).

        pyvisa-py reads a reply shorter than its 4 KiB chunk byte-exact, so after a query and a block
        header nothing is held back; a pyvisa-py without this buffer attribute counts as holding bytes.
        """
        session = getattr(self._lib, "sessions", {}).get(self._session)
        return bool(getattr(session, "_pending_buffer", True))

    def _discard_input(self) -> None:
        self._inst.clear()

    def _classify(self, error: BaseException) -> tuple[type[TransportError] | None, str]:
        from pyvisa import constants, errors

        visa_timeout = isinstance(error, errors.VisaIOError) and error.error_code == constants.StatusCode.error_timeout
        if visa_timeout or isinstance(error, TimeoutError):  # TimeoutError: a block body read from the socket
            if self._peer_closed():
                return DeviceDisconnected, "the instrument closed the connection"
            return TransportTimeout, str(error)
        if isinstance(error, (errors.VisaIOError, errors.InvalidSession, OSError)):
            return DeviceDisconnected, str(error)
        return None, ""

    def _socket(self) -> socket.socket | None:
        """The TCP socket under a pyvisa-py TCPIP session, or None for other resources and backends.

        Reached for two things pyvisa-py 0.8 does not do through VISA attributes: TCP_NODELAY on
        SOCKET sessions (VI_ATTR_TCPIP_NODELAY is refused there) and telling a closed peer from a timeout.
        """
        session = getattr(self._lib, "sessions", {}).get(self._session)
        sock = getattr(session, "interface", None)
        return sock if isinstance(sock, socket.socket) else None

    def _peer_closed(self) -> bool:
        """Has the instrument closed (or refused) the TCP connection? pyvisa-py reports that as a read timeout."""
        sock = self._socket()
        if sock is None:
            return False
        try:
            return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True


def _recv_exactly(sock: socket.socket, view: memoryview, timeout: float) -> None:
    """Fill `view` from a blocking socket with one copy per kernel chunk; TimeoutError after `timeout` s,
    ConnectionResetError if the peer closes first."""
    deadline = time.monotonic() + timeout
    done, size = 0, len(view)
    while done < size:
        try:
            got = sock.recv_into(view[done:], size - done, socket.MSG_DONTWAIT)
        except BlockingIOError:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                raise TimeoutError(f"{done} of {size} bytes received") from None
            continue
        if not got:
            raise ConnectionResetError(f"the instrument closed the connection after {done} of {size} bytes")
        done += got


# -- serial --------------------------------------------------------------------------------------------
class SerialTransport(Transport):
    """A serial port by device path ('/dev/ttyUSB0', 'COM3') or pyserial URL ('socket://host:port', 'loop://')."""

    kind = "serial"

    #: How long one blocking read may wait, so a call's overall deadline is kept to within this.
    poll = 0.05

    def __init__(self, resource: str, *, baud_rate: int = 9600, **settings: Any):
        self.baud_rate = baud_rate
        self._rx = bytearray()
        super().__init__(resource, **settings)

    def _open(self) -> None:
        import serial

        poll = min(self.timeout, self.poll)
        if "://" in self.resource:
            self._port = serial.serial_for_url(
                self.resource, baudrate=self.baud_rate, timeout=poll, write_timeout=self.timeout
            )
        else:  # a device path: take the advisory lock so a second program cannot steal replies
            self._port = serial.Serial(
                self.resource, baudrate=self.baud_rate, timeout=poll, write_timeout=self.timeout, exclusive=True
            )
        self._rx.clear()

    def _close_handle(self) -> None:
        try:
            self._port.close()
        except Exception as error:  # closing an unplugged port can fail; the fd is released regardless
            log.debug("%s close: %s", self.resource, error)

    def _send(self, data: bytes) -> None:
        self._port.write(data)

    def _recv_line(self) -> bytes:
        rx, term, port = self._rx, self._term, self._port
        deadline = time.monotonic() + self.timeout
        scanned = 0
        while True:
            end = rx.find(term, scanned)
            if end >= 0:
                line = bytes(rx[:end])
                del rx[: end + len(term)]
                return line
            scanned = max(0, len(rx) - len(term) + 1)
            if time.monotonic() > deadline:
                raise TimeoutError("no termination received")
            rx += port.read(port.in_waiting or 1)

    def _recv_into(self, view: memoryview) -> None:
        done = min(len(self._rx), len(view))
        view[:done] = self._rx[:done]
        del self._rx[:done]
        deadline = time.monotonic() + self.timeout
        while done < len(view):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{done} of {len(view)} bytes received")
            chunk = self._port.read(len(view) - done)
            view[done : done + len(chunk)] = chunk
            done += len(chunk)

    def _discard_input(self) -> None:
        self._rx.clear()
        self._port.reset_input_buffer()

    def _classify(self, error: BaseException) -> tuple[type[TransportError] | None, str]:
        import serial

        if isinstance(error, (TimeoutError, serial.SerialTimeoutException)):
            return TransportTimeout, str(error)
        if isinstance(error, (serial.SerialException, OSError)):
            return DeviceDisconnected, str(error)
        return None, ""


def open_transport(resource: str, **settings: Any) -> Transport:
    """Open the transport a resource string calls for: VISA for VISA resources, serial for ports and URLs."""
    from .resources import resource_kind

    if resource_kind(resource) == "visa":
        return VisaTransport(resource, **settings)
    return SerialTransport(resource, **settings)
