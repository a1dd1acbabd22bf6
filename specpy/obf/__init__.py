"""Imspector's .obf/.msr file format, in pure Python and numpy.

`File` is the SpecPy file object; `StackWriter` writes a stack while it fills. The layout is
described in docs/obf_format.md.
"""

from .file import File
from .writer import StackWriter, flush_block_size

__all__ = ["File", "StackWriter", "flush_block_size"]
