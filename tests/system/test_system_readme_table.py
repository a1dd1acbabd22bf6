"""The README's fault table names the tests that prove each row: every one of them must exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def table_rows() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Reliability"):text.index("## Benchmarks")]
    return [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| fault")
            and not line.startswith("| ---")]


def functions_in(file: Path) -> set[str]:
    return {node.name for node in ast.walk(ast.parse(file.read_text())) if isinstance(node, ast.FunctionDef)}


def test_every_test_the_fault_table_names_exists():
    rows = table_rows()
    assert len(rows) >= 10
    for row in rows:
        proofs = re.findall(r"`((?:[\w/]+\.py|\.\.\.)(?:::\w+)?)`", row.rsplit("|", 2)[-2])
        assert proofs, f"a row names no test: {row[:80]}"
        file = None
        for proof in proofs:
            path, _, function = proof.partition("::")
            if path != "...":  # `...::name` is in the file named before it
                file = ROOT / path if "/" in path else ROOT / "tests" / "system" / path
            assert file is not None and file.is_file(), f"{proof} (in the README's fault table) does not exist"
            assert not function or function in functions_in(file), f"{file.name} has no {function} (README)"
