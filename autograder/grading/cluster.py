"""Where gradings run: Dask, embedded on this machine by default, or a cluster.

``grade`` submits each submission's grading (``run_one.grade_one``: sandbox, fresh kernel, clean
check) as one Dask task (``grade_task``). The task carries the notebook's and the autograder's
bytes, so a worker needs no shared file system; it returns the ``Record`` (scores, figures, log
tail) and only the coordinator, the machine that ran ``grade``, writes the ledger.

- **Embedded** (the default): a ``LocalCluster`` of ``workers`` workers with one thread each, in
  this process, with no network port (``inproc://``). A thread only supervises: each grading is
  its own sandboxed process tree, as before Dask, so whole-tree kills, memory polling and
  Ctrl-C work as they did.
- ``--scheduler ADDRESS`` (``tcp://``/``tls://`` or a scheduler file): an existing Dask cluster whose
  workers were started with ``python -m autograder worker`` (``run_worker``).
- ``--cluster slurm|pbs|sge|htcondor --jobs N``: one started through ``dask-jobqueue``, TLS with
  per-run certificates, its job script running ``python -m autograder worker``.

Workers are matched by **fingerprint**: a worker advertises the Dask resource
``fmnist-grader-<fingerprint>`` (kit, Python, otter, TensorFlow, Keras, NumPy versions and the
data set's hashes) and every task asks for the coordinator's, so a worker of another version
never receives a task (the coordinator names it); ``python -m autograder worker`` refuses to
start when its preflight fails or when the scheduler's coordinator runs other versions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from autograder import __version__ as KIT_VERSION
from autograder import data
from autograder.errors import GradingError
from autograder.grading import run_one, supervise
from autograder.model import INTERRUPTED, Record

#: Packages whose versions must match between the coordinator and every worker.
PACKAGES = ("otter-grader", "tensorflow", "keras", "numpy", "nbclient", "ipykernel", "distributed")
#: Scheduler metadata key under which a coordinator publishes its versions for workers to check.
META_KEY = ("fmnist-kit", "versions")
#: dask-jobqueue's cluster classes, by the name ``--cluster`` takes.
JOBQUEUE = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "sge": "SGECluster", "htcondor": "HTCondorCluster"}
#: Environment variable a worker sets: TensorFlow threads per grading on that host.
THREADS_ENV = "FMNIST_KIT_GRADING_THREADS"
#: ``--cluster``: seconds without any grading worker (no job started yet, or every job ended and
#: none replaced it) before ``grade`` stops with the jobs' state (``--cluster-opt start_timeout=S``).
START_TIMEOUT = 900.0
#: ``--cluster``: how often the coordinator resubmits jobs that ended (wall time, scancel, a lost node).
RESCALE_EVERY = 10.0
FIGURES = ("curves_part2_networks.png", "curves_part3_prevention.png")


def versions() -> dict[str, str]:
    """What a grading's result depends on besides the submission and the autograder."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"kit": KIT_VERSION, "python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    out["fashion-mnist"] = hashlib.sha256(json.dumps(data.FILES, sort_keys=True).encode()).hexdigest()[:16]
    return out


def fingerprint(v: dict[str, str] | None = None) -> str:
    v = versions() if v is None else v
    return hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest()[:12]


def resource_name(fp: str | None = None) -> str:
    return f"fmnist-grader-{fp or fingerprint()}"


def differences(mine: dict[str, str], theirs: dict[str, str]) -> list[str]:
    """``name: ours vs theirs`` for every version that differs."""
    return [f"{k}: {mine.get(k, 'missing')} here vs {theirs.get(k, 'missing')} there"
            for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]


# ---------------------------------------------------------------------------------------------
# The task a worker runs


@dataclass(frozen=True)
class TaskSpec:
    """Everything a worker needs to grade one job besides the two files' bytes."""

    job: str
    sub_sha: str
    ag_key: str  # the target's key (the ledger's ag_sha column)
    ag_sha256: str  # the zip's own hash (its file name on the worker)
    name: str  # the submission's file name, for messages
    timeout: float
    memory_limit: int | None
    sandboxed: bool
    seed: int | None
    keep_work: bool
    run_id: str
    #: The coordinator's work folder when it is on the same machine (embedded); None: the worker's own.
    work_root: str | None = None
    #: The coordinator's snapshot of the autograder zip, when on the same machine (embedded).
    ag_path: str | None = None
    keras_home: str | None = None
    env: dict[str, str] = field(default_factory=dict)


#: Stop flags of the embedded cluster's runs (a task in this process looks its run up here).
_LOCAL_STOPS: dict[str, threading.Event] = {}
#: The work folder of a worker started by ``run_worker`` (None: a plain Dask worker).
_WORKER_ROOT: list[Path] = []


class _ClusterStop:
    """A stop flag for a task on a remote worker: set when the scheduler no longer wants the task
    (its coordinator died or cancelled it: the worker marks it cancelled) or when the run's Dask
    ``Event`` is set (Ctrl-C of the coordinator); the event is read at most every 3 s."""

    def __init__(self, run_id: str) -> None:
        self.name, self.checked, self.value = f"fmnist-stop-{run_id}", 0.0, False
        try:
            from distributed import get_worker
            from distributed.worker import thread_state

            self.worker, self.key = get_worker(), thread_state.key
        except Exception:  # not inside a Dask task
            self.worker, self.key = None, None

    def _unwanted(self) -> bool:
        if self.worker is None:
            return False
        try:
            ts = self.worker.state.tasks.get(self.key)
        except Exception:
            return False
        return ts is None or ts.state in ("cancelled", "released", "forgotten")

    def is_set(self) -> bool:
        if self.value or self._unwanted():
            self.value = True
            return True
        now = time.monotonic()
        if now - self.checked >= 3.0:
            self.checked = now
            try:
                from distributed import Event, get_client

                self.value = Event(self.name, client=get_client()).is_set()
            except Exception:  # the scheduler is unreachable: go on; the time limit still holds
                pass
        return self.value


def grade_task(spec: TaskSpec, notebook: bytes, autograder: bytes) -> Record | None:
    """Grade one submission on whichever worker runs this; the ``Record``, or None if stopped."""
    local = spec.work_root is not None
    root = Path(spec.work_root) if local else worker_root()
    ag = Path(spec.ag_path) if spec.ag_path else root / f"autograder-{spec.ag_sha256[:12]}.zip"
    if not spec.ag_path and not _holds(ag, spec.ag_sha256):  # a worker's copy: written once, atomically
        tmp = ag.with_name(f"{ag.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(autograder)
        tmp.replace(ag)
    workdir = root / spec.job[:20]
    source = root / f"{spec.job[:20]}.submitted.ipynb"
    source.write_bytes(notebook)
    env = dict(spec.env) or _host_thread_env()
    stop = _LOCAL_STOPS.get(spec.run_id) if local else _ClusterStop(spec.run_id)
    keras_home = Path(spec.keras_home) if spec.keras_home else None
    if not local:  # a worker's log; on this machine the progress line says it
        print(f"fmnist-kit: grading {spec.job[:20]} ({spec.name})", file=sys.stderr, flush=True)
    try:
        res = run_one.grade_one(source, ag, workdir, timeout=spec.timeout, keras_home=keras_home,
                                memory_limit=spec.memory_limit, stop=stop, env=env,
                                sandboxed=spec.sandboxed, seed=spec.seed)
        if res.status == INTERRUPTED:
            if local:
                return None
            print(f"fmnist-kit: stopped {spec.job[:20]} (the coordinator stopped or no longer wants it)",
                  file=sys.stderr, flush=True)
            return None
        return record_from(res, spec.sub_sha, spec.ag_key, workdir, spec.timeout)
    finally:
        source.unlink(missing_ok=True)
        if not spec.keep_work:
            shutil.rmtree(workdir, ignore_errors=True)
            shutil.rmtree(run_one.private_dir(workdir), ignore_errors=True)


def _holds(path: Path, sha256: str) -> bool:
    return path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256


def record_from(res, sub_sha: str, ag_sha: str, workdir: Path, time_limit: float = 0.0) -> Record:
    """Everything worth keeping from a finished grading's folder."""
    private = run_one.private_dir(workdir)
    results_json = _read_text(private / "results.json")  # the clean result, written by the kit
    figures = {}
    for name in FIGURES:
        png = workdir / "submission" / name
        if run_one.own_file(workdir, png) and png.stat().st_size < 20 * 2**20:
            head = png.read_bytes()
            if head[:8] == b"\x89PNG\r\n\x1a\n":
                figures[name] = head
    acc, curves = None, {}
    clean = _read_text(private / "clean.json")  # written by the kit's clean check, not the student
    if clean:  # measured by the kit on the real test set, from the exported model
        try:
            parsed = json.loads(clean)
            value = parsed.get("test_accuracy")
            acc = float(value) if value is not None else None
            curves = parsed.get("curves") or {}
        except (ValueError, TypeError, AttributeError):
            acc = None
    log_tail = _read_text(private / "grading.log")[-20000:]
    # A graded row keeps its score; what the TA should look at goes in its reason.
    reason = res.reason or ("flagged: " + " | ".join(res.flags) if res.flags else "")
    return Record(sub_sha=sub_sha, ag_sha=ag_sha, status=res.status, reason=reason[:2000],
                  seconds=round(res.seconds, 2), questions=res.questions, results_json=results_json,
                  test_accuracy=acc, figures=figures, log_tail=log_tail, peak_rss=res.peak_rss,
                  finished_at=time.time(), curves=curves, flags=list(res.flags), time_limit=time_limit,
                  kit=KIT_VERSION)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def thread_env(threads: int) -> dict[str, str]:
    """TensorFlow's threads for one grading (so gradings on one host share its cores)."""
    per = str(max(1, threads))
    return {"TF_NUM_INTRAOP_THREADS": per, "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": per}


def _host_thread_env() -> dict[str, str]:
    return thread_env(int(os.environ.get(THREADS_ENV) or os.cpu_count() or 1))


def worker_root() -> Path:
    """This worker's grading folder (``run_worker`` made it); a plain Dask worker gets a temporary one."""
    if not _WORKER_ROOT:
        import tempfile

        _WORKER_ROOT.append(Path(tempfile.mkdtemp(prefix="fmnist-kit-worker-")))
    _WORKER_ROOT[0].mkdir(parents=True, exist_ok=True)
    return _WORKER_ROOT[0]


# ---------------------------------------------------------------------------------------------
# The coordinator's side


@dataclass(frozen=True)
class ClusterSpec:
    """Where ``grade`` runs its tasks (all empty: the embedded default)."""

    scheduler: str = ""
    kind: str = ""  # dask-jobqueue: slurm, pbs, sge, htcondor
    jobs: int = 0
    options: tuple[tuple[str, str], ...] = ()

    @property
    def embedded(self) -> bool:
        return not (self.scheduler or self.kind)


@dataclass
class Session:
    """A connected Dask client, and what the coordinator needs to know about it."""

    client: object
    resource: str
    describe: str
    embedded: bool
    dashboard: str = ""
    refused: dict[str, str] = field(default_factory=dict)  # worker address -> why it gets no tasks
    #: ``--cluster``: the dask-jobqueue cluster, its kind and the jobs it should hold
    jobqueue: object | None = None
    kind: str = ""
    jobs: int = 0
    start_timeout: float = START_TIMEOUT
    logs: str = ""  # the jobs' output folder
    _idle_since: float | None = None
    _rescaled: float = 0.0
    _joined: set[str] = field(default_factory=set)  # job ids whose worker reached the scheduler

    def graders(self) -> int:
        """Workers that can take this coordinator's tasks now."""
        info = self.client.scheduler_info(n_workers=-1)
        return sum(1 for w in info.get("workers", {}).values() if w.get("resources", {}).get(self.resource))

    def check_workers(self) -> list[str]:
        """Workers that will get no task (another kit version, a plain ``dask worker``), newly seen."""
        info = self.client.scheduler_info(n_workers=-1)
        new = self._tend_jobs(info) if self.jobqueue is not None else []
        for addr, w in info.get("workers", {}).items():
            res = w.get("resources", {}) or {}
            if res.get(self.resource) or addr in self.refused:
                continue
            other = [r for r in res if r.startswith("fmnist-grader-")]
            why = (f"it runs other versions (fingerprint {other[0][len('fmnist-grader-'):]}, ours "
                   f"{self.resource[len('fmnist-grader-'):]}): start it with this kit's versions"
                   if other else "it was not started with `python -m autograder worker`")
            self.refused[addr] = why
            new.append(f"worker {w.get('name', addr)} ({addr}) gets no submissions: {why}")
        return new

    def _tend_jobs(self, info: dict) -> list[str]:
        """``--cluster``: resubmit jobs that ended (wall time, ``scancel``, a lost node), and stop
        with the jobs' state when no grading worker has been there for ``start_timeout`` seconds
        (jobs that never start: a full queue, a request the partition cannot meet)."""
        now = time.monotonic()
        notes = []
        if now - self._rescaled >= RESCALE_EVERY:
            self._rescaled = now
            submit_jobs(self.jobqueue, self.jobs, self.kind)
        jobs = dict(getattr(self.jobqueue, "workers", {}) or {})
        for w in info.get("workers", {}).values():
            job = jobs.get(w.get("name"))
            if getattr(job, "job_id", None):
                self._joined.add(str(job.job_id))
        graders = sum(1 for w in info.get("workers", {}).values()
                      if w.get("resources", {}).get(self.resource))
        if graders:
            self._idle_since = None
            return notes
        self._all_ended_unjoined()
        if self._idle_since is None:
            self._idle_since = now
            notes.append(f"waiting for a {self.kind} job to start a grading worker "
                         f"({self.job_states() or 'no job submitted yet'})")
        elif now - self._idle_since > self.start_timeout:
            raise GradingError(
                f"no {self.kind} job started a grading worker within {self.start_timeout:.0f} s: "
                f"{self.job_states() or 'no job in the queue'}",
                hint="the queue may be full or the jobs ask for more than the partition gives "
                "(--cluster-opt queue/cores/memory/walltime); a job that ended at once has its reason "
                f"in {self.logs}; wait longer with --cluster-opt start_timeout=SECONDS; "
                "run the same command again to grade the rest")
        return notes

    def _all_ended_unjoined(self) -> None:
        """Every job ended before its worker joined (a node that cannot grade: the worker's
        preflight refused, or the job script failed): say what its log says, now."""
        ids = self.job_ids()
        states = self._squeue(ids)
        if not ids or states is None or any(j in states or j in self._joined for j in ids):
            return
        jid = ids[-1]
        log = Path(self.logs) / f"{getattr(self.jobqueue, 'job_name', 'dask-worker')}-{jid}.err"
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
        jobs = getattr(self.jobqueue, "workers", {}) or {}
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

    def running(self) -> set[str]:
        """Keys of the tasks the workers are running now."""
        try:
            return {str(k) for keys in self.client.processing().values() for k in keys}
        except Exception:
            return set()


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


def jobqueue_cluster(kind: str, options: tuple[tuple[str, str], ...] = ()):
    """A dask-jobqueue cluster whose jobs run ``python -m autograder worker`` (not yet scaled)."""
    import signal

    before = signal.getsignal(signal.SIGINT)
    try:
        import dask_jobqueue
    except ImportError as exc:
        raise GradingError("--cluster needs the package dask-jobqueue",
                           hint="pip install dask-jobqueue (it is in the kit's requirements)") from exc
    # dask_jobqueue.runner sets SIGINT to a bare sys.exit() on import: Ctrl-C of grade would end it
    # with status 0 and skip the stop of the running gradings; put Python's KeyboardInterrupt back
    main = threading.current_thread() is threading.main_thread()
    if main and signal.getsignal(signal.SIGINT) is not before:
        signal.signal(signal.SIGINT, before)
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


@contextlib.contextmanager
def connect(spec: ClusterSpec, workers: int) -> Iterator[Session]:
    """The Dask client ``grade`` submits to: embedded, an existing scheduler, or a job queue."""
    import logging

    import dask
    from distributed import Client, LocalCluster

    fp_versions = versions()
    resource = resource_name(fingerprint(fp_versions))
    cluster = None
    with dask.config.set({"distributed.scheduler.work-stealing": True,
                          "distributed.worker.daemon": False,
                          "distributed.admin.tick.limit": "60s"}):
        try:
            if spec.embedded:
                _quiet_embedded_logs()
                # in-process transport; Dask's HTTP status servers on the loopback only
                cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=False,
                                       resources={resource: 1}, dashboard_address="127.0.0.1:0",
                                       worker_dashboard_address="127.0.0.1:0",
                                       silence_logs=logging.ERROR, memory_limit=0)
                client = Client(cluster, set_as_default=False)
                describe = f"{workers} worker(s) on this machine"
            elif spec.kind:
                _quiet_embedded_logs()  # the scheduler is in this process here too
                start_timeout, options = kit_options(spec.options)
                cluster = jobqueue_cluster(spec.kind, options)
                submit_jobs(cluster, spec.jobs or 1, spec.kind)
                client = Client(cluster, set_as_default=False)
                describe = (f"{spec.kind} cluster, {spec.jobs or 1} job(s) requested, scheduler "
                            f"{cluster.scheduler_address}")
            else:
                client = _client_for(spec.scheduler)
                describe = f"the Dask scheduler at {client.scheduler.address}"
        except GradingError:
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close(timeout=30)
            raise
        except (OSError, TimeoutError) as exc:
            raise GradingError(f"cannot reach the Dask scheduler {spec.scheduler or spec.kind}: {exc}",
                               hint="is it running, and is the address (or scheduler file) right?") from exc
        session = Session(client, resource, describe, spec.embedded)
        if spec.kind:
            session.jobqueue, session.kind, session.jobs = cluster, spec.kind, spec.jobs or 1
            session.start_timeout, session.logs = start_timeout, job_logs(options)
        try:
            if not spec.embedded:
                client.set_metadata(list(META_KEY), fp_versions)
                session.dashboard = _dashboard(client)
            yield session
        finally:
            with contextlib.suppress(Exception):
                client.close(timeout=10)
            if cluster is not None:
                with contextlib.suppress(Exception):
                    cluster.close(timeout=30)


def _quiet_embedded_logs() -> None:
    """Keep the embedded cluster's own log lines off the TA's console for the rest of the process.

    ``LocalCluster(silence_logs=...)`` restores Dask's console handlers when the cluster closes,
    and the in-process streams can still log while it closes: seen in ``make demo``, an INFO
    record "Batched Comm Closed" with a ``CommClosedError`` traceback after the last grading.
    In the embedded cluster every such record is Dask talking to itself inside ``grade``; what a
    TA needs (a grading's result, a worker that died) the kit prints itself. Errors still show.
    The same for ``--cluster``, whose scheduler runs in ``grade`` too (seen on Slurm: "Batched Comm
    Closed" with a traceback after Ctrl-C).
    """
    import logging

    for handler in logging.getLogger("distributed").handlers:
        if isinstance(handler, logging.StreamHandler) and handler.level < logging.ERROR:
            handler.setLevel(logging.ERROR)


def _dashboard(client) -> str:
    """The scheduler's dashboard link, if it serves one (its HTTP server may run without the pages)."""
    import urllib.request

    try:
        if not client.scheduler_info().get("services", {}).get("dashboard"):
            return ""
        link = client.dashboard_link
        with urllib.request.urlopen(link, timeout=3) as resp:
            return link if resp.status == 200 else ""
    except Exception:  # no dashboard, or not reachable from here
        return ""


def _client_for(address: str):
    from distributed import Client

    if Path(address).is_file():
        return Client(scheduler_file=address, timeout="20s", set_as_default=False)
    if "://" not in address:
        raise GradingError(f"--scheduler {address}: neither a tcp:// or tls:// address nor a scheduler file",
                           hint="e.g. --scheduler tcp://127.0.0.1:8786 or --scheduler scheduler.json")
    return Client(address, timeout="20s", set_as_default=False)


def set_stop(session: Session, run_id: str) -> None:
    """Tell every running task of this run to stop (Ctrl-C of the coordinator)."""
    ev = _LOCAL_STOPS.get(run_id)
    if ev is not None:
        ev.set()
    if not session.embedded:
        with contextlib.suppress(Exception):
            from distributed import Event

            Event(f"fmnist-stop-{run_id}", client=session.client).set()


def new_run(embedded: bool) -> str:
    run_id = hashlib.sha256(f"{os.getpid()}:{time.time()}:{id(object())}".encode()).hexdigest()[:16]
    if embedded:
        _LOCAL_STOPS[run_id] = threading.Event()
    return run_id


def end_run(run_id: str) -> None:
    _LOCAL_STOPS.pop(run_id, None)


# ---------------------------------------------------------------------------------------------
# The worker's side: ``python -m autograder worker ADDRESS``


def reap_dead_workers(base: Path) -> int:
    """Kill what gradings of dead workers on this host left, and remove their folders."""
    if not base.is_dir():
        return 0
    import psutil

    killed = 0
    for folder in base.glob("w*"):
        try:
            pid = int(folder.name[1:].split("-")[0])
        except ValueError:
            continue
        if psutil.pid_exists(pid) and (folder / "owner").is_file() and (
                folder / "owner").read_text().strip() == _proc_start(pid):
            continue  # its worker is alive
        killed += supervise.kill_processes(supervise.marked_processes(str(folder.resolve()), psutil))
        shutil.rmtree(folder, ignore_errors=True)
    return killed


def _proc_start(pid: int) -> str:
    import psutil

    try:
        return f"{psutil.Process(pid).create_time():.2f}"
    except psutil.Error:
        return ""


def run_worker(address: str, *, threads: int, name: str | None, work_dir: Path | None,
               sandboxed: bool = True, tls: dict[str, str] | None = None, death_timeout: float | None = None,
               interface: str | None = None, protocol: str | None = None, stream=None) -> int:
    """Preflight, then serve as a Dask worker taking this kit's grading tasks until stopped."""
    import asyncio

    stream = stream or sys.stderr
    from autograder.grading.preflight import problems as preflight_problems

    problems = preflight_problems(sandboxed)
    if problems:
        raise GradingError("this machine cannot grade: " + "; ".join(problems),
                           hint="fix it (see `make setup`), then start the worker again")
    mine = versions()
    fp = fingerprint(mine)
    security = None
    if tls:
        from distributed.security import Security

        # the worker's own Client (the versions check below) presents the same certificate
        security = Security(tls_ca_file=tls.get("ca"), tls_worker_cert=tls.get("cert"),
                            tls_worker_key=tls.get("key"), tls_client_cert=tls.get("cert"),
                            tls_client_key=tls.get("key"), require_encryption=True)
    scheduler_file = address if Path(address).is_file() else None
    if scheduler_file is None and "://" not in address:
        raise GradingError(f"{address}: neither a tcp:// or tls:// address nor a scheduler file",
                           hint="e.g. python -m autograder worker tcp://127.0.0.1:8786")
    theirs = _coordinator_versions(address, scheduler_file, security)
    if theirs and theirs != mine:
        raise GradingError("the coordinator grading on this scheduler runs other versions: "
                           + "; ".join(differences(mine, theirs)),
                           hint="install the same kit and packages here (make setup in the same checkout)")
    base = work_dir or (data.kit_home() / "worker-work")
    base.mkdir(parents=True, exist_ok=True)
    reaped = reap_dead_workers(base)
    if reaped:
        print(f"stopped {reaped} process(es) left by a killed worker on this host", file=stream)
    # the folder appears with its owner already in it: another worker starting on this host reaps
    # a w<pid> folder without an owner (seen: two Slurm jobs starting at once)
    root, staging = base / f"w{os.getpid()}", base / f".w{os.getpid()}.new"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / "owner").write_text(_proc_start(os.getpid()))
    shutil.rmtree(root, ignore_errors=True)  # a dead worker's, with this pid again
    staging.rename(root)
    _WORKER_ROOT[:] = [root]
    os.environ[THREADS_ENV] = str(max(1, threads))
    print(f"fmnist-kit worker: preflight passed (kit {KIT_VERSION}, fingerprint {fp}); "
          f"grading folder {root}; {threads} TensorFlow thread(s) per grading", file=stream, flush=True)

    async def serve() -> None:
        from distributed import Worker

        async with Worker(scheduler_file=scheduler_file, scheduler_ip=None if scheduler_file else address,
                          nthreads=1, resources={resource_name(fp): 1}, name=name, memory_limit=0,
                          security=security, death_timeout=death_timeout, interface=interface,
                          protocol=protocol, local_directory=str(root / "dask")) as worker:
            print(f"fmnist-kit worker {worker.name} at {worker.address}, connected to "
                  f"{worker.scheduler.address}", file=stream, flush=True)
            await worker.finished()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


def _coordinator_versions(address: str, scheduler_file: str | None, security) -> dict | None:
    from distributed import Client

    try:
        kw = {"scheduler_file": scheduler_file} if scheduler_file else {"address": address}
        with Client(**kw, timeout="20s", security=security, set_as_default=False) as client:
            return client.get_metadata(list(META_KEY), default=None)
    except (OSError, TimeoutError) as exc:
        raise GradingError(f"cannot reach the Dask scheduler {address}: {exc}",
                           hint="is it running, and is the address (or scheduler file) right?") from exc
