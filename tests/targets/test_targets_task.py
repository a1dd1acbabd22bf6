"""Task keys: canonical JSON, full SHA-256, major.minor version, clear errors for what cannot be keyed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from astropy import units as u

from specpy import Error
from specpy.targets import Input, Task, TaskError
from specpy.targets.canonical import canonical_json

from .helpers import bead_stack

SHA = "ab" * 32


def test_equal_parameters_give_equal_keys() -> None:
    a = Task("fit", {"roi": 7, "thr": 5.0, "box": (1, 2), "path": Path("/x"), "width": 60 * u.nm})
    b = Task("fit", {"width": 0.06 * u.um, "path": "/x", "box": [1.0, np.int64(2)], "thr": np.float32(5), "roi": 7.0})
    assert a.key == b.key and a.parameter_hash == b.parameter_hash
    assert len(a.key) == 64 and int(a.key, 16) >= 0


def test_key_is_sha256_of_the_documented_identity() -> None:
    task = Task("fit", {"b": 2, "a": 1}, [Input("image", SHA)], version="1.4.9")
    identity = {"inputs": [["image", SHA]], "name": "fit", "parameters": {"a": 1, "b": 2}, "version": "1.4"}
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    assert task.key == hashlib.sha256(text.encode()).hexdigest()


def test_what_changes_the_key() -> None:
    base = Task("fit", {"roi": 7}, [Input("image", SHA)], version="0.1.0")
    assert Task("fit", {"roi": 7}, [Input("image", SHA)], version="0.1.5").key == base.key  # patch release: same key
    different = [
        Task("fit", {"roi": 7}, [Input("image", SHA)], version="0.2.0"),
        Task("fit", {"roi": 9}, [Input("image", SHA)], version="0.1.0"),
        Task("fit2", {"roi": 7}, [Input("image", SHA)], version="0.1.0"),
        Task("fit", {"roi": 7}, [Input("image", "cd" * 32)], version="0.1.0"),
        Task("fit", {"roi": 7}, [Input("other", SHA)], version="0.1.0"),
        Task("fit", {"roi": True}, [Input("image", SHA)], version="0.1.0"),
    ]
    assert len({task.key for task in different} | {base.key}) == len(different) + 1


def test_bool_and_int_stay_distinct_and_keys_are_stable() -> None:
    assert canonical_json({"a": True}) != canonical_json({"a": 1})
    assert canonical_json({"z": [1.5, None], "a": {"y": 1, "x": "é"}}) == '{"a":{"x":"é","y":1},"z":[1.5,null]}'


def test_stack_input_hashes_content_and_metadata() -> None:
    first, same, other = bead_stack(1), bead_stack(1), bead_stack(2)
    assert Input.from_stack(first, "image").sha256 == Input.from_stack(same, "image").sha256
    assert Input.from_stack(first, "image").sha256 != Input.from_stack(other, "image").sha256
    same.set_tag("sample", "another sample")
    assert Input.from_stack(first, "image").sha256 != Input.from_stack(same, "image").sha256
    record = Input.from_stack(first, "image").acquisition
    assert record["sample"] == "beads-40nm" and record["instrument"] == "sim-rig"
    assert record["started_at"].isoformat() == "2024-05-01T10:00:00+00:00"


@pytest.mark.parametrize("parameters, words", [
    ({"x": float("nan")}, "finite"),
    ({"x": object()}, "allowed"),
    ({1: 2}, "names must be text"),
    ([1, 2], "must be a dict"),
])
def test_bad_parameters_are_refused_clearly(parameters: object, words: str) -> None:
    with pytest.raises(TaskError, match=words) as caught:
        Task("fit", parameters)  # type: ignore[arg-type]
    assert isinstance(caught.value, Error) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize("kwargs, words", [
    ({"name": "1bad"}, "task name"),
    ({"name": "fit", "version": "latest"}, "major.minor"),
    ({"name": "fit", "inputs": [Input("a", SHA), Input("a", SHA)]}, "unique"),
    ({"name": "fit", "inputs": ["image"]}, "Input values"),
])
def test_bad_tasks_are_refused_clearly(kwargs: dict, words: str) -> None:
    with pytest.raises(TaskError, match=words):
        Task(**kwargs)


def test_bad_inputs_are_refused_clearly() -> None:
    with pytest.raises(TaskError, match="64 lower-case hex"):
        Input("image", "abc")
    with pytest.raises(TaskError, match="input role"):
        Input("", SHA)
