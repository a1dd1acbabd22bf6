"""A pty standing in for a USB-serial adapter: clients open a stable symlink to its slave;
unplug closes the pty and removes the link, replug creates a new pty and re-points the link.

A real USB-serial replug brings the device back under the same name (a udev rule's
/dev/serial/by-id/... link); the pty number changes, the symlink path does not, so a driver
that reopens its configured path after an unplug finds the device again.
"""

from __future__ import annotations

import os
import tty
from pathlib import Path


class PtyPort:
    """The master side of a pty, owned by the simulator, reached by clients via `link`."""

    def __init__(self, link: Path) -> None:
        """Remember where the stable symlink goes; open() creates the pty."""
        self.link = Path(link)
        self.master: int | None = None
        self._keeper: int | None = None
        self.device = ""

    def open(self) -> int:
        """Create the pty (raw, no echo), point the link at its slave; the master fd."""
        master, slave = os.openpty()
        tty.setraw(slave)
        self.device = os.ttyname(slave)
        os.set_blocking(master, False)
        # The simulator keeps one slave fd open, so the master never sees a hang-up between clients.
        self.master, self._keeper = master, slave
        tmp = self.link.with_name(self.link.name + ".new")
        tmp.unlink(missing_ok=True)
        os.symlink(self.device, tmp)
        os.replace(tmp, self.link)
        return master

    def close(self) -> None:
        """Unplug: remove the link and close both fds (clients get EIO / "returned no data")."""
        self.link.unlink(missing_ok=True)
        for fd in (self.master, self._keeper):
            if fd is not None:
                os.close(fd)
        self.master = self._keeper = None
