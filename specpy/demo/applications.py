"""Where the demo's application comes from: the local one now, the service on loopback once it exists.

`open_application(rig, local)` yields an application exactly as a lab script gets one, through
`get_application(...)`, and shuts it (and the simulated rig it started) down afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import Error

SERVICE_PENDING = ("the demo through the headless service on loopback needs the remote service (issue 6), "
                   "which this version does not have yet; run it with the local application (--local)")


@contextmanager
def local_application(rig: Path) -> Iterator[Any]:
    """The local application on `rig` (its simulator starts with it), shut down on leaving."""
    from ..application import get_application

    application = get_application(rig=rig)
    try:
        yield application
    finally:
        application.shutdown()


@contextmanager
def open_application(rig: Path, local: bool) -> Iterator[Any]:
    """The demo's application: local with `local`; else (once issue 6 lands) a service the demo starts on loopback."""
    if not local:
        raise Error(SERVICE_PENDING)
    with local_application(rig) as application:
        yield application
