"""Running one grading stage as a supervised process tree: time, memory, Ctrl-C, kill -9.

A stage (the worker that runs otter, or the clean check) runs in its own session, inside the
bubblewrap sandbox unless told otherwise. Its output goes through ``sandbox.OutputCap`` into a
log that never grows beyond ``Limits.output``. The supervisor polls the summed resident memory of
the whole tree and kills the tree (its process group, its descendants, and every process that
carries the work folder's ``FMNIST_KIT_WORKDIR`` marker) when a limit is crossed. Children get
SIGKILL when the grader dies, even by ``kill -9`` (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from autograder.grading.execution import sandbox

#: Set in the environment of every process grading one submission (worker, kernel, their
#: children), so the whole tree can be found and killed even when the kernel runs in its own
#: session, or when a previous grader was killed with ``kill -9``.
WORKDIR_MARKER = "FMNIST_KIT_WORKDIR"


@dataclass(frozen=True, kw_only=True)
class StageResult:
    """How a stage ended: its exit code, why it was killed ("" if it was not), what it used."""

    returncode: int | None
    killed: str  # "" | "timeout" | "memory" | "stop"
    peak_rss: int  # bytes, summed over the tree, as polled
    output_truncated: bool


def run_stage(
    argv: list[str],
    *,
    workdir: Path,
    log: Path,
    env: dict[str, str],
    readonly: list[Path],
    timeout: float | None,
    memory_limit: int | None = None,
    stop: threading.Event | None = None,
    sandboxed: bool = True,
    limits: sandbox.Limits | None = None,
) -> StageResult:
    """Run one stage in a child process (in the sandbox unless told otherwise), supervised."""
    limits = limits or sandbox.Limits()
    if sandboxed:
        argv = sandbox.command(argv, workdir=workdir, readonly=readonly, env=env, limits=limits)
    with sandbox.OutputCap(log, limits.output) as out:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out.fd, stderr=subprocess.STDOUT, env=env,
            cwd=workdir, start_new_session=True, preexec_fn=_die_with_parent,
        )
        out.started()
        try:
            rc, why, peak = supervise(proc, workdir, timeout, memory_limit, stop)
        finally:
            if proc.poll() is None:  # an exception in the supervisor: leave nothing behind
                kill_tree(proc, workdir)
    return StageResult(returncode=rc, killed=why, peak_rss=peak, output_truncated=out.truncated)


def supervise(
    proc: subprocess.Popen,
    workdir: Path,
    timeout: float | None,
    memory_limit: int | None,
    stop: threading.Event | None,
    poll: float = 1.0,
) -> tuple[int | None, str, int]:
    """Wait for the stage; (exit code, why it was killed or "", peak tree RSS in bytes).

    The tree is polled once a second (each poll reads the tree from /proc: measured about 2 ms
    of CPU with a TensorFlow kernel, which at 4 polls a second over a 5-minute grading was a few
    seconds of the overhead); the end of the stage is seen at once (``wait``). Per process,
    ``RLIMIT_DATA`` bounds memory between polls."""
    import psutil

    deadline = None if timeout is None else time.monotonic() + timeout
    peak = 0
    while True:
        try:
            return proc.wait(timeout=poll), "", peak
        except subprocess.TimeoutExpired:
            pass
        rss = _tree_rss(proc.pid, psutil)
        peak = max(peak, rss)
        why = ""
        if stop is not None and stop.is_set():
            why = "stop"
        elif deadline is not None and time.monotonic() > deadline:
            why = "timeout"
        elif memory_limit is not None and rss > memory_limit:
            why = "memory"
        if why:
            kill_tree(proc, workdir)
            return proc.returncode, why, peak


def _tree_processes(pid: int, workdir: Path, psutil) -> list:
    """The stage's process, its descendants, and any process carrying this workdir's marker."""
    procs = {}
    try:
        parent = psutil.Process(pid)
        for p in [parent, *parent.children(recursive=True)]:
            procs[p.pid] = p
    except psutil.NoSuchProcess:
        pass
    for p in marked_processes(str(workdir.resolve()), psutil):
        procs.setdefault(p.pid, p)
    return list(procs.values())


def marked_processes(workdir_prefix: str, psutil=None) -> list:
    """Processes whose ``FMNIST_KIT_WORKDIR`` lies under ``workdir_prefix`` (strays included)."""
    if psutil is None:
        import psutil
    found = []
    me = os.getpid()
    for p in psutil.process_iter():
        if p.pid == me:
            continue
        try:
            marker = p.environ().get(WORKDIR_MARKER)
        except (psutil.Error, OSError):
            continue
        if marker and (marker == workdir_prefix or marker.startswith(workdir_prefix.rstrip("/") + "/")):
            found.append(p)
    return found


def _proc_descendants(pid: int) -> list[int] | None:
    """``pid`` and its descendants from ``/proc/<pid>/task/<tid>/children`` (Linux), or None
    where the kernel does not offer that file. Reading the tree this way touches only its own
    processes; ``psutil``'s ``children()`` reads every process of the machine on each poll."""
    if not os.path.exists(f"/proc/{os.getpid()}/task/{os.getpid()}/children"):
        return None
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
            except (OSError, ValueError):
                continue
    return out


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _tree_rss(pid: int, psutil) -> int:
    """Resident memory of ``pid``'s whole tree, in bytes."""
    pids = _proc_descendants(pid)
    if pids is not None:
        total = 0
        for p in pids:
            try:
                with open(f"/proc/{p}/statm") as f:
                    total += int(f.read().split()[1]) * _PAGE
            except (OSError, ValueError, IndexError):
                continue
        return total
    total = 0
    try:
        parent = psutil.Process(pid)
        tree = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for p in tree:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _libc():
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _libc()  # loaded in the parent: the child after fork() only makes one system call


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the grader dies (even by ``kill -9``); Linux only."""
    if _LIBC is not None and sys.platform.startswith("linux"):
        _LIBC.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL


def kill_tree(proc: subprocess.Popen, workdir: Path | None = None) -> None:
    """Stop the stage and everything it started (kernel, its children), marker included."""
    import signal

    import psutil

    procs = _tree_processes(proc.pid, workdir, psutil) if workdir is not None else []
    if workdir is None:
        try:
            parent = psutil.Process(proc.pid)
            procs = [*parent.children(recursive=True), parent]
        except psutil.NoSuchProcess:
            procs = []
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    kill_processes(procs)
    proc.wait()


def reap_under(folder: Path) -> int:
    """Kill the processes still grading under ``folder`` (marked with it; a grader or worker killed
    with -9 may leave kernels behind); how many were signalled."""
    if not folder.exists():
        return 0
    import psutil

    return kill_processes(marked_processes(str(folder.resolve()), psutil))


def kill_processes(procs: list) -> int:
    """SIGKILL each process (already gone is fine); return how many were signalled."""
    import psutil

    n = 0
    for p in procs:
        try:
            p.kill()
            n += 1
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)
    return n


class StageClock:
    """Wall and CPU seconds of named stages, into ``into`` (nothing when it is None).

    ``cpu``: a clock of the CPU seconds the grading used so far; by default this process's and
    its reaped children's (``getrusage``), which misses what a sandbox's own init reaps: the
    benchmark passes the CPU usage of a control group instead (``tools.overhead``).
    """

    def __init__(self, into: dict[str, dict[str, float]] | None, cpu=None) -> None:
        self.into = into
        self.cpu = cpu or cpu_seconds

    @contextlib.contextmanager
    def __call__(self, name: str):
        if self.into is None:
            yield
            return
        t0, c0 = time.perf_counter(), self.cpu()
        try:
            yield
        finally:
            self.into[name] = {"wall": time.perf_counter() - t0, "cpu": self.cpu() - c0}


def cpu_seconds() -> float:
    """User + system CPU of this process and of its children that have been waited for."""
    import resource

    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def explain_exit(rc: int | None, log: Path) -> str:
    """Why a stage stopped, in words, from its exit code and the end of its log."""
    text = read_text(log)[-20000:]
    if "DeadKernelError" in text or "Kernel died" in text:
        return "the notebook's kernel died (for example os._exit, a crash, or a memory limit)"
    if "MemoryError" in text:
        return "out of memory (the notebook used more than its limit)"
    lines = text.strip().splitlines()
    return f"exit {rc}: {' | '.join(lines[-3:])[:300]}"


def log_tail(log: Path) -> str:
    """The last three lines of a stage's log, on one line."""
    lines = read_text(log).strip().splitlines()
    return " | ".join(lines[-3:])[:300]


def read_text(path: Path) -> str:
    """A log as text ("" when it cannot be read)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def remove_tree(path: Path) -> None:
    """Remove a grading's folder, also where the notebook made a folder unwritable (``chmod 000``):
    a regrade must not fail on what the last grading's student code left behind."""
    def writable_then_retry(func, name: str, _exc) -> None:
        os.chmod(os.path.dirname(name) or ".", 0o700)
        with contextlib.suppress(OSError):
            os.chmod(name, 0o700)
        func(name)

    shutil.rmtree(path, onerror=writable_then_retry)
