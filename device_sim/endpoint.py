"""What every simulated instrument offers the Rig: start/stop, its address, wire faults,
unplug/replug and device errors, delegated to the server that owns its endpoint."""

from __future__ import annotations

from typing import Any

from device_sim.pty_port import PtyPort


class Served:
    """Mixin for instruments whose endpoint is `self.server` (TcpServer or SerialLineServer)."""

    server: Any

    @property
    def faults(self) -> Any:
        """This instrument's wire faults (latency, drop, garble, ...)."""
        return self.server.faults

    @property
    def pty(self) -> PtyPort | None:
        """The pty behind a serial endpoint (None for TCP)."""
        port = getattr(self.server, "port", None)
        return port if isinstance(port, PtyPort) else None

    @property
    def address(self) -> str:
        """The VISA resource string of the endpoint."""
        return self.server.address

    def start(self) -> None:
        """Open the endpoint and serve it."""
        self.server.start()

    def stop(self) -> None:
        """Close the endpoint and join its threads."""
        self.server.stop()

    def unplug(self) -> None:
        """Disconnect the endpoint (clients see EOF / EIO)."""
        self.server.unplug()

    def replug(self) -> None:
        """Reconnect the endpoint at the same address."""
        self.server.replug()

    def device_error(self, kind: str, value: Any = None) -> None:
        """Inject a device error; instruments with device errors override this."""
        raise ValueError(f"{type(self).__name__} has no device error {kind!r}")
