"""``grade --cluster slurm`` against a real Slurm: a single node on this machine (munged,
``slurmctld``, ``slurmd``, started by the fixture), two CPUs as two job slots, each worker job one
``python -m autograder worker`` over TLS.

The tiny autograder keeps each grading a few seconds. A fault has to land while a job grades: the
submission ``wait_hw`` waits for a flag file the test creates once the fault has happened (so it
is mid-grading when the job is cancelled or runs out of time, and its retry finishes at once). It
reads the flag from the test's folder, so these classes are graded without the sandbox (its
private /tmp would hide the flag); the sandbox on a Slurm worker is exercised by the e2e test.
"""

from __future__ import annotations

import signal
from pathlib import Path

import pandas as pd
import pytest
from slurm_cluster import grade_on, gradings, job_logs, ledger, single_node_slurm, wait_for  # noqa: F401
from test_engine import csv_without_timing, ledger_rows, notebook, write_class

from autograder.errors import GradingError
from autograder.tools.slurm import Slurm

pytestmark = pytest.mark.slow

TIMEOUT = ("--timeout", "240")


def sleeper(i: int, seconds: float = 4.0) -> str:
    return notebook(f"import time\ntime.sleep({seconds})\nx = 1\nword = 'overfitting' if {i} % 2 else 'no'")


def waits_for(flag: Path) -> str:
    return notebook(f"import os, time\nwhile not os.path.exists({str(flag)!r}):\n    time.sleep(0.2)\n"
                    "x = 1\nword = 'overfitting'")


def same_csv(out: Path, local: Path) -> None:
    pd.testing.assert_frame_equal(csv_without_timing(out / "grades.csv"),
                                  csv_without_timing(local / "grades.csv"))


def local_run(folder: Path, out: Path, tiny_zip: Path, *extra: str) -> Path:
    from loopback import grade_cli

    proc = grade_cli(str(folder), "--autograder", str(tiny_zip), "--out", str(out), "--workers", "2",
                     *TIMEOUT, *extra)
    text = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, text
    assert {row[2] for row in ledger(out)} == {"graded"}, text  # a baseline that grades
    return out


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory, tiny_zip: Path):
    """Four sleeping submissions, and their grading by the embedded default (the baseline)."""
    tmp = tmp_path_factory.mktemp("quick")
    folder = write_class(tmp / "in", {f"s{i:02d}_hw.ipynb": sleeper(i) for i in range(4)})
    return folder, local_run(folder, tmp / "local", tiny_zip)


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory, tiny_zip: Path):
    """``wait_hw`` (waits for the flag) and three short ones; the baseline graded with the flag set."""
    tmp = tmp_path_factory.mktemp("gated")
    flag = tmp / "flag"
    folder = write_class(tmp / "in", {"wait_hw.ipynb": waits_for(flag),
                                      **{f"s{i:02d}_hw.ipynb": sleeper(i, 1.0) for i in range(3)}})
    flag.touch()
    local = local_run(folder, tmp / "local", tiny_zip, "--unsafe-no-sandbox")
    flag.unlink()
    return folder, local, flag


def kit_jobs(s: Slurm) -> list[dict[str, str]]:
    return s.jobs("fmnist-kit-grader")


def no_kit_jobs_left(s: Slurm) -> None:
    wait_for(lambda: not kit_jobs(s), 60, "the worker jobs to leave the queue")


def test_slurm_grades_a_class_as_a_local_run(slurm: Slurm, quick, tiny_zip: Path, tmp_path: Path):
    """Do two Slurm worker jobs grade the class into the same ledger rows and CSV as the embedded
    default, each submission once, both jobs taking work, and are the jobs gone afterwards?"""
    folder, local = quick
    out, logs = tmp_path / "out", tmp_path / "logs"
    proc = grade_on(slurm, str(folder), "--autograder", str(tiny_zip), "--out", str(out), *TIMEOUT, logs=logs)
    text = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, text
    assert "grading on slurm cluster, 2 job(s) requested, scheduler tls://" in text
    assert ledger(out) == ledger(local)
    same_csv(out, local)
    runs = gradings(logs)
    assert sorted(runs) == [f"s{i:02d}_hw.ipynb" for i in range(4)]
    assert all(len(jobs) == 1 for jobs in runs.values()), runs
    assert len({jobs[0] for jobs in runs.values()}) == 2, runs  # both jobs graded
    for jid, log in job_logs(logs).items():
        assert "fmnist-kit worker: preflight passed" in log, (jid, log[-2000:])
    no_kit_jobs_left(slurm)


def _fault(slurm: Slurm, gated, tiny_zip: Path, tmp_path: Path, hit) -> tuple[str, str, Path]:
    """Grade the gated class; when a job grades ``wait_hw``, ``hit(job id)``; once that job has left
    the queue, set the flag. The job hit, the CSV's text, the job logs' folder."""
    folder, local, flag = gated
    flag.unlink(missing_ok=True)
    out, logs = tmp_path / "out", tmp_path / "logs"
    proc = grade_on(slurm, str(folder), "--autograder", str(tiny_zip), "--out", str(out), *TIMEOUT,
                    "--unsafe-no-sandbox", logs=logs)
    try:
        victim = wait_for(lambda: gradings(logs).get("wait_hw.ipynb", [None])[0], 120,
                          "a job to grade wait_hw")
        assert {j["id"]: j["state"] for j in kit_jobs(slurm)}.get(victim) == "RUNNING"
        hit(victim)
        wait_for(lambda: victim not in {j["id"] for j in kit_jobs(slurm) if j["state"] == "RUNNING"}, 150,
                 f"job {victim} to end")
        flag.touch()
        text = proc.communicate(timeout=240)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, text
    assert ledger_rows(out) == 4  # nothing lost, nothing twice
    assert ledger(out) == ledger(local)
    same_csv(out, local)
    runs = gradings(logs)
    # graded twice: on the job hit, and again on another job (job logs are in job order, not in time)
    assert len(runs["wait_hw.ipynb"]) == 2 and victim in runs["wait_hw.ipynb"], runs
    assert len(set(runs["wait_hw.ipynb"])) == 2, runs
    assert all(len(jobs) == 1 for name, jobs in runs.items() if name != "wait_hw.ipynb"), runs
    no_kit_jobs_left(slurm)
    return victim, text, logs


def test_scancel_of_a_worker_job_mid_grading(slurm: Slurm, gated, tiny_zip: Path, tmp_path: Path):
    """``scancel`` of the job grading a submission: is it graded again on the other job, the ledger
    and CSV those of a local run, no submission lost or recorded twice?"""
    victim, _, logs = _fault(slurm, gated, tiny_zip, tmp_path, lambda jid: slurm.run("scancel", jid))
    assert f"JOB {victim} ON" in job_logs(logs)[victim] and "CANCELLED" in job_logs(logs)[victim]


def test_worker_job_reaching_its_wall_time_mid_grading(slurm: Slurm, gated, tiny_zip: Path, tmp_path: Path):
    """The job grading a submission reaches its time limit (lowered to one minute; Slurm ends it
    within its next check, up to 30 s later): is the submission graded again elsewhere, as above?"""

    def lower(jid: str) -> None:
        slurm.run("scontrol", "update", f"JobId={jid}", "TimeLimit=1")

    victim, _, logs = _fault(slurm, gated, tiny_zip, tmp_path, lower)
    assert "DUE TO TIME LIMIT" in job_logs(logs)[victim], job_logs(logs)[victim][-1500:]


def test_coordinator_interrupted_then_run_again(slurm: Slurm, quick, tiny_zip: Path, tmp_path: Path):
    """Ctrl-C of ``grade`` mid-batch: does it stop with its worker jobs cancelled (none left holding a
    slot), and does the same command then finish with the local run's ledger rows and CSV?"""
    folder, local = quick
    out, logs = tmp_path / "out", tmp_path / "logs"
    args = (str(folder), "--autograder", str(tiny_zip), "--out", str(out), *TIMEOUT)
    proc = grade_on(slurm, *args, logs=logs)
    wait_for(lambda: ledger_rows(out) >= 1, 180, "the first result")
    proc.send_signal(signal.SIGINT)
    text = proc.communicate(timeout=120)[0]
    done = ledger_rows(out)
    assert 1 <= done < 4, text
    assert "interrupted" in text and "Traceback" not in text, text
    no_kit_jobs_left(slurm)
    again = grade_on(slurm, *args, logs=logs)
    text = again.communicate(timeout=300)[0]
    assert again.returncode == 0, text
    assert f"from the ledger {done}" in text
    assert ledger(out) == ledger(local)
    same_csv(out, local)
    no_kit_jobs_left(slurm)


def test_worker_jobs_that_never_start_are_reported(slurm: Slurm, quick, tiny_zip: Path, tmp_path: Path):
    """Every slot of the partition held by another job: does ``grade`` stop after start_timeout with
    the job's state from Slurm (pending, and why), no traceback, and its pending job withdrawn?"""
    folder, _ = quick
    blocker = slurm.run("sbatch", "--parsable", "-c", str(slurm.cpus), "-J", "blocker", "-o", "/dev/null",
                        "--wrap", "sleep 600").strip()
    try:
        wait_for(lambda: any(j["id"] == blocker and j["state"] == "RUNNING" for j in slurm.jobs()), 60,
                 "the blocking job to run")
        proc = grade_on(slurm, str(folder), "--autograder", str(tiny_zip), "--out", str(tmp_path / "out"),
                        logs=tmp_path / "logs", jobs=1, opts=("start_timeout=12",))
        text = proc.communicate(timeout=120)[0]
    finally:
        slurm.run("scancel", blocker, check=False)
    assert proc.returncode == GradingError.exit_code, text
    assert "waiting for a slurm job to start a grading worker" in text
    assert "error: no slurm job started a grading worker within 12 s: job " in text
    assert "PENDING (Resources)" in text and "start_timeout" in text
    assert "Traceback" not in text, text
    no_kit_jobs_left(slurm)


def test_a_job_the_batch_system_refuses_is_a_clear_error(slurm: Slurm, quick, tiny_zip: Path, tmp_path: Path):
    """A queue that does not exist: sbatch's own message, the kit's hint, no traceback, at once."""
    folder, _ = quick
    proc = grade_on(slurm, str(folder), "--autograder", str(tiny_zip), "--out", str(tmp_path / "out"),
                    logs=tmp_path / "logs", opts=("queue=nosuch",))
    text = proc.communicate(timeout=120)[0]
    assert proc.returncode == GradingError.exit_code, text
    assert "the batch system refused the worker job: sbatch: error: invalid partition specified: nosuch" \
        in text
    assert "check the --cluster-opt values" in text and "Traceback" not in text, text


def test_nodes_that_cannot_grade_are_reported_at_once(slurm: Slurm, quick, tiny_zip: Path, tmp_path: Path):
    """The worker jobs' preflight refuses (no data set where the jobs look: the environment travels
    with sbatch): does ``grade`` stop as soon as every job has ended, quoting the job log's error
    and its hint, instead of waiting out start_timeout?"""
    folder, _ = quick
    env = dict(slurm.env, FASHION_MNIST_DIR=str(tmp_path))
    from loopback import grade_cli

    proc = grade_cli(str(folder), "--autograder", str(tiny_zip), "--out", str(tmp_path / "out"),
                     "--cluster", "slurm", "--jobs", "1", "--cluster-opt", "cores=1",
                     "--cluster-opt", "memory=3GB", "--cluster-opt", f"log_directory={tmp_path / 'logs'}",
                     env=env)
    text = proc.communicate(timeout=120)[0]
    assert proc.returncode == GradingError.exit_code, text
    assert "every slurm job ended before its grading worker joined" in text
    assert "this machine cannot grade: Fashion-MNIST not found" in text
    assert "apt-get install dataset-fashion-mnist" in text and "Traceback" not in text, text
    no_kit_jobs_left(slurm)


def test_the_single_node_slurm_runs_jobs(slurm: Slurm):
    """The fixture's Slurm itself: two CPUs, two one-CPU jobs at once, a third waits for a slot."""
    ids = [slurm.run("sbatch", "--parsable", "-c", "1", "-J", f"probe{i}", "-o", "/dev/null",
                     "--wrap", "sleep 20").strip() for i in range(3)]
    try:
        states = wait_for(lambda: (lambda js: js if sorted(js.values()) == ["PENDING", "RUNNING", "RUNNING"]
                                   else None)({j["id"]: j["state"] for j in slurm.jobs() if j["id"] in ids}),
                          30, "two running, one pending")
        assert states[ids[2]] == "PENDING"
    finally:
        slurm.run("scancel", *ids, check=False)


def test_jobqueue_scheduler_serves_its_dashboard_on_the_loopback_only():
    """``--cluster``'s scheduler listens where the nodes reach it (TLS, one-run certificates); its
    HTTP dashboard, which has neither TLS nor a login, only on 127.0.0.1 (no Slurm needed)."""
    import psutil

    from autograder.grading.cluster import jobqueue
    jq = jobqueue.jobqueue_cluster("slurm", (("cores", "1"),))
    try:
        port = jq.scheduler_info["services"]["dashboard"]
        listening = {c.laddr.port: c.laddr.ip for c in psutil.Process().net_connections(kind="inet")
                     if c.status == "LISTEN"}
        assert listening[port] == "127.0.0.1"
        assert jq.scheduler_address.startswith("tls://")
    finally:
        jq.close()
