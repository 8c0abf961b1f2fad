"""The solution notebook's time, whole and cell by cell, as a student runs it (run with the kit's venv).

    python cell_times.py [--version 2026] [--repeat 2] [--over 1.0]

Renders the version from the master into a temporary folder (``publish.build``: no gate, nothing
published), then executes its solution notebook, every cell but the hand-in cell, in a fresh
``fmnist-kit`` kernel with TensorFlow's own thread count, as a student runs it. Printed per run:
the whole notebook's wall time, the kernel's CPU seconds and the load average, then each cell that
took more than ``--over`` seconds of wall time: wall (nbclient's timestamps, kernel busy to idle)
and the kernel's CPU seconds during the cell, with its first line. On a shared machine the wall
times grow with the other jobs' load; the CPU seconds hardly do.
"""
import argparse
import datetime as dt
import os
import tempfile
import time
from pathlib import Path

import nbformat
import psutil
from nbclient import NotebookClient

from autograder.release import publish

SLUG = "3-2-overfitting"


def seconds(cell: nbformat.NotebookNode) -> float:
    ex = cell.metadata.get("execution", {})
    start, end = ex.get("iopub.status.busy"), ex.get("iopub.status.idle")
    if not (start and end):
        return 0.0
    parse = dt.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def _kernel_cpu() -> float:
    """CPU seconds of this process's kernel child (user + system, its threads included)."""
    for child in psutil.Process().children(recursive=True):
        try:
            if "ipykernel_launcher" in " ".join(child.cmdline()):
                t = child.cpu_times()
                return t.user + t.system
        except psutil.Error:
            continue
    return 0.0


def run(solution: Path) -> tuple[float, float, list[tuple[int, float, float, str]]]:
    nb = nbformat.read(solution, as_version=4)
    nb.cells = [c for c in nb.cells if "grader.export" not in c.source]
    env = dict(os.environ, KERAS_HOME=os.path.expanduser("~/.cache/fmnist-kit/keras"), MPLBACKEND="Agg")
    for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "TF_ENABLE_ONEDNN_OPTS"):
        env.pop(k, None)
    client = NotebookClient(nb, kernel_name="fmnist-kit", timeout=1200, record_timing=True,
                            resources={"metadata": {"path": str(solution.parent)}})
    cpu: dict[int, float] = {}
    last: list[float] = [0.0]

    def before(cell, cell_index):
        last[0] = _kernel_cpu()

    def after(cell, cell_index, execute_reply):
        cpu[cell_index] = _kernel_cpu() - last[0]

    client.on_cell_execute, client.on_cell_executed = before, after
    t0 = time.perf_counter()
    client.execute(env=env)
    wall = time.perf_counter() - t0
    cells = [(i, seconds(c), cpu.get(i, 0.0), c.source.splitlines()[0] if c.source else "")
             for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    return wall, sum(cpu.values()), cells


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", default="2026")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--over", type=float, default=1.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fmnist-cell-times-") as tmp:
        rel = publish.build(SLUG, args.version, Path(tmp))
        solution = rel.solution / f"{SLUG}.ipynb"
        for i in range(args.repeat):
            load = os.getloadavg()[0]
            wall, cpu, cells = run(solution)
            print(f"run {i + 1}: whole notebook {wall:.1f} s wall, cells {cpu:.1f} s kernel CPU "
                  f"(load before {load:.1f}, after {os.getloadavg()[0]:.1f})", flush=True)
            for index, secs, cpu_secs, first in cells:
                if secs > args.over:
                    print(f"  cell {index:3d} {secs:6.1f} s wall {cpu_secs:6.1f} s CPU  {first[:60]}",
                          flush=True)


if __name__ == "__main__":
    main()
