"""The typed errors of instrument I/O; each names the resource and the command it happened on."""

from __future__ import annotations

from specpy.errors import Error


class TransportError(Error, OSError):
    """Instrument I/O failed; `resource` and `command` say where."""

    def __init__(self, resource: str, command: str | None, detail: str):
        self.resource, self.command, self.detail = resource, command, detail
        during = f" during {command!r}" if command else ""
        super().__init__(f"{resource}{during}: {detail}")


class TransportTimeout(TransportError, TimeoutError):
    """The instrument did not answer (or accept a write) within the transport's timeout."""


class DeviceDisconnected(TransportError, ConnectionError):
    """The connection is gone (unplugged serial adapter, closed socket) or not yet re-established."""


class DeviceError(Error, RuntimeError):
    """The instrument itself reported an error (its SCPI error queue, an ERR-/:N- reply, a fault word).

    `code` is the instrument's error number, or None for instruments that answer with words only.
    """

    def __init__(self, device: str, command: str | None, code: int | None, message: str):
        self.device, self.command, self.code, self.message = device, command, code, message
        after = f" after {command!r}" if command else ""
        number = f" {code}" if code is not None else ""
        super().__init__(f"{device}: instrument error{number} {message!r}{after}")


class InterlockOpen(DeviceError):
    """A laser refused to emit (or stopped) because its safety interlock is open."""


class LimitSwitchHit(DeviceError):
    """A stage axis hit its limit switch and refuses moves until it is homed."""


class WaitTimeout(Error, TimeoutError):
    """An instrument answered but did not reach the awaited state (idle, settled, emitting) in time."""

    def __init__(self, device: str, what: str, timeout: float, last: str = ""):
        self.device, self.what, self.timeout, self.last = device, what, timeout, last
        seen = f" (last seen: {last})" if last else ""
        super().__init__(f"{device}: not {what} after {timeout:g} s{seen}")
