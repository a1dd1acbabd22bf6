"""A generic SCPI (IEEE 488.2) instrument: identity, reset, clear, operation complete and the error queue.

Usable as is for any SCPI instrument (`driver = "scpi"` in a rig file) and the base of the
instrument-specific SCPI drivers, which add their PARAMETERS and STATES.
"""

from __future__ import annotations

import re

from specpy.tree import Bool

from .base import Driver
from .errors import DeviceDisconnected, DeviceError, TransportError

_ERROR = re.compile(r"\s*([+-]?\d+)\s*,\s*\"?(.*?)\"?\s*\Z")


class ScpiInstrument(Driver):
    """Any SCPI instrument: *IDN?, *RST, *CLS, *OPC? and SYST:ERR? checked after every write."""

    OPTIONS = {"check_errors": Bool(default=True, description="query SYST:ERR? after every write")}
    #: How many error-queue entries one drain reads at most (a queue that never empties is a fault).
    MAX_ERRORS = 32

    def reset(self) -> None:
        """Reset the instrument (*RST), forget the settings sent so far, and re-read every value."""
        self._io().write("*RST")
        with self._sent_lock:
            self._sent.clear()
        self.refresh()

    def clear(self) -> None:
        """Clear the status registers and the error queue (*CLS)."""
        self._io().write("*CLS")

    def wait_complete(self) -> None:
        """Block until the instrument has finished pending operations (*OPC?), within the timeout."""
        self._io().query("*OPC?")

    def execute(self, command: str) -> None:
        """Send an action (INIT, ABOR) and check the error queue even with check_errors off: a refusal must show."""
        transport = self._io()
        with transport.lock:
            self._resync_if_needed()
            try:
                self._send_checked(command)
            except DeviceDisconnected:
                raise
            except TransportError:
                self._desynced = True
                raise

    def errors(self) -> list[tuple[int, str]]:
        """Drain the error queue: every (code, message) the instrument has queued, oldest first."""
        found: list[tuple[int, str]] = []
        transport = self._io()
        with transport.lock:
            for _ in range(self.MAX_ERRORS):
                code, message = self._parse_error(transport.query("SYST:ERR?"))
                if code == 0:
                    break
                found.append((code, message))
        return found

    def device_problems(self) -> list[str]:
        """The queued instrument errors, as text."""
        return [f"instrument error {code} {message!r}" for code, message in self.errors()]

    def _command(self, command: str) -> None:
        """One setting on the wire (lock held); with check_errors, the error-queue check goes in the same write."""
        if self.options["check_errors"]:
            self._send_checked(command)
        else:
            self._io().write(command)

    def _send_checked(self, command: str) -> None:
        """`command` and the error-queue query in one write; DeviceError if it was refused (lock held)."""
        self._raise_if_error(command, self._io().query_after(command, "SYST:ERR?"))

    def check_device(self, command: str) -> None:
        """After a write: raise DeviceError if the instrument queued an error for it (unless check_errors is off)."""
        if self.options["check_errors"]:
            self._raise_queued(command)

    def _raise_queued(self, command: str) -> None:
        """Read one error-queue entry; DeviceError naming `command` if there was one (lock held)."""
        self._raise_if_error(command, self._io().query("SYST:ERR?"))

    def _raise_if_error(self, command: str, reply: str) -> None:
        """DeviceError naming `command` if the error-queue reply `reply` holds an error."""
        code, message = self._parse_error(reply)
        if code:
            raise DeviceError(self.name, command, code, message)

    def _parse_error(self, reply: str) -> tuple[int, str]:
        match = _ERROR.match(reply)
        if not match:
            raise DeviceError(self.name, "SYST:ERR?", -1, f"unreadable error-queue reply {reply!r}")
        return int(match.group(1)), match.group(2)
