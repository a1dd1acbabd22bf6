"""Memory the instruments write into: have its pages ready before the bytes arrive.

The first write to a page the process has never touched costs a page fault, and the kernel zero-fills the page
(for a file mapping, a page-cache page) first. For a 512 x 512 frame landing in a fresh part of a stack that is
about 1 ms of kernel time on a 2-core VM, paid while the reply streams in. `populate` pays it up front, at a
moment the caller chooses (while the instrument is still computing), so that the reply is one plain copy.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import sys

import numpy as np

_MADV_POPULATE_WRITE = 23  # Linux >= 5.14: fault the range in writable without touching its contents


class _Madvise:
    """libc's madvise, looked up once; switched off for good when the kernel does not know the advice."""

    def __init__(self) -> None:
        self.call = None
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                call = libc.madvise
            except (OSError, AttributeError):
                return
            call.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
            call.restype = ctypes.c_int
            self.call = call


_madvise = _Madvise()


def populate(array: np.ndarray) -> bool:
    """Fault in the pages under `array` writable now (its contents are unchanged); False where the system cannot.

    ctypes releases the GIL for the call, so other threads run meanwhile.
    """
    call = _madvise.call
    if call is None or array.nbytes == 0 or not array.flags.c_contiguous:
        return False
    start = array.__array_interface__["data"][0]
    first = start - start % mmap.PAGESIZE
    if call(first, start + array.nbytes - first, _MADV_POPULATE_WRITE) != 0:
        if ctypes.get_errno() == errno.EINVAL:  # a kernel without MADV_POPULATE_WRITE: do not ask again
            _madvise.call = None
        return False
    return True
