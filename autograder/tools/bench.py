"""Benchmarks and the fairness run (commands, not timed tests).

``python -m autograder bench`` prints:

* **notebook**: wall time of executing the whole solution notebook in a fresh kernel (median of
  ``--repeat`` runs), the time of each part, and the peak memory of the kernel's process tree;
* **training**: the tutorial-default configuration (batch 32, ``steps_per_execution=1``) against
  the kit's (``steps_per_execution=50``, as in the notebook) over the same 5 epochs of Part 1,
  run side by side in one process, with the ratio and a check that both histories are identical.

``python -m autograder bench --fairness`` runs the solution notebook for several seeds and two
thread settings and checks every run's readings against the curves of the other setting.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TextIO

from autograder import data, paths
from autograder.catalog import SLUG, default_version
from autograder.grading.batch import engine
from autograder.grading.execution import run_one
from autograder.grading.intake import inputs
from autograder.grading.intake.autograder_zip import autograder_info
from autograder.notebook import set_seed
from autograder.results import Status
from autograder.tools import samples

PART_MARKERS = ("# パート1", "# パート2", "# パート3")
DUMP_CELL = """
import json as _json
_out = {"histories": {}, "answers": {}}
for _name in ("hist_smaller", "hist_baseline", "hist_bigger", "hist_dropout", "hist_l2", "hist_augment"):
    if _name in globals():
        _out["histories"][_name] = {k: [float(v) for v in globals()[_name][k]]
                                    for k in globals()[_name].columns}
for _name in ("good_epoch_bigger", "val_acc_bigger", "overfitting_bigger", "overfitting_smaller",
              "most_overfit", "more_units_overfit_more", "dropout_shrinks_gap", "best_technique",
              "test_acc"):
    _v = globals().get(_name)
    _out["answers"][_name] = _v if isinstance(_v, (bool, str)) else float(_v)
with open("bench_dump.json", "w") as _f:
    _json.dump(_out, _f)
"""


def solution_workdir(tmp: Path, seed: int | None) -> Path:
    """A folder holding the solution notebook and its public tests, as a student would have."""
    work = tmp / "nb"

    version = default_version(SLUG)
    shutil.copytree(paths.student_dir(SLUG, version), work)
    nb = json.loads((paths.solution_dir(SLUG, version) / f"{SLUG}.ipynb").read_text(encoding="utf-8"))
    cells = [c for c in nb["cells"] if "grader.export" not in "".join(c.get("source", ""))]
    if seed is not None:
        set_seed(cells, seed)
    cells.append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                  "source": DUMP_CELL})
    nb["cells"] = cells
    nb["metadata"]["kernelspec"] = {"name": paths.KERNEL_NAME, "display_name": "kit",
                                    "language": "python"}
    (work / f"{SLUG}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    return work


class _PeakRSS:
    """Samples the resident memory of this process's children (the kernel and its threads)."""

    def __init__(self, interval: float = 0.2) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(self._interval)

    def __enter__(self) -> _PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def run_solution(seed: int | None = None, env: dict[str, str] | None = None) -> dict:
    """Execute the solution notebook once; return timings, peak memory, histories and answers."""
    import nbformat
    from nbclient import NotebookClient

    keras_home = data.provide_keras_cache()
    with tempfile.TemporaryDirectory(prefix="fmnist-bench-") as tmp:
        work = solution_workdir(Path(tmp), seed)
        nb = nbformat.read(work / f"{SLUG}.ipynb", as_version=4)
        saved = dict(os.environ)
        os.environ.update(KERAS_HOME=str(keras_home), MPLBACKEND="Agg", TF_CPP_MIN_LOG_LEVEL="3")
        os.environ.update(env or {})
        try:
            client = NotebookClient(nb, kernel_name=paths.KERNEL_NAME, timeout=1800,
                                    resources={"metadata": {"path": str(work)}})
            start = time.perf_counter()
            with _PeakRSS() as mem:
                client.execute()
            wall = time.perf_counter() - start
        finally:
            os.environ.clear()
            os.environ.update(saved)
        dump = json.loads((work / "bench_dump.json").read_text(encoding="utf-8"))
    return {"wall": wall, "parts": _part_times(nb), "peak_rss": mem.peak, **dump}


def _part_times(nb) -> dict[str, float]:
    """Seconds per part, from nbclient's per-cell timing (setup counts towards Part 1)."""
    from datetime import datetime

    parts = {"part1": 0.0, "part2": 0.0, "part3": 0.0}
    current = "part1"
    for cell in nb.cells:
        src = cell.source.lstrip()
        for i, marker in enumerate(PART_MARKERS):
            if cell.cell_type == "markdown" and src.startswith(marker):
                current = f"part{i + 1}"
        timing = cell.get("metadata", {}).get("execution", {})
        t0, t1 = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if t0 and t1:
            parts[current] += (datetime.fromisoformat(t1.replace("Z", "+00:00"))
                               - datetime.fromisoformat(t0.replace("Z", "+00:00"))).total_seconds()
    return parts


TRAINING_SCRIPT = r"""
import json, sys, time
import numpy as np, keras, tensorflow as tf
from autograder.data import load
d = load()
x, y = d.train_images / 255.0, d.train_labels
out = {}
for label, spe in (("tutorial default (batch 32, steps_per_execution=1)", 1),
                   ("kit (batch 32, steps_per_execution=50, as in the notebook)", 50)):
    keras.utils.set_random_seed(2026)
    tf.config.experimental.enable_op_determinism()
    model = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(),
                              keras.layers.Dense(128, activation="relu"),
                              keras.layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], steps_per_execution=spe)
    t = time.perf_counter()
    h = model.fit(x, y, epochs=5, verbose=0)
    out[label] = {"seconds": time.perf_counter() - t, "history": h.history}
print(json.dumps(out))
"""


def bench_training() -> None:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run([sys.executable, "-c", TRAINING_SCRIPT], capture_output=True,
                          text=True, env=env, check=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    (a_name, a), (b_name, b) = out.items()
    print("\n## Part 1 training, 5 epochs on 60,000 images, side by side in one process")
    print(f"  {a_name:<55} {a['seconds']:6.1f} s")
    print(f"  {b_name:<55} {b['seconds']:6.1f} s")
    print(f"  speed-up (default / kit): {a['seconds'] / b['seconds']:.2f}x")
    same = a["history"] == b["history"]
    print(f"  histories identical: {'yes' if same else 'NO'}"
          f"  (accuracy per epoch: {[round(v, 4) for v in b['history']['accuracy']]})")


def bench_notebook(repeat: int) -> None:
    runs = [run_solution() for _ in range(repeat)]
    walls = [r["wall"] for r in runs]
    print(f"\n## Whole solution notebook (Parts 1-3), fresh kernel, {repeat} run(s)")
    print(f"  wall time: median {statistics.median(walls):.1f} s  (runs: "
          f"{', '.join(f'{w:.1f}' for w in walls)})")
    for part in ("part1", "part2", "part3"):
        print(f"  {part}: median {statistics.median(r['parts'][part] for r in runs):.1f} s")
    print(f"  peak memory of the kernel: {max(r['peak_rss'] for r in runs) / 2**30:.2f} GiB")
    print(f"  test accuracy: {[round(r['answers']['test_acc'], 4) for r in runs]}")


def bench_sandbox(repeat: int) -> None:
    """Grade the solution with and without the sandbox, alternating; print times and the ratio."""

    ag_zip = paths.autograder_zip(SLUG, default_version(SLUG))
    keras_home = data.provide_keras_cache()
    times: dict[bool, list[float]] = {True: [], False: []}
    scores: dict[bool, list[float]] = {True: [], False: []}
    with tempfile.TemporaryDirectory(prefix="fmnist-bench-sbx-") as tmp:
        sub = samples.write(SLUG, Path(tmp) / "in", ["solution"])["solution"]
        for i in range(repeat):
            for sandboxed in (True, False):
                res = run_one.grade_one(sub, ag_zip, Path(tmp) / f"w{i}{sandboxed}",
                                      timeout=1800, keras_home=keras_home, sandboxed=sandboxed)
                times[sandboxed].append(res.seconds)
                scores[sandboxed].append(res.total)
    on, off = statistics.median(times[True]), statistics.median(times[False])
    print(f"\n## Sandbox overhead: grading the solution, {repeat} run(s) each, alternating")
    print(f"  with the sandbox   : median {on:6.1f} s  (runs: {', '.join(f'{t:.1f}' for t in times[True])};"
          f" scores {scores[True]})")
    print(f"  without the sandbox: median {off:6.1f} s  (runs: {', '.join(f'{t:.1f}' for t in times[False])};"
          f" scores {scores[False]})")
    print(f"  ratio with/without: {on / off:.3f}")


def main(args: argparse.Namespace) -> int:
    bench_training()
    bench_notebook(args.repeat)
    if getattr(args, "sandbox", 0):
        bench_sandbox(args.sandbox)
    if getattr(args, "batch", 0):
        run_batch_benchmark(args.batch)
    return 0


# --- benchmark: the kit against a plain loop of `otter run` -------------------------------------

def run_batch_benchmark(n: int, *, workers: int | None = None, slug: str = SLUG,
                        work: Path | None = None, stream: TextIO | None = None) -> dict:
    """Grade ``n`` copies of the solution (a) with the kit, (b) with a sequential ``otter run`` loop.

    Also executes one copy bare (``jupyter nbconvert --execute``: no otter, no tests run by the
    grader) to measure the kit's per-submission overhead. The copies differ by one metadata field
    so the ledger cannot reuse one result for all. Returns the figures it prints.
    """
    stream = stream if stream is not None else sys.stdout

    def log(text: str) -> None:
        print(text, file=stream, flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="fmnist-batch-bench-", dir=work))
    home = data.provide_keras_cache()
    env = run_one.grading_env(home)
    version = default_version(slug)
    ag_zip = paths.autograder_zip(slug, version)
    run_one.ensure_kernel()
    copies = _solution_copies(slug, n, tmp / "in")
    log(f"batch benchmark: {n} copies of the solution; bare execution of one copy ...")
    bare = _bare_execution(slug, version, copies[0], tmp / "bare", env)
    log(f"  bare execution: {bare:.1f} s; (b) sequential loop of `otter run` ...")
    loop, loop_ok = _otter_loop(copies, ag_zip, tmp / "loop", env)
    log(f"  loop: {loop:.1f} s ({loop_ok}/{n} produced results.json); (a) the kit ...")
    workers = workers or engine.default_workers()
    intake = inputs.collect([tmp / "in"], tmp / "kit" / "staging")
    t0 = time.monotonic()
    batch = engine.run_batch(intake, engine.BatchConfig(autograder_info(ag_zip), tmp / "kit", workers=workers,
                                                        keras_home=home), stream=io.StringIO())
    kit = time.monotonic() - t0
    kit_ok = sum(1 for o in batch.outcomes if o.record and o.record.status == Status.GRADED)
    per_sub = [o.record.seconds for o in batch.outcomes if o.record]
    mean_grading = sum(per_sub) / len(per_sub) if per_sub else float("nan")
    out = {
        "n": n, "workers": workers, "bare_seconds": round(bare, 1),
        "loop_seconds": round(loop, 1), "kit_seconds": round(kit, 1),
        "loop_ok": loop_ok, "kit_ok": kit_ok,
        "speedup_loop_over_kit": round(loop / kit, 2),
        "kit_seconds_per_submission": round(kit / n, 1),
        "loop_seconds_per_submission": round(loop / n, 1),
        "kit_mean_grading_seconds": round(mean_grading, 1),
        # one grading in the kit (worker + otter + fresh kernel + hidden tests) against bare execution
        "kit_overhead_vs_bare": round((mean_grading - bare) / bare, 3),
        "loop_overhead_vs_bare": round((loop / n - bare) / bare, 3),
    }
    _print_batch(out, log)
    log(f"  files kept in {tmp}")
    return out


def _solution_copies(slug: str, n: int, folder: Path) -> list[Path]:
    """``n`` copies of the solution that differ by one metadata field (no shared ledger result)."""
    folder.mkdir(parents=True, exist_ok=True)
    copies = []
    for i in range(n):
        nb = samples.solution(slug)
        nb["metadata"]["bench_copy"] = i
        path = folder / f"copy{i:02d}.ipynb"
        path.write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
        copies.append(path)
    return copies


def _bare_execution(slug: str, version: str, copy: Path, bare_dir: Path, env: dict[str, str]) -> float:
    """Seconds of ``jupyter nbconvert --execute`` of one copy in the handout's folder, without the
    export cell (which grading skips: it re-runs the whole notebook)."""
    shutil.copytree(paths.student_dir(slug, version), bare_dir)
    bare_nb = json.loads(copy.read_text(encoding="utf-8"))
    bare_nb["cells"] = [c for c in bare_nb["cells"] if "grader.export(" not in "".join(c.get("source", ""))]
    (bare_dir / f"{slug}.ipynb").write_text(json.dumps(bare_nb, ensure_ascii=False), encoding="utf-8")
    t0 = time.monotonic()
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                    f"--ExecutePreprocessor.kernel_name={paths.KERNEL_NAME}",
                    "--ExecutePreprocessor.timeout=-1", "--output", "executed.ipynb", f"{slug}.ipynb"],
                   cwd=bare_dir, env=env, check=True, capture_output=True)
    return time.monotonic() - t0


def _otter_loop(copies: list[Path], ag_zip: Path, folder: Path, env: dict[str, str]) -> tuple[float, int]:
    """Seconds of a sequential loop of ``otter run`` over the copies, and how many gave results."""
    otter = Path(sys.executable).parent / "otter"
    t0 = time.monotonic()
    ok = 0
    for i, path in enumerate(copies):
        dest = folder / f"{i:02d}"
        dest.mkdir(parents=True)
        r = subprocess.run([str(otter), "run", "-a", str(ag_zip), "-o", str(dest), str(path)],
                           env=env, capture_output=True)
        ok += r.returncode == 0 and (dest / "results.json").is_file()
    return time.monotonic() - t0, ok


def _print_batch(out: dict, log) -> None:
    n, workers, bare, loop, kit = out["n"], out["workers"], out["bare_seconds"], out["loop_seconds"], \
        out["kit_seconds"]
    log(f"\n  {'':34} {'wall s':>8} {'s / submission':>15}")
    log(f"  {'bare execution (1 notebook)':34} {bare:8.1f} {bare:15.1f}")
    log(f"  {'(b) loop of `otter run`':34} {loop:8.1f} {loop / n:15.1f}")
    log(f"  {f'(a) kit, {workers} workers':34} {kit:8.1f} {kit / n:15.1f}")
    log(f"  ratio loop / kit: {loop / kit:.2f}x  (kit {out['kit_ok']}/{n} graded, loop {out['loop_ok']}/{n})")
    log(f"  overhead over bare execution, per submission: kit {100 * out['kit_overhead_vs_bare']:+.0f}% "
        f"(one grading takes {out['kit_mean_grading_seconds']:.0f} s with {workers} running side by side), "
        f"`otter run` {100 * out['loop_overhead_vs_bare']:+.0f}%")
    log("  what dominates: the notebook's own TensorFlow training (bare execution); the kit adds a "
        "sandboxed worker with a fresh kernel, and the clean check (a fresh process that loads "
        "TensorFlow and runs all tests on the exported values)")
