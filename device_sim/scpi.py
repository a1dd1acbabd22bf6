"""The SCPI instrument core shared by the scan controller and the photon counter: message
parsing, IEEE 488.2 common commands, the standard error queue and definite-length blocks."""

from __future__ import annotations

import sys
import threading
from collections import deque

from device_sim.commands import CommandError, CommandTable, dispatch, split_units
from device_sim.endpoint import Served
from device_sim.faults import Faults
from device_sim.streamed import Streamed, definite_block, join_replies
from device_sim.tcp_server import TcpServer
from device_sim.world import World

QUEUE_DEPTH = 30


class ScpiDevice(Served):
    """Base of the SCPI instruments. Subclasses name their table and implement its handlers
    (q_<name>, do_<name>), reset() for *RST and busy_until() for *OPC?."""

    TABLE: str = ""

    def __init__(self, world: World, faults: Faults | None = None) -> None:
        """Load the common table plus the subclass table, and prepare the TCP endpoint."""
        self.world = world
        self.table = CommandTable.load("scpi_common", self.TABLE)
        self.table.check_handlers(self)
        self.errors: deque[tuple[int, str]] = deque()
        self.esr = 0
        self.lock = threading.RLock()
        self.refuse = 0  # the next settings/actions to refuse with a device-specific error (an injected fault)
        self.server = TcpServer(self.process, faults)

    def process(self, raw: bytes) -> bytes | Streamed | None:
        """Execute one program message; the reply line (with "\\n") or None if nothing to say."""
        replies: list[bytes | Streamed] = []
        with self.lock:
            try:
                units = split_units(raw.decode("ascii"))
            except UnicodeDecodeError:
                units = []
                self.push_error("syntax", "non-ASCII bytes in the command")
            except CommandError as exc:
                units = []
                self.push_error(exc.kind, exc.detail)
            for unit in units:
                try:
                    if self.refuse > 0 and not unit.query:
                        self.refuse -= 1
                        raise CommandError("device", f"injected fault: {unit.header} refused")
                    reply = dispatch(self.table, self, unit)
                except CommandError as exc:
                    self.push_error(exc.kind, exc.detail)
                    break  # IEEE 488.2: an error discards the rest of the message
                except Exception as exc:  # a handler bug is a device error, never a dead server
                    print(f"device_sim: {type(self).__name__}: {exc!r}", file=sys.stderr)
                    self.push_error("device", repr(exc))
                    break
                if reply is not None:
                    replies.append(definite_block(reply) if isinstance(reply, (bytes, Streamed)) else reply.encode())
        return join_replies(replies) if replies else None

    def device_error(self, kind: str, value: object = 1) -> None:
        """"error": the next `value` settings or actions (not queries) fail with -300 Device-specific error."""
        if kind != "error":
            super().device_error(kind, value)
        with self.lock:
            self.refuse = int(value if value is not None else 1)

    def push_error(self, kind: str, detail: str = "") -> None:
        """Queue a standard error (code and text from the table) and set its ESR bit."""
        code, text = self.table.sections["errors"][kind]
        message = f"{text};{detail}" if detail else text
        if len(self.errors) >= QUEUE_DEPTH:
            self.errors[-1] = (-350, "Queue overflow")
        else:
            self.errors.append((int(code), message.replace('"', "'")))
        self.esr |= {1: 32, 2: 16, 3: 8, 4: 4}.get(-int(code) // 100, 0)

    # --- IEEE 488.2 common commands and SYSTem:ERRor (rows in tables/scpi_common.toml) ---

    def q_idn(self) -> str:
        """*IDN?: maker, model, serial, firmware."""
        return self.table.sections["instrument"]["idn"]

    def do_rst(self, _: None) -> None:
        """*RST: the instrument's power-on settings (the error queue stays)."""
        self.reset()

    def do_cls(self, _: None) -> None:
        """*CLS: clear the error queue and the event status register."""
        self.errors.clear()
        self.esr = 0

    def q_opc(self) -> int:
        """*OPC?: 1 once every pending operation (a frame, an acquisition) has finished."""
        self.wait_idle()
        return 1

    def do_wai(self, _: None) -> None:
        """*WAI: hold further commands until pending operations finish."""
        self.wait_idle()

    def q_esr(self) -> int:
        """*ESR?: read and clear the event status register."""
        value, self.esr = self.esr, 0
        return value

    def q_tst(self) -> int:
        """*TST?: self-test, 0 = passed."""
        return 0

    def q_error(self) -> str:
        """SYSTem:ERRor[:NEXT]?: the oldest error, or 0,"No error"."""
        code, text = self.errors.popleft() if self.errors else (0, "No error")
        return f'{code},"{text}"'

    def wait_idle(self) -> None:
        """Block (on the simulated clock) until busy_until() has passed."""
        self.wait_until(self.busy_until())

    def wait_until(self, t_sim: float) -> None:
        """Block until simulated time t_sim; give up if the endpoint is unplugged or stopped."""
        while not self.world.clock.wait_until(t_sim, timeout=0.1):
            if not self.server.running:
                raise CommandError("execution", "interrupted: instrument disconnected")

    def busy_until(self) -> float:
        """Simulated time at which pending operations finish (subclasses override)."""
        return 0.0

    def reset(self) -> None:
        """Power-on settings (subclasses override)."""
