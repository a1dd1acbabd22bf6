"""Keep freed heap memory in the process while fitting: faulting it back in costs more than the arithmetic.

A batch fit allocates and frees megabytes of chunk temporaries per iteration. With glibc's start
settings those blocks are mmap-ed and returned to the kernel on every free, so each new temporary
is page-faulted in again (measured: about half of a linearisation on a virtual machine, and the two
worker threads then serialise on the kernel's memory-map lock). glibc raises its thresholds by
itself once a large block is freed; this sets them to the caps that heuristic reaches (mmap above
32 MiB, trim above 64 MiB), so a fit does not depend on what the process freed before.
"""

from __future__ import annotations

import ctypes
import functools
import os
import platform

M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's malloc.h
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 2**20  # DEFAULT_MMAP_THRESHOLD_MAX on 64-bit glibc
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what glibc's dynamic rule sets beside it
USER_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "GLIBC_TUNABLES")


@functools.cache
def retain_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; False where there is no glibc or the user set them."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc" or any(v in os.environ for v in USER_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # pragma: no cover - a static or unusual libc
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
