"""The coordinator's side: the Dask client ``grade`` submits to, and the stop of its run.

- **Embedded** (the default): a ``LocalCluster`` of ``workers`` workers with one thread each, in
  this process, with no network port (``inproc://``). A thread only supervises: each grading is
  its own sandboxed process tree, so whole-tree kills, memory polling and Ctrl-C work as without
  Dask.
- ``--scheduler ADDRESS`` (``tcp://``/``tls://`` or a scheduler file): an existing Dask cluster whose
  workers were started with ``python -m autograder worker``.
- ``--cluster slurm|pbs|sge|htcondor --jobs N``: one started through dask-jobqueue (``jobqueue``).

Only a worker advertising this coordinator's fingerprint gets a task (``fingerprint``); the
session names the workers that get none, and why.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from autograder.errors import GradingError
from autograder.grading.cluster import jobqueue, task
from autograder.grading.cluster.fingerprint import (
    META_KEY,
    RESOURCE_PREFIX,
    fingerprint,
    resource_name,
    versions,
)


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
    #: ``--cluster``: the worker jobs
    jobs: jobqueue.JobQueue | None = None

    def graders(self) -> int:
        """Workers that can take this coordinator's tasks now."""
        return self._graders(self.client.scheduler_info(n_workers=-1).get("workers", {}))

    def _graders(self, workers: dict) -> int:
        return sum(1 for w in workers.values() if w.get("resources", {}).get(self.resource))

    def check_workers(self) -> list[str]:
        """Workers that will get no task (another kit version, a plain ``dask worker``), newly seen;
        with ``--cluster``, also what the jobs are doing while no worker grades."""
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        new = self.jobs.tend(workers, self._graders(workers)) if self.jobs is not None else []
        for addr, w in workers.items():
            res = w.get("resources", {}) or {}
            if res.get(self.resource) or addr in self.refused:
                continue
            other = [r for r in res if r.startswith(RESOURCE_PREFIX)]
            why = (f"it runs other versions (fingerprint {other[0][len(RESOURCE_PREFIX):]}, ours "
                   f"{self.resource[len(RESOURCE_PREFIX):]}): start it with this kit's versions"
                   if other else "it was not started with `python -m autograder worker`")
            self.refused[addr] = why
            new.append(f"worker {w.get('name', addr)} ({addr}) gets no submissions: {why}")
        return new

    def running(self) -> set[str]:
        """Keys of the tasks the workers are running now."""
        try:
            return {str(k) for keys in self.client.processing().values() for k in keys}
        except Exception:
            return set()

    def start_run(self) -> str:
        """A new run's id; on the embedded cluster, with its stop flag."""
        return task.LOCAL_RUNS.start() if self.embedded else task.new_run_id()

    def stop_run(self, run_id: str) -> None:
        """Tell every running task of this run to stop (Ctrl-C of the coordinator)."""
        flag = task.LOCAL_RUNS.flag(run_id)
        if flag is not None:
            flag.set()
        if not self.embedded:
            with contextlib.suppress(Exception):
                from distributed import Event

                Event(task.stop_event_name(run_id), client=self.client).set()

    def end_run(self, run_id: str) -> None:
        task.LOCAL_RUNS.end(run_id)


@contextlib.contextmanager
def connect(spec: ClusterSpec, workers: int) -> Iterator[Session]:
    """The Dask client ``grade`` submits to: embedded, an existing scheduler, or a job queue."""
    import dask
    import distributed  # noqa: F401  before the config block below: importing distributed adds its
    # defaults to dask's config, and a first import inside ``dask.config.set`` would have them taken
    # away again when the block ends (a second ``grade`` in the same process: KeyError 'comm')

    fp_versions = versions()
    resource = resource_name(fingerprint(fp_versions))
    cluster, jobs = None, None
    with dask.config.set({"distributed.scheduler.work-stealing": True,
                          "distributed.worker.daemon": False,
                          "distributed.admin.tick.limit": "60s"}):
        try:
            if spec.embedded:
                cluster, client, describe = _embedded(workers, resource)
            elif spec.kind:
                _quiet_embedded_logs()  # the scheduler is in this process here too
                start_timeout, options = jobqueue.kit_options(spec.options)
                cluster = jobqueue.jobqueue_cluster(spec.kind, options)
                jobs = jobqueue.JobQueue(cluster, spec.kind, spec.jobs or 1, start_timeout,
                                         jobqueue.job_logs(options))
                jobqueue.submit_jobs(cluster, jobs.jobs, spec.kind)
                client = _client(cluster)
                describe = (f"{spec.kind} cluster, {jobs.jobs} job(s) requested, scheduler "
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
        session = Session(client, resource, describe, spec.embedded, jobs=jobs)
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


def _embedded(workers: int, resource: str):
    """The default: a ``LocalCluster`` in this process, in-process transport, Dask's HTTP status
    servers on the loopback only."""
    import logging

    from distributed import LocalCluster

    _quiet_embedded_logs()
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=False,
                           resources={resource: 1}, dashboard_address="127.0.0.1:0",
                           worker_dashboard_address="127.0.0.1:0",
                           silence_logs=logging.ERROR, memory_limit=0)
    return cluster, _client(cluster), f"{workers} worker(s) on this machine"


def _client(cluster):
    from distributed import Client

    return Client(cluster, set_as_default=False)


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
