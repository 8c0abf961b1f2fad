"""Grading on a real Dask cluster on 127.0.0.1: a ``dask scheduler`` and ``autograder worker`` processes.

The tiny autograder (``scenarios/tiny``) with notebooks that sleep instead of training keeps each
grading a few seconds, so worker and coordinator kills can land mid-grading. The baseline is the
same class graded by the embedded default (no scheduler).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from loopback import Loopback, grade_cli
from test_engine import GOOD, csv_without_timing, kill_after, ledger_rows, notebook, write_class

from autograder.errors import GradingError
from autograder.grading.cluster import fingerprint as fp_mod
from autograder.grading.cluster import jobqueue
from autograder.grading.cluster.coordinator import ClusterSpec, connect
from autograder.grading.execution import supervise
from autograder.tools.loopback import ROOT

pytestmark = pytest.mark.slow


def sleeper(i: int, seconds: float = 5.0) -> str:
    return notebook(f"import time\ntime.sleep({seconds})\nx = 1\nword = 'overfitting' if {i} % 2 else 'no'")


#: Kills the Dask worker it runs under (only possible without the sandbox): a poisoned submission.
KILLS_ITS_WORKER = notebook(
    "import os, signal, psutil\n"
    "for p in psutil.Process().parents():\n"
    "    argv = p.cmdline()\n"
    "    if argv[1:4] == ['-m', 'autograder', 'worker']:\n"
    "        os.kill(p.pid, signal.SIGKILL)\n"
    "x = 1\n")


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("loopback")
    # one retry after a lost worker (Dask's default is 3): the poisoned case stays short
    lb = Loopback(tmp, tmp / "scheduler.json").start({"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1"})
    try:
        yield lb
    finally:
        lb.close()


@pytest.fixture(scope="module")
def sleepers(tmp_path_factory: pytest.TempPathFactory, tiny_zip: Path):
    """Four sleeping submissions and their CSV graded by the embedded default (the baseline)."""
    tmp = tmp_path_factory.mktemp("sleepers")
    folder = write_class(tmp / "in", {f"s{i:02d}_hw.ipynb": sleeper(i) for i in range(4)})
    proc = grade_cli(str(folder), "--autograder", str(tiny_zip), "--out", str(tmp / "local"),
                     "--workers", "2")
    text = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, text
    return folder, tmp / "local"


def same_csv(out: Path, local: Path) -> None:
    pd.testing.assert_frame_equal(csv_without_timing(out / "grades.csv"),
                                  csv_without_timing(local / "grades.csv"))


def test_worker_killed_mid_grading_is_retried_elsewhere(loop: Loopback, sleepers, tiny_zip: Path,
                                                         tmp_path: Path):
    """kill -9 of a worker's whole process group while it grades: is that job graded again on another
    worker, exactly once recorded, the CSV equal to the local run's, and nothing of it left running?
    A plain ``dask worker`` on the same scheduler gets no job, and a worker that joins mid-batch does."""
    folder, local = sleepers
    plain = loop.add_worker(plain=True)
    deadline = time.monotonic() + 60
    while "Registered to" not in plain.text() and time.monotonic() < deadline:
        time.sleep(0.1)
    out = tmp_path / "out"
    before = {m.name for m in loop.members}
    coord = grade_cli(str(folder), "--autograder", str(tiny_zip), "--out", str(out),
                      "--scheduler", str(loop.scheduler_file))
    victim, deadline = None, time.monotonic() + 120
    while victim is None and time.monotonic() < deadline:
        victim = next((m for m in loop.alive() if "fmnist-kit: grading" in m.text()), None)
        time.sleep(0.1)
    assert victim is not None, "no worker started grading"
    time.sleep(3)  # inside the kernel's sleep
    tree = [p.pid for p in psutil.Process(victim.proc.pid).children(recursive=True)]
    assert len(tree) >= 3  # the sandbox, otter's process, the kernel (and more)
    os.killpg(victim.proc.pid, signal.SIGKILL)
    victim.proc.wait()
    text = coord.communicate(timeout=300)[0]
    assert coord.returncode == 0, text

    assert ledger_rows(out) == 4
    same_csv(out, local)
    runs = loop.gradings()
    (killed_job,) = [job for job, names in runs.items() if victim.name in names]  # killed in its first
    assert len(runs[killed_job]) == 2 and runs[killed_job].count(victim.name) == 1
    assert sorted(len(v) for v in runs.values()) == [1, 1, 1, 2]
    time.sleep(1)
    survivors = [pid for pid in tree if psutil.pid_exists(pid)
                 and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert survivors == []
    assert supervise.marked_processes(str((victim.work / f"w{victim.proc.pid}").resolve())) == []
    assert not (victim.work / f"w{victim.proc.pid}").exists()  # the worker started after it cleared it
    assert "fmnist-kit: grading" not in plain.text()
    assert f"worker {plain.name}" in text and "not started with `python -m autograder worker`" in text
    joined = [name for names in runs.values() for name in names if name not in before]
    assert joined, runs  # the worker started in place of the killed one took work

    again = grade_cli(str(folder), "--autograder", str(tiny_zip), "--out", str(out),
                      "--scheduler", str(loop.scheduler_file))
    text = again.communicate(timeout=120)[0]
    assert again.returncode == 0 and "graded now 0, from the ledger 4" in text, text
    _kill(plain)


def test_coordinator_killed_then_resumed(loop: Loopback, sleepers, tiny_zip: Path, tmp_path: Path):
    """kill -9 of the coordinator mid-batch: does the same command finish with the local run's CSV?"""
    folder, local = sleepers
    out = tmp_path / "out"
    args = [str(folder), "--autograder", str(tiny_zip), "--out", str(out), "--scheduler", loop.address]
    before = {job: len(names) for job, names in loop.gradings().items()}
    stopped_before = {job: len(names) for job, names in loop.gradings("stopped").items()}
    done_at_kill = kill_after(grade_cli(*args), out, 1, poll=0.1)
    assert 1 <= done_at_kill < 4
    again = grade_cli(*args)
    text = again.communicate(timeout=300)[0]
    assert again.returncode == 0, text
    assert f"from the ledger {done_at_kill}" in text
    assert ledger_rows(out) == 4
    same_csv(out, local)
    # A grading still running when the coordinator died goes one of three ways, none losing it: the
    # scheduler cancels it and its worker stops it (the resumed command grades it again); it ends on
    # its own before the worker notices, its result wanted by nobody (graded again, no "stopped"
    # line); or the resumed command submits the same key while it still runs and Dask resumes it
    # (executing -> cancelled -> resumed): it runs once and the resumed command takes its result.
    # Every job starts at least once after the kill's run began, at most twice, a stopped one twice.
    started = {job: n for job, names in loop.gradings().items() if (n := len(names) - before.get(job, 0))}
    stopped = [job for job, names in loop.gradings("stopped").items()
               if len(names) > stopped_before.get(job, 0)]
    assert len(started) == 4 and len(stopped) <= 2, (started, stopped)
    assert all(1 <= n <= 2 for n in started.values()), (started, stopped)
    assert all(started[job] == 2 for job in stopped), (started, stopped)


def test_submission_that_kills_its_worker_ends_as_error(loop: Loopback, tiny_zip: Path, tmp_path: Path):
    """A notebook that kills the worker it runs on, every time: is it ``error`` with a reason after
    the allowed retries, while the rest of the class is graded?"""
    folder = write_class(tmp_path / "in", {"poison.ipynb": KILLS_ITS_WORKER, "good.ipynb": GOOD,
                                           "good2.ipynb": GOOD.replace("x = 1", "x = 1 ")})
    out = tmp_path / "out"
    coord = grade_cli(str(folder), "--autograder", str(tiny_zip), "--out", str(out),
                      "--scheduler", str(loop.scheduler_file), "--unsafe-no-sandbox")
    text = coord.communicate(timeout=300)[0]
    assert coord.returncode == 0, text
    df = pd.read_csv(out / "grades.csv", keep_default_na=False, dtype=str).set_index("student_id")
    assert df.loc["poison", "status"] == "error"
    assert "stopped the grading worker on every try" in df.loc["poison", "reason"]
    assert (df.loc["good", "status"], df.loc["good2", "status"]) == ("graded", "graded")
    assert ledger_rows(out) == 3
    loop.wait_for(loop.keep)  # the keeper has replaced the killed workers


def test_worker_refuses_a_coordinator_of_other_versions(loop: Loopback):
    """Does ``autograder worker`` refuse to start, with the differing versions named, when the
    scheduler's coordinator runs other versions (and start when they are the same)?"""
    from distributed import Client

    with Client(loop.address, set_as_default=False) as client:
        theirs = dict(fp_mod.versions(), tensorflow="0.0.1")
        client.set_metadata(list(fp_mod.META_KEY), theirs)
        member = loop.add_worker()
        assert member.proc.wait(timeout=60) == GradingError.exit_code
        text = member.text()
        assert "runs other versions" in text and "0.0.1 there" in text and "Traceback" not in text
        client.set_metadata(list(fp_mod.META_KEY), fp_mod.versions())
    loop.members.remove(member)


def test_bad_scheduler_address_is_a_clear_error(tmp_path: Path, tiny_zip: Path):
    """Does an unreachable or malformed --scheduler give a message, not a traceback?"""
    folder = write_class(tmp_path / "in", {"good.ipynb": GOOD})
    for where, expect in (("tcp://127.0.0.1:9", "cannot reach the Dask scheduler"),
                          ("nowhere.json", "neither a tcp:// or tls:// address nor a scheduler file")):
        proc = grade_cli(str(folder), "--autograder", str(tiny_zip), "--out", str(tmp_path / "out"),
                         "--scheduler", where)
        text = proc.communicate(timeout=120)[0]
        assert proc.returncode != 0 and expect in text and "Traceback" not in text, text


def test_jobqueue_job_script_runs_the_kit_worker_over_tls():
    """Does ``--cluster slurm`` build job scripts that start ``autograder worker`` with TLS
    certificates and the given options (no batch system needed to read the script)?"""
    jq = jobqueue.jobqueue_cluster("slurm", (("queue", "short"), ("cores", "4"), ("memory", "8GB"),
                                            ("scheduler_options", '{"host": "127.0.0.1"}')))
    try:
        script = jq.job_script()
        assert "-m autograder worker tls://" in script
        assert "--threads 4" in script and "--tls-ca-file" in script and "--tls-key" in script
        assert "#SBATCH -p short" in script
        assert jq.scheduler_address.startswith("tls://")
    finally:
        jq.close()


def _kill(member) -> None:
    try:
        os.killpg(member.proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    member.proc.wait()


def test_fingerprint_names_what_differs():
    mine = fp_mod.versions()
    assert fp_mod.fingerprint(mine) == fp_mod.fingerprint(dict(mine))
    other = dict(mine, keras="1.0.0")
    assert fp_mod.fingerprint(other) != fp_mod.fingerprint(mine)
    assert fp_mod.differences(mine, other) == [f"keras: {mine['keras']} here vs 1.0.0 there"]
    assert json.dumps(mine)  # plain data: it travels as scheduler metadata


def test_embedded_cluster_listens_on_the_loopback_only():
    """The default opens nothing a network can reach: Dask's in-process transport, and its HTTP
    status servers (scheduler and workers) bound to 127.0.0.1."""

    with connect(ClusterSpec(), 2) as session:
        assert session.client.scheduler.address.startswith("inproc://")
        listening = [c.laddr.ip for c in psutil.Process().net_connections(kind="inet")
                     if c.status == "LISTEN"]
    assert listening and set(listening) == {"127.0.0.1"}


def test_two_gradings_in_one_process_each_get_their_embedded_cluster():
    """``grade`` twice in one fresh process (the e2e tests call ``cli.main`` after the batch): the
    second embedded cluster starts. It did not when distributed was first imported inside the
    coordinator's ``dask.config.set`` block, which took distributed's defaults away with it."""
    code = (
        "from autograder.grading.cluster.coordinator import ClusterSpec, connect\n"
        "for _ in range(2):\n"
        "    with connect(ClusterSpec(), 1) as session:\n"
        "        assert session.graders() == 1\n"
        "print('both started')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "both started" in proc.stdout, proc.stderr[-2000:]


def test_embedded_cluster_logs_nothing_after_it_closed():
    """A Dask stream that logs while (or after) the embedded cluster closes, as one did in
    ``make demo`` ("Batched Comm Closed" with a traceback), prints nothing on the TA's console;
    an error still does. In a plain process, as ``grade`` runs (under pytest, Dask registers no
    console handler of its own)."""
    code = (
        "import logging\n"
        "from autograder.grading.cluster.coordinator import ClusterSpec, connect\n"
        "with connect(ClusterSpec(), 1):\n"
        "    pass\n"
        "try:\n"
        "    raise OSError('comm closed')\n"
        "except OSError:\n"
        "    logging.getLogger('distributed.batched').info('Batched Comm Closed', exc_info=True)\n"
        "logging.getLogger('distributed.scheduler').error('a real problem')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Batched Comm Closed" not in out.stderr and "Traceback" not in out.stderr
    assert "a real problem" in out.stderr


def test_worker_refuses_a_machine_that_cannot_grade(tmp_path: Path):
    """Does ``autograder worker`` stop before joining, with what is wrong and what to do, when its
    preflight fails (here: no data set where it looks)?"""
    import subprocess
    import sys

    from loopback import ROOT

    proc = subprocess.run([sys.executable, "-m", "autograder", "worker", "tcp://127.0.0.1:9"], cwd=ROOT,
                          env=dict(os.environ, FASHION_MNIST_DIR=str(tmp_path)), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == GradingError.exit_code
    assert "this machine cannot grade: Fashion-MNIST not found" in proc.stderr
    assert "apt-get install dataset-fashion-mnist" in proc.stderr and "Traceback" not in proc.stderr
