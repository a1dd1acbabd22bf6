"""Run every benchmark in bench/, each in its own process with modest sizes, and write one Markdown table of ratios.

    python bench/run_all.py [--out bench/RESULTS.md] [--tiny] [--only NAME ...]

Each script prints its ratios as `RATIO <benchmark>:<what> <value> [<goal>]` lines (goal: `>=x` or
`<=x`); this collects them into one table (also printed). The whole run takes a few minutes and
loads the machine: run it alone. `--tiny` is a dry run with the smallest sizes (numbers meaningless).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RATIO_LINE = re.compile(r"^RATIO (\S+) (\S+)(?: ([<>]=\S+))?\s*$")
# script -> (modest arguments: a few minutes in all on 2 cores, tiny arguments: a smoke run)
SCRIPTS: dict[str, tuple[list[str], list[str]]] = {
    "obf_io.py": (["--mib", "64", "--repeats", "2"], ["--mib", "2", "--repeats", "1"]),
    "driver_io.py": (["--queries", "1000", "--blocks", "4"], ["--queries", "20", "--blocks", "2"]),
    "sim_frame.py": ([], []),
    "rig_frame.py": (["--repeats", "5", "--queries", "100"], ["--repeats", "1", "--queries", "5"]),
    "acquisition.py": (["--frames", "100", "--rounds", "3"], ["--frames", "2", "--rounds", "1"]),
    "fit.py": (["--quick", "--repeats", "2"], ["--quick", "--repeats", "1", "--only", "spots"]),
    "targets.py": (["--products", "30", "--size", "256", "--rounds", "2"],
                   ["--products", "2", "--size", "32", "--rounds", "1"]),
    "remote.py": (["--reads", "1000", "--blocks", "3", "--transfers", "3"],
                  ["--reads", "20", "--blocks", "1", "--transfers", "1"]),
}


@dataclass
class Outcome:
    """One script's run: its ratios (name -> value, goal), exit status, duration and last error lines."""

    script: str
    arguments: list[str]
    status: int | None = None
    seconds: float = 0.0
    ratios: list[tuple[str, float, str]] = field(default_factory=list)
    problem: str = ""


def parse_ratios(text: str) -> list[tuple[str, float, str]]:
    """The `RATIO name value [goal]` lines of a script's output."""
    found = []
    for line in text.splitlines():
        match = RATIO_LINE.match(line.strip())
        if match:
            try:
                found.append((match[1], float(match[2]), match[3] or ""))
            except ValueError:
                continue
    return found


def run_script(script: str, arguments: list[str], timeout: float) -> Outcome:
    """Run one benchmark in its own session; on a timeout stop it (SIGTERM, then SIGKILL) by its PID's group."""
    outcome = Outcome(script, arguments)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    started = time.monotonic()
    process = subprocess.Popen([sys.executable, str(BENCH / script), *arguments], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        out, err = _stop(process)
        outcome.problem = f"timed out after {timeout:g} s"
    outcome.seconds = time.monotonic() - started
    outcome.status = process.returncode
    outcome.ratios = parse_ratios(out)
    if process.returncode != 0 and not outcome.problem:
        last = [line for line in err.strip().splitlines() if line.strip()][-1:] or ["(no error output)"]
        outcome.problem = f"exit status {process.returncode}: {last[0][:160]}"
    elif not outcome.ratios and not outcome.problem:
        outcome.problem = "no ratio printed (e.g. its baseline is unavailable here)"
    return outcome


def _stop(process: subprocess.Popen) -> tuple[str, str]:
    for number in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, number)
        except ProcessLookupError:
            break
        try:
            return process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            continue
    return process.communicate()


def goal_met(value: float, goal: str) -> str:
    """'yes'/'no' against a goal such as '>=0.9' or '<=2.0'; '' without a goal."""
    if not goal:
        return ""
    bound = float(goal[2:])
    return "yes" if (value >= bound if goal.startswith(">=") else value <= bound) else "no"


def markdown(outcomes: list[Outcome], tiny: bool) -> str:
    """One Markdown table of every ratio, with the machine and the arguments each script ran with."""
    lines = [f"# Benchmark ratios{' (dry run with tiny sizes: not meaningful)' if tiny else ''}", "",
             f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPU(s); "
             f"`python bench/run_all.py{' --tiny' if tiny else ''}`, {time.strftime('%Y-%m-%d')}.", "",
             "| benchmark | ratio | value | goal | met |", "|---|---|---:|---|---|"]
    for outcome in outcomes:
        for name, value, goal in outcome.ratios:
            what = name.partition(":")[2] or name
            lines.append(f"| {outcome.script} | {what} | {value:.3g} | {goal.replace('>=', '≥ ').replace('<=', '≤ ')} "
                         f"| {goal_met(value, goal)} |")
        if outcome.problem:
            lines.append(f"| {outcome.script} | ({outcome.problem.replace('|', '/')}) | | | |")
    lines += ["", "| script | arguments | seconds |", "|---|---|---:|"]
    lines += [f"| {o.script} | `{' '.join(o.arguments) or '-'}` | {o.seconds:.0f} |" for o in outcomes]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks one after another, then write and print the table; 1 if any script failed."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(BENCH / "RESULTS.md"), help="the Markdown file (default: %(default)s)")
    parser.add_argument("--tiny", action="store_true", help="smallest sizes: a dry run of the machinery")
    parser.add_argument("--only", action="append", choices=sorted(SCRIPTS), metavar="SCRIPT",
                        help="run only this script (repeatable)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per script (default: %(default)s)")
    args = parser.parse_args(argv)
    outcomes = []
    for script in args.only or list(SCRIPTS):
        print(f"running {script} ...", file=sys.stderr, flush=True)
        outcomes.append(run_script(script, SCRIPTS[script][1 if args.tiny else 0], args.timeout))
    text = markdown(outcomes, args.tiny)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)
    return 1 if any(o.status != 0 for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
