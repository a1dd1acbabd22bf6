"""`specpy info FILE`: a readable summary of an .obf/.msr file, without loading any data."""

from __future__ import annotations

import os

from .obf import File
from .stack import Stack


def stack_summary(index: int, stack: Stack) -> list[str]:
    """Lines describing one stack: name, type, shape, pixel sizes with units, labels, progress."""
    rank = len(stack.shape())
    axes = []
    for axis in range(rank):
        label = stack.label(axis) or f"axis {axis}"
        unit = stack.unit(axis)
        axes.append(f"{label}: {stack.size(axis)} x {stack.pixel_size(axis):.4g}{' ' + unit if unit else ''}")
    meta = stack.meta_data()
    lines = [f"[{index}] {stack.name() or '(unnamed)'}  {meta['type']}  shape {stack.shape()}"]
    if stack.description():
        lines.append(f"    description: {stack.description()}")
    lines.append("    " + "; ".join(axes))
    if meta["value_unit"]:
        lines.append(f"    values in {meta['value_unit']}")
    written, total = meta["samples_written"], stack.number_of_elements()
    if written < total:
        lines.append(f"    partial: {written} of {total} samples written, the rest reads as zeros")
    if meta["tags"]:
        lines.append(f"    tags: {', '.join(sorted(meta['tags']))}")
    if meta["parameters"]:
        lines.append(f"    parameters: {', '.join(sorted(meta['parameters']))}")
    return lines


def print_file_summary(path: str | os.PathLike) -> int:
    """Print the summary of every stack in the file; returns the process exit code."""
    with File(path, File.Read) as f:
        print(f"{os.fspath(path)}: {f.number_of_stacks()} stacks, {os.path.getsize(path)} bytes")
        if f.description():
            print(f"description: {f.description()}")
        for index in range(f.number_of_stacks()):
            print("\n".join(stack_summary(index, f.read(index))))
    return 0
