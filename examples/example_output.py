"""Where the examples write: the directory given on the command line, else $SPECPY_EXAMPLES_OUT, else ./specpy-examples."""

from __future__ import annotations

import os
from pathlib import Path


def output_directory(argv: list[str], position: int = 1) -> Path:
    """The output directory (argv[position], $SPECPY_EXAMPLES_OUT or ./specpy-examples), created if missing."""
    if len(argv) > position:
        folder = Path(argv[position])
    else:
        folder = Path(os.environ.get("SPECPY_EXAMPLES_OUT", "specpy-examples"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder
