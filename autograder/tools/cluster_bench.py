"""``python -m autograder bench --cluster [N]``: the same class graded on this machine and on Dask workers.

N copies of the solution (they differ by one metadata field, so the ledger cannot reuse one
result for all) are graded three times, one after the other, each into a fresh folder: (a) by
the embedded default (``grade --workers 2``); (b) through a Dask scheduler on 127.0.0.1 with one
``autograder worker``; (c) the same with two. Every grading uses one TensorFlow thread, so (b)
and (c) differ only in the number of workers. For each: wall time, mean seconds per grading
(the worker's own ``grade_one`` time, from the ledger), and the time the worker slots were not
grading, per submission: ``(wall x workers - sum of gradings) / N``, an upper bound on what the
coordinator, the scheduler and the task transfer add (it also holds the batch's start and its
tail). Then what this machine itself allows two workers: a pure-Python loop alone vs two at once,
and the solution notebook executed bare (no kit, no Dask) alone vs two at once. Then a paper
estimate for 1,000 submissions on cluster nodes, from the measured per-grading time and peak
memory.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

from autograder.catalog import SLUG, default_version
from autograder.tools import samples
from autograder.tools.loopback import ROOT, Loopback


def _grade(folder: Path, out: Path, version: str, extra: list[str]) -> float:
    t0 = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "autograder", "grade", str(folder), "--out", str(out),
                           "--version", version, "--timeout", "1200", *extra],
                          cwd=ROOT, capture_output=True, text=True)
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


def notebook_ceiling(rounds: int = 2, *, log=print) -> dict:
    """The same ceiling for this exercise's own work, without the kit or Dask: the solution
    notebook executed bare (``jupyter nbconvert --execute``, one TensorFlow thread) alone, then
    two copies at once, ``rounds`` times interleaved; ``2 x alone / together`` per round. No
    grader can get more out of two workers on this machine than this."""
    from concurrent.futures import ThreadPoolExecutor

    from autograder import data
    from autograder.grading import run_one
    from autograder.tools.overhead import CpuMeter, bare_notebook, run_bare

    run_one.ensure_kernel()
    env = run_one.grading_env(data.provide_keras_cache())
    tmp = Path(tempfile.mkdtemp(prefix="fmnist-ceiling-"))
    nb = bare_notebook(samples.solution(SLUG, default_version(SLUG)))
    meter = CpuMeter("", move_self=False)  # getrusage: only wall times are used here
    ratios = []
    try:
        for r in range(rounds):
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
    try:
        plans = [("embedded, 2 workers", 2, None), ("loopback scheduler, 1 worker", 1, 1),
                 ("loopback scheduler, 2 workers", 2, 2)]
        for label, slots, workers in plans:
            out = tmp / f"out-{len(rows)}"
            if workers is None:
                wall = _grade(folder, out, version, ["--workers", str(slots)])
            else:
                loop = Loopback(tmp / f"loop-{len(rows)}", tmp / f"loop-{len(rows)}" / "scheduler.json",
                                keep=workers, threads=1)
                loop.tmp.mkdir()
                loop.start(keeper=False)
                try:
                    wall = _grade(folder, out, version, ["--scheduler", str(loop.scheduler_file)])
                finally:
                    loop.close()
            ledger = _ledger(out)
            graded = [r for r in ledger if r[0] == "graded"]
            if len(graded) != n:
                raise RuntimeError(f"{label}: {len(graded)} of {n} graded")
            secs = [r[1] for r in graded]
            idle = (wall * slots - sum(secs)) / n
            rows[label] = {"wall": wall, "slots": slots, "per_grading": statistics.mean(secs),
                           "idle_per_submission": idle, "peak_rss": max(r[2] for r in graded)}
            log(f"  {label:32} wall {wall:7.1f} s   grading {statistics.mean(secs):6.1f} s mean   "
                f"slots idle per submission {idle:5.1f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    one, two = rows["loopback scheduler, 1 worker"], rows["loopback scheduler, 2 workers"]
    speedup = one["wall"] / two["wall"]
    emb = rows["embedded, 2 workers"]
    ceiling = machine_ceiling(2)
    log(f"\n  2 workers vs 1 worker: x{speedup:.2f} (target >= 1.8 on 2 cores); this machine's own "
        f"ceiling for two busy processes: x{ceiling:.2f} (a pure-Python loop alone vs two at once)")
    work = notebook_ceiling(2, log=log)
    log(f"  this machine's ceiling for this notebook (no kit, no Dask): x{work['median']:.2f} (median); "
        f"2 workers reach {speedup / work['median']:.0%} of it")
    log(f"  loopback 2 workers vs embedded 2 workers: wall x{two['wall'] / emb['wall']:.3f}")
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
            "notebook_ceiling": work["median"], "per_grading": per,
            "peak_rss": peak, "graders_per_node": graders}
