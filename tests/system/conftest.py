"""The system fixtures: a lab (broker and services in subprocesses on loopback) stopped by PID after the test."""

from __future__ import annotations

import pytest

from .harness import Lab


@pytest.fixture
def lab(tmp_path):
    """An empty lab: the test starts the broker and services it needs; everything is stopped afterwards."""
    started = Lab(tmp_path)
    yield started
    started.stop()
