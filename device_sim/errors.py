"""Errors raised by the simulated hardware; instruments turn them into protocol errors."""

from __future__ import annotations


class DeviceError(Exception):
    """The simulated hardware refuses an operation (interlock open, limit switch hit, ...)."""
