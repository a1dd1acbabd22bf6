"""Measurement parameters (and the fresh-measurement fixture body) the local and the remote suites share."""

from collections.abc import Iterator
from typing import Any

# A 32 x 32 field with beads in it, bright enough for ratios of counts to mean something.
BEAD_FIELD = {"scan": {"x": {"length": 3.2e-6, "pixel_size": 100e-9}, "y": {"length": 3.2e-6, "pixel_size": 100e-9},
                       "dwell_time": 50e-6},
              "channels": {"excitation": {"power": 2e-3}}}


def fresh_measurement(app: Any) -> Iterator[Any]:
    """A new measurement of `app` (local or remote) on BEAD_FIELD, closed afterwards if the test left it open."""
    m = app.create_measurement()
    m.set_parameters("", BEAD_FIELD)
    yield m
    if m.name() in app.measurement_names():
        app.close(m)
