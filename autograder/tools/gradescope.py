"""``python -m autograder bench --gradescope``: the published zip in otter's Gradescope layout, under
a Gradescope container's CPU and memory limits.

Gradescope builds an image from the zip's ``setup.sh`` and runs ``run_autograder`` per submission
in ``/autograder`` (``source/``, ``submission/``, ``results/results.json``). Emulated here:
bubblewrap shows the host's folders read-only over an empty root and binds a temporary folder
onto ``/autograder``; the zip's ``run_otter.py`` runs there in a cgroup (v1 ``cpu`` and
``memory``) with a CPU quota (``--cpus``, Gradescope's default ½) and a memory limit (``--memory``,
its default 768 MB). Per limit: wall and CPU seconds, the cgroup's peak memory, whether the
kernel killed a process for memory, and the score from ``results.json``. The Python of this
virtual environment runs it (the zip's own pins, the kit installed): the figures are the
notebook's and the zip's, not Gradescope's hardware.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path
from typing import TextIO

CGROUP_V1 = Path("/sys/fs/cgroup")
#: Gradescope's default container (the issue's figures): ½ vCPU, 768 MB, 10 minutes.
DEFAULT_CPUS, DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT = 0.5, 768, 600


def host_view() -> list[str]:
    """bwrap over an empty root showing the host's top-level folders (read-only, but HOME and
    /tmp), so that ``/autograder`` is made in the sandbox's own root, never on the host."""
    args = ["bwrap", "--die-with-parent"]
    for name in sorted(os.listdir("/")):
        path = f"/{name}"
        if name in ("proc", "dev", "sys", "autograder"):
            continue
        if os.path.islink(path):
            args += ["--symlink", os.readlink(path), path]
        elif os.path.isdir(path):
            writable = path in ("/tmp", str(Path.home()))
            args += ["--bind" if writable else "--ro-bind", path, path]
    return [*args, "--proc", "/proc", "--dev", "/dev"]


def layout(ag_zip: Path, notebook: Path, root: Path, name: str) -> list[str]:
    """Make otter's Gradescope folders under ``root``; the command that grades there."""
    for sub in ("submission", "results"):
        (root / sub).mkdir(parents=True)
    with zipfile.ZipFile(ag_zip) as zf:
        zf.extractall(root / "source")
    shutil.copy(notebook, root / "submission" / name)
    (root / "submission_metadata.json").write_text("{}", encoding="utf-8")
    return [*host_view(), "--bind", str(root), "/autograder", "--chdir", "/autograder", "--"]


def scores(results: Path) -> tuple[float, float, str]:
    """(score, possible, output) of otter's ``results.json``."""
    out = json.loads(results.read_text(encoding="utf-8"))
    tests = [t for t in out.get("tests", []) if "max_score" in t]
    return sum(t["score"] for t in tests), sum(t["max_score"] for t in tests), str(out.get("output", ""))


class Limits:
    """A v1 cgroup with a CPU quota and a memory limit; ``argv`` runs a command inside it."""

    def __init__(self, cpus: float, memory_mb: int) -> None:
        tag = f"fmnist-gradescope-{os.getpid()}-{int(cpus * 100)}-{memory_mb}"
        self.cpu = CGROUP_V1 / "cpu" / tag
        self.mem = CGROUP_V1 / "memory" / tag
        self.acct = CGROUP_V1 / "cpuacct" / tag
        for group in (self.cpu, self.mem, self.acct):
            group.mkdir()
        period = 100_000
        (self.cpu / "cpu.cfs_period_us").write_text(str(period))
        (self.cpu / "cpu.cfs_quota_us").write_text(str(int(cpus * period)))
        (self.mem / "memory.limit_in_bytes").write_text(str(memory_mb * 2**20))
        swap = self.mem / "memory.memsw.limit_in_bytes"
        if swap.is_file():  # no swapping around the limit
            swap.write_text(str(memory_mb * 2**20))

    def argv(self, cmd: list[str]) -> list[str]:
        procs = " ".join(str(g / "cgroup.procs") for g in (self.cpu, self.mem, self.acct))
        return ["sh", "-c", f'for f in {procs}; do echo $$ > "$f"; done; exec "$@"', "sh", *cmd]

    def peak_bytes(self) -> int:
        return int((self.mem / "memory.max_usage_in_bytes").read_text())

    def cpu_seconds(self) -> float:
        return int((self.acct / "cpuacct.usage").read_text()) / 1e9

    def oom_kills(self) -> int:
        stats = dict(line.split() for line in (self.mem / "memory.oom_control").read_text().splitlines())
        return int(stats.get("oom_kill", 0))

    def close(self) -> None:
        for group in (self.cpu, self.mem, self.acct):
            try:
                group.rmdir()
            except OSError:
                pass


def available() -> str:
    """"" when the benchmark can run here, else why not."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed"
    for controller in ("cpu", "memory", "cpuacct"):
        if not os.access(CGROUP_V1 / controller, os.W_OK):
            return f"no writable cgroup v1 '{controller}' controller (run as root on a cgroup v1 host)"
    return ""


def bench_gradescope(limits: list[tuple[float, int]] | None = None, *, timeout: int = DEFAULT_TIMEOUT,
                     stream: TextIO | None = None) -> list[dict]:
    """Grade the published solution in the Gradescope layout under each (cpus, memory MB)."""
    import sys

    from autograder import data, paths
    from autograder.catalog import SLUG, default_version
    from autograder.tools import samples

    stream = stream if stream is not None else sys.stdout

    def log(text: str) -> None:
        print(text, file=stream, flush=True)

    why = available()
    if why:
        raise RuntimeError(f"bench --gradescope cannot run here: {why}")
    limits = limits or [(DEFAULT_CPUS, DEFAULT_MEMORY_MB), (DEFAULT_CPUS, 2048), (1.0, 1536), (1.0, 2048)]
    version = default_version(SLUG)
    ag_zip = paths.autograder_zip(SLUG, version)
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin", "HOME": str(Path.home()),
           "LANG": "C.UTF-8", "KERAS_HOME": str(data.provide_keras_cache()), "MPLBACKEND": "Agg"}
    tmp = Path(tempfile.mkdtemp(prefix="fmnist-gradescope-"))
    rows = []
    log(f"Gradescope layout, the published solution of {SLUG} {version}, timeout {timeout} s "
        "(Gradescope's default container: 0.5 CPU, 768 MB, 600 s)")
    try:
        notebook = samples.write(SLUG, tmp / "in", ["solution"])["solution"]
        for i, (cpus, memory_mb) in enumerate(limits):
            root = tmp / f"run{i}"
            cmd = layout(ag_zip, notebook, root, f"{SLUG}.ipynb")
            group = Limits(cpus, memory_mb)
            t0 = time.perf_counter()
            try:
                proc = subprocess.run(group.argv([*cmd, sys.executable, "/autograder/source/run_otter.py"]),
                                      env=env, capture_output=True, text=True, timeout=timeout)
                rc, timed_out = proc.returncode, False
            except subprocess.TimeoutExpired:
                rc, timed_out = None, True
            wall = time.perf_counter() - t0
            row = {"cpus": cpus, "memory_mb": memory_mb, "wall": wall, "cpu": group.cpu_seconds(),
                   "peak_mb": group.peak_bytes() / 2**20, "oom_kills": group.oom_kills(),
                   "returncode": rc, "timed_out": timed_out}
            group.close()
            results = root / "results" / "results.json"
            if results.is_file():
                row["score"], row["possible"], _ = scores(results)
            rows.append(row)
            outcome = ("timed out" if timed_out else
                       f"score {row['score']:g}/{row['possible']:g}" if "score" in row else
                       f"no results.json (exit {rc})")
            log(f"  {cpus:4.2f} CPU, {memory_mb:5d} MB: {outcome}; wall {wall:6.1f} s, "
                f"CPU {row['cpu']:6.1f} s, peak memory {row['peak_mb']:6.0f} MB, "
                f"killed for memory {row['oom_kills']} time(s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows
