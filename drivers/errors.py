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
    """The instrument itself reported an error (for example from its SCPI error queue)."""

    def __init__(self, device: str, command: str | None, code: int, message: str):
        self.device, self.command, self.code, self.message = device, command, code, message
        after = f" after {command!r}" if command else ""
        super().__init__(f"{device}: instrument error {code} {message!r}{after}")
