"""Shared fixtures: the SpecPy oracle (a subprocess running Imspector's own wheel)."""

from __future__ import annotations

import pytest

from tests.oracle.harness import Oracle, ensure_installed


@pytest.fixture(scope="session")
def oracle(tmp_path_factory: pytest.TempPathFactory):
    """The real SpecPy in a subprocess; the test skips, saying why, where it cannot be installed."""
    reason = ensure_installed()
    if reason:
        pytest.skip(f"SpecPy oracle unavailable: {reason}")
    process = Oracle(tmp_path_factory.mktemp("oracle"))
    yield process
    process.close()
