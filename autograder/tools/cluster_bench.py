"""``python -m autograder bench --cluster [N]``: the same class graded on this machine and on Dask workers.

N copies of the solution (they differ by one metadata field, so the ledger cannot reuse one
result for all) are graded three times, one after the other, each into a fresh folder: (a) by
the embedded default (``grade --workers 2``); (b) through a Dask scheduler on 127.0.0.1 with one
``autograder worker``; (c) the same with two. Every grading uses one TensorFlow thread, so (b)
and (c) differ only in the number of workers. For each: wall time, mean seconds per grading
(the worker's own ``grade_one`` time, from the ledger), and the time the worker slots were not
grading, per submission: ``(wall x workers - sum of gradings) / N``, an upper bound on what the
coordinator, the scheduler and the task transfer add (it also holds the batch's start and its
tail). (d) Where Slurm is installed: the same class through ``grade --cluster slurm --jobs 2`` on a
single-node Slurm started for the run (``tools/slurm.py``, one CPU per job): the jobs' start
latency (sbatch to the worker registered with the scheduler) and the per-task overhead once both
workers are up.

The headline is relative to the machine: what two workers gain over one, as a fraction of what the
solution notebook itself gains, executed bare (no kit, no Dask, ``jupyter nbconvert``) two at once
vs alone: one round before the gradings and one after (the host's speed drifts), their median the
ceiling; the target is >= 0.95 of it. Also a pure-Python loop alone vs two at once, and a paper
estimate for 1,000 submissions on cluster nodes, from the measured per-grading time and peak memory.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import TextIO

from autograder.catalog import SLUG, default_version
from autograder.tools import samples
from autograder.tools.loopback import ROOT, Loopback

#: The ceiling the two workers' speed-up is measured against: at least this fraction of it.
TARGET = 0.95


def _grade(folder: Path, out: Path, version: str, extra: list[str],
           env: dict[str, str] | None = None) -> float:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(folder), "--out", str(out),
                           "--version", version, "--timeout", "1200", *extra],
                          cwd=ROOT, capture_output=True, text=True, env=env)
    wall = time.monotonic() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"grade failed ({proc.returncode}): {proc.stdout[-1500:]} {proc.stderr[-1500:]}")
    return wall


def _ledger(out: Path) -> list[tuple[str, float, int]]:
    with sqlite3.connect(out / "ledger.sqlite") as db:
        return [(str(s), float(t), int(m))
                for s, t, m in db.execute("SELECT status, seconds, peak_rss FROM results").fetchall()]


#: A fixed amount of pure-Python work (about 2 s here).
_SPIN = "n = 0\nwhile n < 30_000_000:\n    n += 1\n"


def machine_ceiling(copies: int = 2) -> float:
    """How much more this machine does with ``copies`` busy processes than with one: a fixed
    pure-Python loop run alone, then ``copies`` at once; ``copies x alone / together``. Two vCPUs
    that are one core's two hyperthreads give about 1.2-1.5, two real cores about 2."""

    def run(k: int) -> float:
        t0 = time.monotonic()
        procs = [subprocess.Popen([sys.executable, "-c", _SPIN]) for _ in range(k)]
        for p in procs:
            p.wait()
        return time.monotonic() - t0

    alone = statistics.median(run(1) for _ in range(3))
    together = statistics.median(run(copies) for _ in range(3))
    return copies * alone / together


def notebook_ceiling(rounds: int = 2, *, log=print, first: int = 1) -> dict:
    """The same ceiling for this exercise's own work, without the kit or Dask: the solution
    notebook executed bare (``jupyter nbconvert --execute``, one TensorFlow thread) alone, then
    two copies at once, ``rounds`` times interleaved; ``2 x alone / together`` per round. No
    grader can get more out of two workers on this machine than this."""
    from concurrent.futures import ThreadPoolExecutor

    from autograder import data
    from autograder.grading.cluster.task import thread_env
    from autograder.grading.execution import run_one
    from autograder.tools.overhead import CpuMeter, bare_notebook, run_bare

    run_one.ensure_kernel()
    # one TensorFlow thread, as each grading of the benchmark: with TensorFlow's default (every
    # core) one notebook alone already uses both cores here and the "ceiling" drops to x1.3
    # (measured 2026-12-06: 2 workers then reached 1.45 of it, which no grader can)
    env = {**run_one.grading_env(data.provide_keras_cache()), **thread_env(1)}
    tmp = Path(tempfile.mkdtemp(prefix="fmnist-ceiling-"))
    nb = bare_notebook(samples.solution(SLUG, default_version(SLUG)))
    meter = CpuMeter("", move_self=False)  # getrusage: only wall times are used here
    ratios = []
    try:
        for r in range(first - 1, first - 1 + rounds):
            alone = run_bare(nb, tmp / f"alone{r}", env, meter)["wall"]
            t0 = time.monotonic()
            with ThreadPoolExecutor(2) as pool:
                runs = [pool.submit(run_bare, nb, tmp / f"pair{r}-{k}", env, meter) for k in range(2)]
                for f in runs:
                    f.result()
            together = time.monotonic() - t0
            ratios.append(2 * alone / together)
            log(f"  the notebook bare, round {r + 1}: alone {alone:5.1f} s, two at once {together:5.1f} s: "
                f"x{ratios[-1]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"ratios": ratios, "median": statistics.median(ratios)}


def bench_cluster(n: int = 8, *, stream: TextIO | None = None) -> dict:
    stream = stream if stream is not None else sys.stdout

    def log(text: str) -> None:
        print(text, file=stream, flush=True)

    version = default_version(SLUG)
    tmp = Path(tempfile.mkdtemp(prefix="fmnist-cluster-bench-"))
    folder = tmp / "in"
    folder.mkdir()
    for i in range(n):
        nb = samples.solution(SLUG, version)
        nb["metadata"]["bench_copy"] = i
        (folder / f"b{i:03d}_3-2.ipynb").write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
    log(f"cluster benchmark: {n} copies of the solution, one TensorFlow thread per grading")
    rows: dict[str, dict] = {}
    ratios = notebook_ceiling(1, log=log)["ratios"]  # one round now, one after the gradings
    try:
        plans = [("embedded, 2 workers", 2, None), ("loopback scheduler, 1 worker", 1, 1),
                 ("loopback scheduler, 2 workers", 2, 2)]
        for label, slots, workers in plans:
            rows[label] = _dask_row(label, slots, workers, folder, tmp / f"row-{len(rows)}", version, n, log)
        slurm = _slurm_row(folder, tmp, version, n, log)
        if slurm:
            rows["slurm, 2 jobs"] = slurm
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ratios += notebook_ceiling(1, log=log, first=2)["ratios"]
    return _summary(rows, ratios, log)


def _dask_row(label: str, slots: int, workers: int | None, folder: Path, tmp: Path, version: str, n: int,
              log) -> dict:
    """The class graded embedded (``workers`` None) or through a loopback scheduler with
    ``workers`` kit workers: wall, mean grading, idle slot time per submission, peak memory."""
    tmp.mkdir(parents=True)
    out = tmp / "out"
    if workers is None:
        wall = _grade(folder, out, version, ["--workers", str(slots)])
    else:
        loop = Loopback(tmp / "loop", tmp / "loop" / "scheduler.json", keep=workers, threads=1)
        loop.tmp.mkdir()
        loop.start(keeper=False)
        try:
            wall = _grade(folder, out, version, ["--scheduler", str(loop.scheduler_file)])
        finally:
            loop.close()
    graded = [r for r in _ledger(out) if r[0] == "graded"]
    if len(graded) != n:
        raise RuntimeError(f"{label}: {len(graded)} of {n} graded")
    secs = [r[1] for r in graded]
    idle = (wall * slots - sum(secs)) / n
    log(f"  {label:32} wall {wall:7.1f} s   grading {statistics.mean(secs):6.1f} s mean   "
        f"slots idle per submission {idle:5.1f} s")
    return {"wall": wall, "slots": slots, "per_grading": statistics.mean(secs),
            "idle_per_submission": idle, "peak_rss": max(r[2] for r in graded)}


def _summary(rows: dict[str, dict], ratios: list[float], log) -> dict:
    """The speed-up of two workers over one as a fraction of the notebook's own ceiling, the Slurm
    path's latency and idle time, and the paper estimate for a large class."""
    one, two = rows["loopback scheduler, 1 worker"], rows["loopback scheduler, 2 workers"]
    speedup = one["wall"] / two["wall"]
    emb = rows["embedded, 2 workers"]
    work = statistics.median(ratios)
    ceiling = machine_ceiling(2)
    fraction = speedup / work
    log(f"\n  2 workers vs 1 worker (loopback scheduler): x{speedup:.2f}; this notebook's own ceiling "
        f"on this machine (bare, two at once vs alone, median of a round before and one after): x{work:.2f}")
    log(f"  => 2 workers reach {fraction:.3f} of the ceiling (target >= {TARGET}): "
        f"{'met' if fraction >= TARGET else 'NOT met'}")
    log(f"  a pure-Python loop alone vs two at once: x{ceiling:.2f}")
    log(f"  loopback 2 workers vs embedded 2 workers: wall x{two['wall'] / emb['wall']:.3f}")
    slurm = rows.get("slurm, 2 jobs")
    if slurm:
        up = one["wall"] / (slurm["wall"] - slurm["start_latency"])
        log(f"  slurm 2 jobs vs loopback 1 worker: x{one['wall'] / slurm['wall']:.2f} "
            f"(x{up:.2f} once both jobs' workers are up, {up / work:.3f} of the ceiling); job start latency "
            f"{slurm['start_latency']:.1f} s (sbatch to the worker registered; Slurm's own part "
            f"{slurm['slurm_latency']:.0f} s), idle per task once up {slurm['idle_after_start']:.1f} s")
    per = statistics.mean(r["per_grading"] for r in rows.values())
    peak = max(r["peak_rss"] for r in rows.values())
    log(f"\n  paper estimate, 1,000 submissions: {per:.0f} s per grading on one core (measured here, "
        f"two gradings beside each other), peak {peak / 2**30:.2f} GiB per grading")
    log("  per node of 32 cores and 128 GB: graders = min(32, 128 GB / (peak x 1.5)); "
        "no speed-up from the node's cores assumed beyond one grading per core")
    graders = max(1, min(32, int(128 * 2**30 / (peak * 1.5)))) if peak else 32
    for nodes in (1, 4, 16, 32):
        total = 1000 * per / (nodes * graders)
        log(f"    {nodes:3d} node(s) x {graders} graders: {total / 60:6.1f} min")
    return {"rows": rows, "speedup_2_vs_1": speedup, "machine_ceiling": ceiling,
            "notebook_ceiling": work, "ceiling_rounds": ratios, "fraction_of_ceiling": fraction,
            "per_grading": per, "peak_rss": peak, "graders_per_node": graders}


def _slurm_row(folder: Path, tmp: Path, version: str, n: int, log) -> dict | None:
    """The class through ``grade --cluster slurm --jobs 2`` on a single-node Slurm started here."""
    from autograder.tools.slurm import Slurm, missing

    why = missing()
    if why:
        log(f"  slurm, 2 jobs: not measured ({why})")
        return None
    s = Slurm(tmp / "slurm").start()
    logs, out = tmp / "slurm-logs", tmp / "out-slurm"
    try:
        started = time.time()
        wall = _grade(folder, out, version, ["--cluster", "slurm", "--jobs", "2", "--cluster-opt", "cores=1",
                                             "--cluster-opt", "memory=4GB",
                                             "--cluster-opt", f"log_directory={logs}"], env=s.env)
        latencies, slurm_part = [], []
        for f in sorted(logs.glob("*.err")):
            m = re.search(r"^(\S+ \S+) - distributed\.worker - INFO - +Registered to:", f.read_text(), re.M)
            jid = f.stem.rsplit("-", 1)[-1]
            info = s.run("scontrol", "show", "job", jid, check=False)
            times = dict(re.findall(r"(SubmitTime|StartTime)=(\S+)", info))
            if m:
                latencies.append(datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() - started)
            if len(times) == 2:
                slurm_part.append((datetime.fromisoformat(times["StartTime"])
                                   - datetime.fromisoformat(times["SubmitTime"])).total_seconds())
    finally:
        s.close()
    graded = [r for r in _ledger(out) if r[0] == "graded"]
    if len(graded) != n or len(latencies) < 2:
        raise RuntimeError(f"slurm, 2 jobs: {len(graded)} of {n} graded, "
                           f"{len(latencies)} worker(s) registered")
    secs = [r[1] for r in graded]
    start = max(latencies)
    row = {"wall": wall, "slots": 2, "per_grading": statistics.mean(secs),
           "peak_rss": max(r[2] for r in graded),
           "idle_per_submission": (wall * 2 - sum(secs)) / n, "start_latency": start,
           "slurm_latency": max(slurm_part) if slurm_part else float("nan"),
           "idle_after_start": ((wall - start) * 2 - sum(secs)) / n}
    log(f"  {'slurm, 2 jobs (1 CPU each)':32} wall {wall:7.1f} s   grading {row['per_grading']:6.1f} s "
        f"mean   "
        f"slots idle per submission {row['idle_per_submission']:5.1f} s   (workers up after "
        f"{min(latencies):.1f} / {start:.1f} s)")
    return row
