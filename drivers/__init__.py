"""Pluggable drivers for real instruments, over VISA (pyvisa) or serial (pyserial).

A driver subclasses Driver and declares its PARAMETERS and STATES as Controls (a specpy.tree
schema plus the commands that read and write it). Drivers are found by the registry through the
`specpy.drivers` entry-point group or a dotted path. This package imports specpy.tree, pyvisa and
pyserial only; it never imports the simulator.
"""

from .base import Driver, Health
from .control import Control
from .errors import (
    DeviceDisconnected, DeviceError, InterlockOpen, LimitSwitchHit, TransportError, TransportTimeout, WaitTimeout,
)
from .transport import SerialTransport, Transport, VisaTransport, open_transport

__all__ = [
    "Control", "DeviceDisconnected", "DeviceError", "Driver", "Health", "InterlockOpen", "LimitSwitchHit",
    "SerialTransport", "Transport", "TransportError", "TransportTimeout", "VisaTransport", "WaitTimeout",
    "open_transport",
]
