"""The oracle: Imspector's own SpecPy wheel, installed apart from ours and driven in a subprocess.

Its import name collides with ours, so it lives in its own target directory (SPECPY_ORACLE_DIR,
default `.oracle` in the repository) and runs `driver.py` with only that directory on its path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

ORACLE_REQUIREMENT = "specpy==2026.20.24464"
REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("driver.py")


def oracle_dir() -> Path:
    return Path(os.environ.get("SPECPY_ORACLE_DIR", REPO / ".oracle"))


def ensure_installed() -> str | None:
    """Install the oracle wheel if it is not there; return why it cannot be used, or None."""
    target = oracle_dir()
    if (target / "specpy").is_dir():
        return None
    if sys.version_info[:2] != (3, 11) or sys.platform != "linux":
        return f"the oracle wheel is for CPython 3.11 on Linux x86-64; this is {sys.version.split()[0]} on {sys.platform}"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), ORACLE_REQUIREMENT],
        capture_output=True, text=True, timeout=600,
    )
    if result.returncode != 0 or not (target / "specpy").is_dir():
        return f"pip could not install {ORACLE_REQUIREMENT}: {result.stderr.strip()[-500:]}"
    return None


class Oracle:
    """One running oracle process; `write` and `read` files with the real SpecPy."""

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self._count = 0
        environment = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        environment["PYTHONPATH"] = str(oracle_dir())
        environment["PYTHONNOUSERSITE"] = "1"
        self._process = subprocess.Popen(
            [sys.executable, str(DRIVER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            text=True, env=environment, cwd=str(DRIVER.parent),
        )

    def _call(self, request: dict[str, Any]) -> Any:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        line = self._process.stdout.readline()
        if not line:
            raise RuntimeError(f"the oracle process died (exit code {self._process.wait()})")
        reply = json.loads(line)
        if "error" in reply:
            raise OracleError(reply["error"])
        return reply["ok"]

    def _npy(self, array: np.ndarray) -> str:
        self._count += 1
        path = self.scratch / f"in_{self._count}.npy"
        np.save(path, array, allow_pickle=False)
        return str(path)

    def version(self) -> str:
        return self._call({"op": "version"})

    def write(self, path: Path, stacks: list[dict[str, Any]], description: str | None = None, mode: int = 1,
              tolerate_errors: bool = False) -> list[str]:
        """Write stacks given as dicts: data (array), compression, and optional labels/lengths/offsets.

        With `tolerate_errors`, errors of single writes are returned instead of raised.
        """
        items = []
        for stack in stacks:
            item = {k: v for k, v in stack.items() if k != "data"}
            item["npy"] = self._npy(stack["data"])
            items.append(item)
        request = {"op": "write", "path": str(path), "stacks": items, "description": description, "mode": mode,
                   "tolerate_errors": tolerate_errors}
        return self._call(request)["errors"]

    def read(self, path: Path) -> dict[str, Any]:
        """Read a file with the oracle: description and per stack metadata plus `data` (an array)."""
        self._count += 1
        result = self._call({"op": "read", "path": str(path), "out": str(self.scratch / f"out_{self._count}")})
        for stack in result["stacks"]:
            stack["data"] = np.load(stack.pop("npy"), allow_pickle=False)
        return result

    def close(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


class OracleError(Exception):
    """The real SpecPy raised an error."""
