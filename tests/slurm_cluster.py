"""A single-node Slurm for the tests (``autograder.tools.slurm``), and ``grade --cluster slurm`` as a
process pointed at it.

The fixture ``slurm`` starts munged, ``slurmctld -D`` and ``slurmd -D`` in a temporary folder (no
systemd) and stops them after the module; it skips, saying why, where the packages or root are
missing. Each worker job writes its output to ``LOGS`` under the test's folder, one file per job
(``fmnist-kit-grader-<job id>.err``), where ``grade_task`` writes one line per grading it starts.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest
from loopback import grade_cli

from autograder.tools.slurm import Slurm, missing

#: Columns of the ledger that must not depend on where a grading ran (not its time, memory, log).
SAME_COLUMNS = "sub_sha, ag_sha, status, reason, questions, test_accuracy, curves, flags, time_limit, kit"


@pytest.fixture(scope="module", name="slurm")
def single_node_slurm(tmp_path_factory: pytest.TempPathFactory):
    why = missing()
    if why:
        pytest.skip(why)
    s = Slurm(tmp_path_factory.mktemp("slurm")).start()
    try:
        yield s
    finally:
        s.close()


def grade_on(s: Slurm, *args: str, logs: Path, jobs: int = 2, opts: tuple[str, ...] = ()) -> subprocess.Popen:
    """``grade ... --cluster slurm --jobs N`` with one core per job (two jobs fill the node)."""
    cluster = ["--cluster", "slurm", "--jobs", str(jobs), "--cluster-opt", "cores=1",
               "--cluster-opt", "memory=3GB", "--cluster-opt", f"log_directory={logs}"]
    for opt in opts:
        cluster += ["--cluster-opt", opt]
    return grade_cli(*args, *cluster, env=s.env)


def ledger(out: Path) -> list[tuple]:
    with sqlite3.connect(out / "ledger.sqlite") as db:
        return sorted(db.execute(f"SELECT {SAME_COLUMNS} FROM results").fetchall())


def job_logs(logs: Path) -> dict[str, str]:
    """Each worker job's output (its stderr), by Slurm job id."""
    out = {}
    for f in sorted(logs.glob("*.err")):
        m = re.search(r"-(\d+)\.err$", f.name)
        if m:
            out[m.group(1)] = f.read_text(errors="replace")
    return out


def gradings(logs: Path) -> dict[str, list[str]]:
    """Submission file name -> the job ids that started grading it, in job order."""
    runs: dict[str, list[str]] = {}
    for jid, text in sorted(job_logs(logs).items(), key=lambda kv: int(kv[0])):
        for name in re.findall(r"^fmnist-kit: grading \S+ \((?:.*/)?([^/)]+)\)$", text, re.M):
            runs.setdefault(name, []).append(jid)
    return runs


def wait_for(cond, timeout: float, what: str, poll: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
