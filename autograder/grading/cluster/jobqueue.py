"""``--cluster slurm|pbs|sge|htcondor``: worker jobs through dask-jobqueue.

``jobqueue_cluster`` builds the dask-jobqueue cluster whose job script runs ``python -m autograder
worker`` (TLS with one-run certificates under the shared home, the dashboard on the loopback, the
jobs' logs under the kit's home); ``submit_jobs`` holds ``--jobs`` jobs and turns a refusal by the
batch system into a message; ``JobQueue`` is the coordinator's view of its jobs while it grades:
it resubmits jobs that ended (wall time, ``scancel``, a lost node) and stops with the jobs' state
when no grading worker came within ``start_timeout``.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder import data
from autograder.errors import GradingError

#: dask-jobqueue's cluster classes, by the name ``--cluster`` takes.
JOBQUEUE = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "htcondor": "HTCondorCluster"}
#: Seconds without any grading worker (no job started yet, or every job ended and none replaced
#: it) before ``grade`` stops with the jobs' state (``--cluster-opt start_timeout=S``).
START_TIMEOUT = 900.0
#: How often the coordinator resubmits jobs that ended (wall time, scancel, a lost node).
RESCALE_EVERY = 10.0


def _parse_options(options: tuple[tuple[str, str], ...]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, raw in options:
        try:
            out[key.replace("-", "_")] = json.loads(raw)
        except ValueError:
            out[key.replace("-", "_")] = raw
    return out


def kit_options(options: tuple[tuple[str, str], ...]) -> tuple[float, tuple[tuple[str, str], ...]]:
    """``--cluster-opt start_timeout=S`` (the kit's own), and the rest for dask-jobqueue."""
    timeout, rest = START_TIMEOUT, []
    for key, raw in options:
        if key.replace("-", "_") == "start_timeout":
            try:
                timeout = float(raw)
            except ValueError:
                raise GradingError(f"--cluster-opt start_timeout={raw}: expected seconds",
                                   hint="e.g. --cluster-opt start_timeout=1800") from None
        else:
            rest.append((key, raw))
    return timeout, tuple(rest)


def job_logs(options: tuple[tuple[str, str], ...]) -> str:
    """Where the worker jobs write their output (``--cluster-opt log_directory=`` or the default)."""
    return str(_parse_options(options).get("log_directory") or data.kit_home() / "cluster-logs")


def _import_jobqueue():
    """dask_jobqueue, with Python's Ctrl-C handling kept: ``dask_jobqueue.runner`` sets SIGINT to a
    bare ``sys.exit()`` on import, which would end ``grade`` with status 0 and skip the stop of the
    running gradings."""
    import signal

    before = signal.getsignal(signal.SIGINT)
    try:
        import dask_jobqueue
    except ImportError as exc:
        raise GradingError("--cluster needs the package dask-jobqueue",
                           hint="pip install dask-jobqueue (it is in the kit's requirements)") from exc
    main = threading.current_thread() is threading.main_thread()
    if main and signal.getsignal(signal.SIGINT) is not before:
        signal.signal(signal.SIGINT, before)
    return dask_jobqueue


def jobqueue_cluster(kind: str, options: tuple[tuple[str, str], ...] = ()):
    """A dask-jobqueue cluster whose jobs run ``python -m autograder worker`` (not yet scaled)."""
    dask_jobqueue = _import_jobqueue()
    if kind not in JOBQUEUE:
        raise GradingError(f"--cluster {kind}: unknown kind", hint=f"one of {', '.join(JOBQUEUE)}")
    kw: dict[str, object] = {"cores": 2, "processes": 1, "memory": "6GB", "walltime": "02:00:00",
                             "security": True}
    kw.update(_parse_options(options))
    cores = int(kw["cores"])  # type: ignore[arg-type]
    kw["worker_command"] = "autograder worker"
    kw["worker_extra_args"] = [*list(kw.get("worker_extra_args") or []), "--threads", str(cores)]
    kw.setdefault("python", sys.executable)
    if kw.get("security") is True and "shared_temp_directory" not in kw:
        # the one-run certificates: under the home folder, which a cluster's nodes share
        certs = data.kit_home() / "cluster-certs"
        certs.mkdir(parents=True, exist_ok=True, mode=0o700)
        kw["shared_temp_directory"] = str(certs)
    kw.setdefault("job_script_prologue", [f"cd {os.getcwd()}"])
    kw.setdefault("job_name", "fmnist-kit-grader")
    # the scheduler listens where the nodes reach it, behind TLS; its HTTP dashboard (no TLS, no
    # login) only on the loopback: reach it with ssh -L, or say otherwise with scheduler_options
    kw["scheduler_options"] = {"dashboard_address": "127.0.0.1:0", **dict(kw.get("scheduler_options") or {})}
    # each job's output (the worker's preflight, one line per grading): under the shared home too,
    # not in the folder grade was started from
    kw.setdefault("log_directory", job_logs(options))
    try:
        return getattr(dask_jobqueue, JOBQUEUE[kind])(**kw)
    except (TypeError, ValueError) as exc:
        raise GradingError(f"--cluster {kind}: {exc}",
                           hint="check the --cluster-opt names (dask-jobqueue's keyword arguments)") from exc


def submit_jobs(jq, jobs: int, kind: str) -> None:
    """Hold ``jobs`` worker jobs: submit the missing ones (at the start; later, those whose worker
    the scheduler lost: wall time, ``scancel``, a lost node; dask-jobqueue keeps their specs) and
    wait for the submissions, so that a refusal (``sbatch: error: ...``) is a message here, not a
    traceback in the background (``cluster.scale`` submits in a callback nobody awaits)."""
    while len(jq.worker_spec) < jobs:
        jq.worker_spec.update(jq.new_worker_spec())
    try:
        jq.sync(jq._correct_state)
    except Exception as exc:
        from distributed.core import Status

        for name, job in list(jq.workers.items()):  # the refused ones: so that closing the cluster works
            if getattr(job, "job_id", None) is None:
                job.status = Status.failed
                jq.workers.pop(name, None)
                jq.worker_spec.pop(name, None)
        text = str(exc)
        said = text.split("stderr:", 1)[1].strip() if "stderr:" in text else text
        raise GradingError(f"--cluster {kind}: the batch system refused the worker job: {said}"[:1500],
                           hint="check the --cluster-opt values (queue, account, cores, memory, walltime) "
                           "against what the batch system accepts") from None


@dataclass
class JobQueue:
    """The coordinator's worker jobs while it grades: the dask-jobqueue cluster, its kind and the
    jobs it should hold, and how long it has waited for a grading worker."""

    cluster: object
    kind: str
    jobs: int
    start_timeout: float = START_TIMEOUT
    logs: str = ""  # the jobs' output folder
    _idle_since: float | None = None
    _rescaled: float = 0.0
    _joined: set[str] = field(default_factory=set)  # job ids whose worker reached the scheduler

    def tend(self, workers: dict, graders: int) -> list[str]:
        """Resubmit jobs that ended, and stop with the jobs' state when no grading worker has been
        there for ``start_timeout`` seconds (jobs that never start: a full queue, a request the
        partition cannot meet). ``workers``: the scheduler's workers; ``graders``: how many of
        them take this coordinator's tasks."""
        now = time.monotonic()
        if now - self._rescaled >= RESCALE_EVERY:
            self._rescaled = now
            submit_jobs(self.cluster, self.jobs, self.kind)
        jobs = dict(getattr(self.cluster, "workers", {}) or {})
        for w in workers.values():
            job = jobs.get(w.get("name"))
            if getattr(job, "job_id", None):
                self._joined.add(str(job.job_id))
        if graders:
            self._idle_since = None
            return []
        self._all_ended_unjoined()
        if self._idle_since is None:
            self._idle_since = now
            return [f"waiting for a {self.kind} job to start a grading worker "
                    f"({self.job_states() or 'no job submitted yet'})"]
        if now - self._idle_since > self.start_timeout:
            raise GradingError(
                f"no {self.kind} job started a grading worker within {self.start_timeout:.0f} s: "
                f"{self.job_states() or 'no job in the queue'}",
                hint="the queue may be full or the jobs ask for more than the partition gives "
                "(--cluster-opt queue/cores/memory/walltime); a job that ended at once has its reason "
                f"in {self.logs}; wait longer with --cluster-opt start_timeout=SECONDS; "
                "run the same command again to grade the rest")
        return []

    def _all_ended_unjoined(self) -> None:
        """Every job ended before its worker joined (a node that cannot grade: the worker's
        preflight refused, or the job script failed): say what its log says, now."""
        ids = self.job_ids()
        states = self._squeue(ids)
        if not ids or states is None or any(j in states or j in self._joined for j in ids):
            return
        jid = ids[-1]
        log = Path(self.logs) / f"{getattr(self.cluster, 'job_name', 'dask-worker')}-{jid}.err"
        try:
            lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            lines = []
        at = next((i for i in range(len(lines) - 1, -1, -1) if lines[i].startswith("error:")), None)
        said = " ".join(lines[at:at + 2]) if at is not None else " | ".join(lines[-3:])  # with its hint
        raise GradingError(
            f"every {self.kind} job ended before its grading worker joined; job {jid}'s log ({log}) "
            f"says: {said or 'nothing'}"[:1500],
            hint="make the nodes able to grade (the same checkout and .venv, `make setup`, the data "
            "set, bubblewrap), then run the same command again")

    def job_ids(self) -> list[str]:
        jobs = getattr(self.cluster, "workers", {}) or {}
        return [str(j.job_id) for j in list(jobs.values()) if getattr(j, "job_id", None)]

    def job_states(self) -> str:
        """``job 12 PENDING (Resources), job 13 ended`` for the jobs of this run (Slurm: from squeue)."""
        ids = self.job_ids()
        if not ids:
            return ""
        seen = self._squeue(ids)
        if seen is None:
            return "job(s) " + ", ".join(ids)
        return ", ".join(f"job {j} {seen.get(j, 'ended')}" for j in ids)

    def _squeue(self, ids: list[str]) -> dict[str, str] | None:
        """Slurm: the state (and reason) of each of these jobs still in the queue; None: unknown."""
        if not ids or self.kind != "slurm" or shutil.which("squeue") is None:
            return None
        import subprocess

        try:
            proc = subprocess.run(["squeue", "-h", "-t", "PD,R,CF,CG,S", "-j", ",".join(ids),
                                   "-o", "%i|%T|%r"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return None
        if proc.returncode != 0 and "Invalid job id" not in proc.stderr:
            return None
        seen = {}
        for line in proc.stdout.splitlines():
            jid, state, reason = (line.split("|") + ["", ""])[:3]
            seen[jid.strip()] = f"{state} ({reason})" if reason and reason != "None" else state
        return seen
