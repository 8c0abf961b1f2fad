"""The worker's side: ``python -m autograder worker ADDRESS``.

A preflight (can this machine grade: the data, the kernel, the sandbox), a check that the
coordinator on that scheduler runs the same versions, a grading folder of its own under
``--work-dir`` (the folders of workers killed on this host, and what their gradings left running,
are reaped first), then a Dask worker that advertises this kit's fingerprint as its one resource
and serves until stopped.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from autograder import __version__ as KIT_VERSION
from autograder import data
from autograder.errors import GradingError
from autograder.grading.cluster.fingerprint import META_KEY, differences, fingerprint, resource_name, versions
from autograder.grading.cluster.task import PLACE_ATTR, WorkerPlace
from autograder.grading.execution import supervise
from autograder.grading.execution.preflight import problems as preflight_problems


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
        killed += supervise.reap_under(folder)
        shutil.rmtree(folder, ignore_errors=True)
    return killed


def _proc_start(pid: int) -> str:
    import psutil

    try:
        return f"{psutil.Process(pid).create_time():.2f}"
    except psutil.Error:
        return ""


def _security(tls: dict[str, str] | None):
    """TLS for the worker, and for its own Client (the versions check) with the same certificate."""
    if not tls:
        return None
    from distributed.security import Security

    return Security(tls_ca_file=tls.get("ca"), tls_worker_cert=tls.get("cert"),
                    tls_worker_key=tls.get("key"), tls_client_cert=tls.get("cert"),
                    tls_client_key=tls.get("key"), require_encryption=True)


def grading_folder(base: Path, stream) -> Path:
    """This worker's own folder ``base/w<pid>``, after reaping what dead workers left. It appears
    with its owner file already in it: another worker starting on this host reaps a ``w<pid>``
    folder without an owner (seen: two Slurm jobs starting at once)."""
    base.mkdir(parents=True, exist_ok=True)
    reaped = reap_dead_workers(base)
    if reaped:
        print(f"stopped {reaped} process(es) left by a killed worker on this host", file=stream)
    root, staging = base / f"w{os.getpid()}", base / f".w{os.getpid()}.new"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    (staging / "owner").write_text(_proc_start(os.getpid()))
    shutil.rmtree(root, ignore_errors=True)  # a dead worker's, with this pid again
    staging.rename(root)
    return root


def run_worker(address: str, *, threads: int, name: str | None, work_dir: Path | None,
               sandboxed: bool = True, tls: dict[str, str] | None = None, death_timeout: float | None = None,
               interface: str | None = None, protocol: str | None = None, stream=None) -> int:
    """Preflight, then serve as a Dask worker taking this kit's grading tasks until stopped."""
    import asyncio

    stream = stream or sys.stderr
    problems = preflight_problems(sandboxed)
    if problems:
        raise GradingError("this machine cannot grade: " + "; ".join(problems),
                           hint="fix it (see `make setup`), then start the worker again")
    mine = versions()
    fp = fingerprint(mine)
    security = _security(tls)
    scheduler_file = address if Path(address).is_file() else None
    if scheduler_file is None and "://" not in address:
        raise GradingError(f"{address}: neither a tcp:// or tls:// address nor a scheduler file",
                           hint="e.g. python -m autograder worker tcp://127.0.0.1:8786")
    theirs = _coordinator_versions(address, scheduler_file, security)
    if theirs and theirs != mine:
        raise GradingError("the coordinator grading on this scheduler runs other versions: "
                           + "; ".join(differences(mine, theirs)),
                           hint="install the same kit and packages here (make setup in the same checkout)")
    root = grading_folder(work_dir or (data.kit_home() / "worker-work"), stream)
    print(f"fmnist-kit worker: preflight passed (kit {KIT_VERSION}, fingerprint {fp}); "
          f"grading folder {root}; {threads} TensorFlow thread(s) per grading", file=stream, flush=True)

    async def serve() -> None:
        from distributed import Worker

        worker = Worker(scheduler_file=scheduler_file, scheduler_ip=None if scheduler_file else address,
                        nthreads=1, resources={resource_name(fp): 1}, name=name, memory_limit=0,
                        security=security, death_timeout=death_timeout, interface=interface,
                        protocol=protocol, local_directory=str(root / "dask"))
        # before it starts: its first task may arrive as soon as it reaches the scheduler
        setattr(worker, PLACE_ATTR, WorkerPlace(root, max(1, threads)))
        async with worker:
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
