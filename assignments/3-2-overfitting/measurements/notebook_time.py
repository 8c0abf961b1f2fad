"""Whole-notebook time, two solution notebooks interleaved (run with the kit's venv).

    python notebook_time.py A_DIR B_DIR [--repeat 2] [--threads default 1]

Each DIR holds a published solution notebook (3-2-overfitting.ipynb) beside the student folder's
files (tests/, kit_checks.py). Each run executes every cell but the hand-in cell in a fresh
``fmnist-kit`` kernel: ``default`` = TensorFlow's own thread count, as a student runs it; ``1`` =
``TF_NUM_INTRAOP_THREADS=1``, as a grading worker runs it. Printed: wall and kernel CPU seconds of
each run (the kernel is a child process, so its CPU is in RUSAGE_CHILDREN once it exits), then the
medians and B / A.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NB = "3-2-overfitting.ipynb"


def run(folder: Path, threads: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "nb"
        shutil.copytree(folder, work)
        nb = nbformat.read(work / NB, as_version=4)
        nb.cells = [c for c in nb.cells if "grader.export" not in c.source]
        env = dict(os.environ, KERAS_HOME=os.path.expanduser("~/.cache/fmnist-kit/keras"), MPLBACKEND="Agg")
        for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "TF_ENABLE_ONEDNN_OPTS"):
            env.pop(k, None)
        if threads != "default":
            env.update(TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS=threads)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        NotebookClient(nb, kernel_name="fmnist-kit", timeout=1200,
                       resources={"metadata": {"path": str(work)}}).execute(env=env)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", nargs="+", default=["default", "1"])
    args = ap.parse_args()
    out = {}
    for threads in args.threads:
        for i in range(args.repeat):
            for name in ("a", "b"):
                wall, cpu = run(Path(getattr(args, name)), threads)
                out.setdefault((threads, name), []).append((wall, cpu))
                print(f"threads {threads:7} run {i + 1} {name}: {wall:6.1f} s wall {cpu:6.1f} s CPU "
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
    for threads in args.threads:
        a, b = out[(threads, "a")], out[(threads, "b")]
        wa, wb = statistics.median(w for w, _ in a), statistics.median(w for w, _ in b)
        ca, cb = statistics.median(c for _, c in a), statistics.median(c for _, c in b)
        print(f"threads {threads:7} median: A {wa:6.1f} s wall {ca:6.1f} s CPU | B {wb:6.1f} s wall "
              f"{cb:6.1f} s CPU | B/A wall {wb / wa:.2f} CPU {cb / ca:.2f}")
    print(json.dumps({f"{t}-{n}": v for (t, n), v in out.items()}))


if __name__ == "__main__":
    main()
