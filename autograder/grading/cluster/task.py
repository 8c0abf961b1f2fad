"""The task a worker runs: one submission's grading, and how it learns that it should stop.

``grade_task`` runs ``run_one.grade_one`` on whichever worker Dask gave it to and returns the
``Record`` with its keys, or None when it was stopped. On the coordinator's own machine (the
embedded cluster) it grades in the coordinator's work folder with the coordinator's snapshot of
the autograder; on a worker started by ``python -m autograder worker`` it grades in that worker's
folder (``WorkerPlace``, which the worker hands to its Dask ``Worker``), writing the autograder
there once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from autograder.grading.execution import pipeline, run_one
from autograder.results import Record, Status


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
    #: The class folder's cache of verified trainings when on the same machine (embedded); None:
    #: the worker's own (``TRAININGS`` in its folder).
    training_cache: str | None = None
    #: False: no cache at all (every network trained in the kernel and again by the replay).
    use_trainings: bool = True

    @property
    def local(self) -> bool:
        return self.work_root is not None


@dataclass(frozen=True)
class WorkerPlace:
    """A kit worker's grading folder and TensorFlow threads per grading (``worker.run_worker``
    attaches it to its Dask ``Worker`` as ``PLACE_ATTR`` before the worker starts)."""

    root: Path
    threads: int


#: A worker's cache of verified trainings, in its grading folder (``replay.TrainingCache``).
TRAININGS = "trainings"
#: The attribute of a Dask ``Worker`` that holds its ``WorkerPlace``.
PLACE_ATTR = "fmnist_kit_place"


def thread_env(threads: int) -> dict[str, str]:
    """TensorFlow's threads for one grading (so gradings on one host share its cores)."""
    per = str(max(1, threads))
    return {"TF_NUM_INTRAOP_THREADS": per, "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": per}


def current_place() -> WorkerPlace:
    """The place of the Dask worker running this task; a plain ``dask worker`` (which a kit
    coordinator gives no task) gets a temporary folder, kept for its later tasks."""
    worker = None
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):  # not inside a Dask task
        pass
    place = getattr(worker, PLACE_ATTR, None)
    if place is None:
        place = WorkerPlace(Path(tempfile.mkdtemp(prefix="fmnist-kit-worker-")), os.cpu_count() or 1)
        if worker is not None:
            setattr(worker, PLACE_ATTR, place)
    place.root.mkdir(parents=True, exist_ok=True)
    return place


class LocalRuns:
    """The stop flags of the runs graded on this process's embedded cluster: a task running in
    this process looks its run's flag up by the run's id (a remote task uses ``ClusterStop``)."""

    def __init__(self) -> None:
        self._flags: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def start(self) -> str:
        run_id = new_run_id()
        with self._lock:
            self._flags[run_id] = threading.Event()
        return run_id

    def flag(self, run_id: str) -> threading.Event | None:
        with self._lock:
            return self._flags.get(run_id)

    def end(self, run_id: str) -> None:
        with self._lock:
            self._flags.pop(run_id, None)


#: The embedded cluster's runs in this process (the coordinator's and its in-process workers').
LOCAL_RUNS = LocalRuns()


def new_run_id() -> str:
    return hashlib.sha256(f"{os.getpid()}:{time.time()}:{id(object())}".encode()).hexdigest()[:16]


def stop_event_name(run_id: str) -> str:
    """The Dask ``Event`` a coordinator sets to stop its run's tasks on remote workers."""
    return f"fmnist-stop-{run_id}"


class ClusterStop:
    """A stop flag for a task on a remote worker: set when the scheduler no longer wants the task
    (its coordinator died or cancelled it: the worker marks it cancelled) or when the run's Dask
    ``Event`` is set (Ctrl-C of the coordinator); the event is read at most every 3 s."""

    def __init__(self, run_id: str) -> None:
        self.name, self.checked, self.value = stop_event_name(run_id), 0.0, False
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
    if spec.local:
        root, env, stop = Path(spec.work_root), dict(spec.env), LOCAL_RUNS.flag(spec.run_id)
    else:
        place = current_place()
        root, env, stop = place.root, dict(spec.env) or thread_env(place.threads), ClusterStop(spec.run_id)
        # a worker's log; on this machine the progress line says it
        print(f"fmnist-kit: grading {spec.job[:20]} ({spec.name})", file=sys.stderr, flush=True)
    ag = Path(spec.ag_path) if spec.ag_path else _autograder_copy(root, spec.ag_sha256, autograder)
    workdir = root / spec.job[:20]
    source = root / f"{spec.job[:20]}.submitted.ipynb"
    source.write_bytes(notebook)
    try:
        res = run_one.grade_one(source, ag, workdir, timeout=spec.timeout,
                                keras_home=Path(spec.keras_home) if spec.keras_home else None,
                                memory_limit=spec.memory_limit, stop=stop, env=env,
                                sandboxed=spec.sandboxed, seed=spec.seed,
                                training_cache=None if not spec.use_trainings
                                else Path(spec.training_cache) if spec.training_cache else root / TRAININGS)
        if res.status == Status.INTERRUPTED:
            if not spec.local:
                print(f"fmnist-kit: stopped {spec.job[:20]} (the coordinator stopped or no longer "
                      "wants it)", file=sys.stderr, flush=True)
            return None
        return dataclasses.replace(res, sub_sha=spec.sub_sha, ag_sha=spec.ag_key, time_limit=spec.timeout)
    finally:
        source.unlink(missing_ok=True)
        if not spec.keep_work:
            shutil.rmtree(workdir, ignore_errors=True)
            shutil.rmtree(run_one.private_dir(workdir), ignore_errors=True)
            shutil.rmtree(pipeline.replay_dir(workdir), ignore_errors=True)
            shutil.rmtree(pipeline.served_dir(workdir), ignore_errors=True)


def _autograder_copy(root: Path, sha256: str, autograder: bytes) -> Path:
    """The worker's copy of an autograder zip: written once, atomically, named by its hash."""
    ag = root / f"autograder-{sha256[:12]}.zip"
    if not (ag.is_file() and hashlib.sha256(ag.read_bytes()).hexdigest() == sha256):
        tmp = ag.with_name(f"{ag.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_bytes(autograder)
        tmp.replace(ag)
    return ag
