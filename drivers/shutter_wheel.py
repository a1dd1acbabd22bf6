"""The shutter and filter-wheel controller (Thorlabs FW102C/SC10-style firmware on serial): the echo and the
'> ' prompt handled per exchange, shutter open/closed, filter position 1..N (N read from the device)."""

from __future__ import annotations

from specpy.tree import Bool, Enum, Float, Int, Str

from .base import Driver
from .control import Control
from .errors import DeviceError, TransportError
from .waiting import poll_until

#: The controller's `err?` codes.
FAULTS = {1: "shutter sensor timeout", 2: "wheel homing failed", 3: "index mismatch"}
#: Seconds between `stat?` polls while waiting for a move to settle: the firmware settles in a few ms
#: (10 ms shutter, 20 ms wheel), so a finer poll ends each wait within ~1 ms of the settle.
SETTLE_POLL = 0.001


class ShutterWheel(Driver):
    """A shutter plus filter-wheel controller (FW102C-style echo and '> ' prompt): shutter/open, filter/position."""

    RESOURCE_KINDS = ("serial",)
    IDENTIFY = "*idn?"
    OPTIONS = {
        # One reply is everything up to the prompt: the echoed command, CR, the answer line (if any), CR.
        "read_termination": Str(default="> ", description="the controller's prompt ends every reply"),
        "write_termination": Str(default="\r", description="end of every command"),
        "baud_rate": Int(min=50, max=4_000_000, default=115200, description="serial ports only"),
        "settle_timeout": Float(unit="s", min=0.001, max=600.0, default=10.0, description="default settling wait"),
    }
    PARAMETERS = {
        "filter": {"position": Control(Int(min=1, description="filter in the beam (1..N, N read at connect)"),
                                       get="pos?", set="pos={}")},
    }
    STATES = {
        "shutter": {"open": Control(Bool(description="shutter commanded open"), get="ens?", set="ens={}")},
        "status": Control(Enum(["settled", "moving", "fault"], read_only=True), get="stat?"),
        "error": Control(Int(read_only=True, description="0 none, 1 shutter timeout, 2 homing failed, 3 index"),
                         get="err?"),
    }

    def on_connect(self) -> None:
        """Read the number of filters (the position's limit), wait for power-on homing to end, read every value."""
        count = int(self.ask("pcount?", idempotent=True))
        self._filters = count
        self.refine("filter/position", Int(min=1, max=count, description="filter in the beam"))
        self.wait_until_settled()
        self.refresh()

    def filter_count(self) -> int:
        """How many filter positions the wheel has."""
        return self._filters

    # -- the exchange: '<command>\r' echoed, then '<answer>\r' if any, then the prompt '> ' -------------------
    def _query(self, command: str) -> str:
        chunk = self._io().query(command)
        echo, _, answer = chunk.partition("\r")
        if echo != command:
            self._desynced = True
            raise TransportError(self.resource, command, f"the controller echoed {echo!r}, not the command")
        answer = answer[:-1] if answer.endswith("\r") else answer
        if answer.startswith("CMD_"):
            raise DeviceError(self.name, command, None, answer)
        return answer

    def _command(self, command: str) -> None:
        answer = self._query(command)
        if answer:
            raise DeviceError(self.name, command, None, f"unexpected answer {answer!r}")

    # -- actions ------------------------------------------------------------------------------------
    def open_shutter(self, wait: bool = True) -> None:
        """Open the shutter (and wait until its sensor agrees, unless wait=False)."""
        self.states.set("shutter/open", True)
        if wait:
            self.wait_until_settled()

    def close_shutter(self, wait: bool = True) -> None:
        """Close the shutter (and wait until its sensor agrees, unless wait=False)."""
        self.states.set("shutter/open", False)
        if wait:
            self.wait_until_settled()

    def select_filter(self, n: int, wait: bool = True, timeout: float | None = None) -> None:
        """Move the wheel to filter n (validated against 1..N before sending) and wait until it has settled.

        A wheel that has settled at filter n already is not moved (no steps, so nothing to settle).
        """
        self.parameters.leaf("filter/position").check("filter/position", n)
        self.wait_until_settled(timeout)  # a move while moving would be refused (CMD_BUSY)
        if self.parameters.read("filter/position") == n:
            return
        self.parameters.set("filter/position", n)
        if wait:
            self.wait_until_settled(timeout)
            self.parameters.read("filter/position")

    def wait_until_settled(self, timeout: float | None = None) -> None:
        """Block until shutter and wheel have settled; DeviceError naming the fault if the controller faults."""
        def settled() -> tuple[bool, str]:
            status = self.states.read("status")
            if status == "fault":
                code = self.states.read("error")
                raise DeviceError(self.name, "stat?", code, f"FAULT: {FAULTS.get(code, 'unknown')} (send clear_fault)")
            return status == "settled", status

        poll_until(self.name, "settled", settled, self.options["settle_timeout"] if timeout is None else timeout,
                   SETTLE_POLL)

    def clear_fault(self, wait: bool = True) -> None:
        """Clear a fault: the wheel re-homes and the shutter is driven closed."""
        self.send("clr")
        if wait:
            self.wait_until_settled()

    def device_problems(self) -> list[str]:
        """A fault the controller reports, as text."""
        code = self.states.read("error")
        return [f"fault {code}: {FAULTS.get(code, 'unknown')}"] if code else []

    def _restore(self) -> None:
        """After a replug the controller re-homes first; wait for that, then re-send the filter position."""
        self._desynced = False
        poll_until(self.name, "settled after power-on", lambda: (self._query("stat?") == "SETTLED", "homing"),
                   self.options["settle_timeout"])
        super()._restore()
