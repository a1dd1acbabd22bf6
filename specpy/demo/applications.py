"""Where the demo's application comes from: a `specpy serve` service on loopback, or the local one (--local).

`open_application(rig, local, data)` yields an application exactly as a lab script gets one,
through `get_application(...)`, and afterwards closes it and stops what it started (the service
process, or the local application's simulated rig), however the block ends.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


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
def remote_application(rig: Path, data: Path) -> Iterator[Any]:
    """`specpy serve rig` on a free loopback port (its files under `data`), and `get_application("localhost:PORT")`."""
    from ..application import get_application
    from .service import loopback_service

    with loopback_service(rig, data) as service:
        application = get_application(f"localhost:{service.port}")
        try:
            yield application
        finally:
            application.close_connection()


@contextmanager
def open_application(rig: Path, local: bool, data: Path) -> Iterator[Any]:
    """The demo's application: the local one with `local`, else a service the demo starts (and stops) on loopback."""
    with (local_application(rig) if local else remote_application(rig, data)) as application:
        yield application
