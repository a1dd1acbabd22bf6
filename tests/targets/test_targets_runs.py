"""The run log: a measurement run is 'started' at its begin and 'complete' at its end; one never ended stays listed."""

from dataclasses import dataclass

from specpy.targets import Database, RunLog, incomplete_runs
from specpy.targets.check import check


@dataclass
class Running:
    """A measurement as the run log sees it."""

    label: str
    file: str

    def name(self) -> str:
        return self.label

    def path(self) -> str:
        return self.file


def test_a_run_is_started_then_complete_and_an_unfinished_one_stays_incomplete(sqlite_store: Database) -> None:
    log = RunLog(sqlite_store)
    finished, killed = Running("Measurement 1", "/data/m1.obf"), Running("Measurement 2", "/data/m2.obf")
    log.begin(finished)
    log.begin(killed)
    assert [run["measurement"] for run in incomplete_runs(sqlite_store)] == ["Measurement 1", "Measurement 2"]
    log.end(finished)
    log.end(Running("never begun", "/data/none.obf"))  # nothing to complete: no error
    (left,) = incomplete_runs(sqlite_store)
    assert (left["measurement"], left["file"]) == ("Measurement 2", "/data/m2.obf") and left["pid"] > 0
    again = RunLog(sqlite_store)  # a second run of the same measurement is a run of its own
    again.end(again.begin(finished) and finished)
    assert len(incomplete_runs(sqlite_store)) == 1
    assert check(sqlite_store) == []
