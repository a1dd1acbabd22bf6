"""A stack's SpecPy metadata as JSON, so that formats without a place for it (FITS, OME-TIFF) carry it exactly."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from ..errors import ValidationError
from ..stack import Stack

MARKER = "specpy-stack-metadata/1"


def stack_metadata(stack: Stack) -> dict[str, Any]:
    """Everything but the data: name, description, shape, per-axis labels/lengths/offsets/units, value unit, tags."""
    axes = range(stack.number_of_dimensions())
    return {"format": MARKER, "name": stack.name(), "description": stack.description(), "shape": stack.shape(),
            "dtype": np.dtype(stack.type()).name, "labels": stack.labels(), "lengths": stack.lengths(),
            "offsets": stack.offsets(), "units": [stack.unit(axis) for axis in axes], "value_unit": stack.value_unit(),
            "tags": stack.tags(), "parameters": stack.parameters()}


def metadata_text(stack: Stack) -> str:
    """`stack_metadata` as compact ASCII JSON (fits a FITS header card or an OME Description)."""
    return json.dumps(stack_metadata(stack), ensure_ascii=True, separators=(",", ":"))


def parse_metadata(text: str | None) -> dict[str, Any] | None:
    """The metadata dict if `text` is one written by `metadata_text`, else None (a file from elsewhere)."""
    if not text or not text.lstrip().startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and value.get("format") == MARKER else None


def stack_from(data: np.ndarray, metadata: dict[str, Any]) -> Stack:
    """A Stack of `data` (numpy order) with the metadata restored; ValidationError if they disagree."""
    shape = [int(size) for size in metadata["shape"]]
    if int(np.prod(shape, dtype=np.int64)) != data.size:
        raise ValidationError(f"stack {metadata.get('name')!r}: the metadata says shape {shape}, the data has "
                          f"{data.size} elements")
    stack = Stack(np.ascontiguousarray(data).reshape(tuple(reversed(shape))))
    stack.set_name(str(metadata.get("name", "")))
    stack.set_description(str(metadata.get("description", "")))
    stack.set_labels(metadata.get("labels", []))
    stack.set_lengths(metadata.get("lengths", []))
    stack.set_offsets(metadata.get("offsets", []))
    for axis, unit in enumerate(metadata.get("units", [])):
        stack.set_unit(axis, unit)
    stack.set_value_unit(metadata.get("value_unit", ""))
    for key, value in (metadata.get("tags") or {}).items():
        stack.set_tag(key, value)
    if metadata.get("parameters"):
        stack.set_parameters("", metadata["parameters"])
    return stack


def set_axes(stack: Stack, labels: list[str], pixel_sizes: list[float | None], units: list[str],
             origins: list[float | None]) -> Stack:
    """Set per-axis labels and, where known, pixel sizes, units and offsets (the edge of the first pixel)."""
    for axis, (label, pixel, unit, origin) in enumerate(zip(labels, pixel_sizes, units, origins)):
        stack.set_label(axis, label)
        if pixel is not None and np.isfinite(pixel) and pixel != 0:
            stack.set_length(axis, pixel * stack.size(axis))
            stack.set_offset(axis, origin if origin is not None else 0.0)
        if unit:
            stack.set_unit(axis, unit)
    return stack
