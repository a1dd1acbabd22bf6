"""Task: a named analysis step with parameters, inputs and a code version, identified by a SHA-256 key.

The key is the SHA-256 of the canonical JSON of (name, parameters, inputs, major.minor version):
a patch release keeps every key (and so every product), a minor release makes new ones. The
full 64-digit digest is stored; nothing is truncated.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from .. import __version__
from ..stack import Stack
from .acquisition import stack_record
from .canonical import canonical, canonical_json, sha256_text
from .errors import TaskError

NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
HEX64 = re.compile(r"[0-9a-f]{64}")
VERSION = re.compile(r"(\d+)\.(\d+)(?:\.\d+)?\S*")


@dataclass(frozen=True)
class Input:
    """One input of a task: a role name, the content SHA-256, and (for stacks) the acquisition row values."""

    role: str
    sha256: str
    acquisition: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.role, str) or not NAME.fullmatch(self.role):
            raise TaskError(f"input role {self.role!r} must be 1-64 characters: a letter, then letters, digits, '_', '.', '-'")
        if not isinstance(self.sha256, str) or not HEX64.fullmatch(self.sha256):
            raise TaskError(f"input {self.role!r}: sha256 must be 64 lower-case hex digits, got {self.sha256!r}")

    @classmethod
    def from_stack(cls, stack: Stack, role: str, file: str | None = None, file_sha256: str | None = None) -> Input:
        """The input for a stack, hashed now (before any analysis), optionally with the file it came from."""
        record = stack_record(stack)
        record["file_path"] = file
        record["file_sha256"] = file_sha256
        return cls(role, record["sha256"], record)


@dataclass(frozen=True)
class Task:
    """A named analysis step: parameters, inputs and code version; `key` identifies its outputs."""

    name: str
    parameters: Mapping[str, Any] = field(default_factory=dict)
    inputs: Sequence[Input] = ()
    version: str = __version__

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME.fullmatch(self.name):
            raise TaskError(f"task name {self.name!r} must be 1-64 characters: a letter, then letters, digits, '_', '.', '-'")
        if not isinstance(self.parameters, Mapping):
            raise TaskError(f"task {self.name!r}: parameters must be a dict, not {type(self.parameters).__name__}")
        if not isinstance(self.version, str) or not VERSION.fullmatch(self.version):
            raise TaskError(f"task {self.name!r}: version {self.version!r} is not 'major.minor[.patch]'")
        object.__setattr__(self, "inputs", tuple(self.inputs))
        roles = [item.role for item in self.inputs if isinstance(item, Input)]
        if len(roles) != len(self.inputs):
            raise TaskError(f"task {self.name!r}: inputs must be specpy.targets.Input values")
        if len(set(roles)) != len(roles):
            raise TaskError(f"task {self.name!r}: input roles must be unique, got {roles}")
        canonical(self.parameters, f"task {self.name!r} parameters")

    @cached_property
    def version_major_minor(self) -> str:
        """The part of the version that enters the key ('0.1' for '0.1.7')."""
        match = VERSION.fullmatch(self.version)
        assert match is not None
        return f"{match.group(1)}.{match.group(2)}"

    @cached_property
    def parameters_json(self) -> str:
        """The canonical JSON text of the parameters, as stored in the parameter set."""
        return canonical_json(self.parameters, f"task {self.name!r} parameters")

    @cached_property
    def parameter_hash(self) -> str:
        """SHA-256 of the canonical parameter JSON."""
        return sha256_text(self.parameters_json)

    @cached_property
    def key(self) -> str:
        """SHA-256 of canonical JSON of (name, parameters, inputs, major.minor version): the output identity."""
        identity = {
            "name": self.name,
            "parameters": canonical(self.parameters),
            "inputs": sorted([item.role, item.sha256] for item in self.inputs),
            "version": self.version_major_minor,
        }
        return sha256_text(canonical_json(identity))
