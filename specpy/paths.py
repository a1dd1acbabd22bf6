"""Where specpy keeps its files by default: one data directory for databases, products and autosaves."""

from __future__ import annotations

import os
from pathlib import Path


def data_directory() -> Path:
    """$SPECPY_DATA, else $XDG_DATA_HOME/specpy, else ~/.local/share/specpy (not created here)."""
    if os.environ.get("SPECPY_DATA"):
        return Path(os.environ["SPECPY_DATA"])
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "specpy"
