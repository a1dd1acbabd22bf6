"""`specpy db check`: find products and rows that disagree, and repair what can be repaired.

Findings, each reported once:
  temporary  a temporary file of an interrupted atomic write          repair: delete it
  orphan     a product file no row records (crash between file and commit)  repair: quarantine it
  missing    a product row whose file is gone                          repair: un-complete the run
  mismatch   a product file whose size or SHA-256 differs from its row  repair: quarantine the file, un-complete the run
An un-completed run has its markers removed and status 'failed' with the reason, so `exists()`
is false and a re-run writes the product again. Quarantined files go to `<root>/lost+found/`.
Repair while no writer is running: a file renamed but not yet committed looks like an orphan.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import delete, select, update

from .database import Database
from .files import file_sha256, fsync_directory, is_temporary
from .models import Product, RunInput, RunOutput, TaskRun, utcnow

QUARANTINE = "lost+found"


@dataclass(frozen=True)
class Finding:
    """One inconsistency: its kind, the file (relative to the data root), and what was seen."""

    kind: str
    path: str
    detail: str
    product_id: int | None = None

    def __str__(self) -> str:
        return f"{self.kind:9} {self.path}: {self.detail}"


def _files(root: Path) -> list[str]:
    """Every file under the data root (relative paths), outside the quarantine directory."""
    found = []
    for directory, subdirectories, names in os.walk(root):
        if Path(directory) == root and QUARANTINE in subdirectories:
            subdirectories.remove(QUARANTINE)
        found.extend(os.path.relpath(os.path.join(directory, name), root) for name in names)
    return sorted(found)


def check(database: Database, verify_hash: bool = True) -> list[Finding]:
    """Compare every product row with its file and every file with the rows; return the inconsistencies."""
    with database.session() as session:
        products = session.execute(select(Product.id, Product.path, Product.size, Product.sha256)).all()
    findings = []
    recorded = set()
    for product_id, path, size, sha256 in products:
        recorded.add(path)
        full = database.root / path
        if not full.is_file():
            findings.append(Finding("missing", path, "the row's file does not exist", product_id))
        elif full.stat().st_size != size:
            findings.append(Finding("mismatch", path, f"size {full.stat().st_size}, recorded {size}", product_id))
        elif verify_hash and (actual := file_sha256(full)) != sha256:
            findings.append(Finding("mismatch", path, f"sha256 {actual[:16]}..., recorded {sha256[:16]}...", product_id))
    for path in _files(database.root) if database.root.is_dir() else []:
        if is_temporary(Path(path)):
            findings.append(Finding("temporary", path, "left by an interrupted write"))
        elif path not in recorded:
            findings.append(Finding("orphan", path, "no product row records this file"))
    return findings


def _quarantine(root: Path, path: str) -> str:
    """Move a file into <root>/lost+found/, keeping its relative path; returns where it went."""
    target = root / QUARANTINE / path
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(root / path, target)
    fsync_directory(target.parent)
    return os.path.relpath(target, root)


def repair(database: Database, findings: list[Finding]) -> list[str]:
    """Fix what can be fixed (see the module doc); returns one line per action taken."""
    actions = []
    for finding in findings:
        full = database.root / finding.path
        if finding.kind == "temporary":
            full.unlink(missing_ok=True)
            actions.append(f"deleted {finding.path}")
        elif finding.kind == "orphan":
            actions.append(f"quarantined {finding.path} -> {_quarantine(database.root, finding.path)}")
        else:
            if finding.kind == "mismatch" and full.exists():
                actions.append(f"quarantined {finding.path} -> {_quarantine(database.root, finding.path)}")
            runs = _forget_product(database, finding)
            actions.append(f"un-completed {runs} run(s) using {finding.path} (re-run to write the product again)")
    return actions


def _forget_product(database: Database, finding: Finding) -> int:
    """Drop a bad product row and the markers using it; its runs become failed with the reason. Returns how many runs."""
    product = finding.product_id
    with database.transaction() as session:
        runs = set(session.execute(select(RunOutput.run_id).where(RunOutput.product_id == product)).scalars())
        runs.add(session.execute(select(Product.run_id).where(Product.id == product)).scalar_one())
        session.execute(delete(RunOutput).where(RunOutput.product_id == product))
        session.execute(update(RunInput).where(RunInput.product_id == product).values(product_id=None))
        session.execute(delete(Product).where(Product.id == product))
        session.execute(update(TaskRun).where(TaskRun.id.in_(runs)).values(
            status="failed", error=f"db check: product {finding.kind}: {finding.detail}", modified=utcnow()))
    return len(runs)
