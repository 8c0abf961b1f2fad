"""Run a notebook's own Part 2-3 cells in a plain Python process and write the curves it draws.

The cross-machine check (``bench --cross-machine``) trains the networks with the notebook's own
code under other arithmetic: other thread counts, oneDNN on, another TensorFlow version (another
virtual environment, where the kit is not installed), another CPU model (user-mode QEMU). This
file is therefore a script with nothing but the standard library at import time; the kit side
(``cross_machine``) picks the cells, turns IPython syntax into Python, and hands them over as JSON:

    PYTHON replay.py JOB.json OUT.json

``JOB.json``: ``{"cells": [source, ...], "pre_import": bool}``. ``pre_import`` imports TensorFlow
before the first cell, as a student's notebook does when it imported TensorFlow before the setup
cell (the setup cell's environment settings then come too late). ``OUT.json``: the ``hist_*``
tables the cells made (column -> values), TensorFlow's version, the CPU and wall seconds of the
cells, and the ``float`` type the layers computed in.
"""

from __future__ import annotations

import json
import os
import sys
import time


def run(job: dict) -> dict:
    os.environ.setdefault("MPLBACKEND", "Agg")
    if job.get("pre_import"):
        import tensorflow  # noqa: F401 - the point: TensorFlow starts before the setup cell
    namespace: dict = {"__name__": "__main__"}
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for source in job["cells"]:
        exec(compile(source, "<notebook cell>", "exec"), namespace)  # noqa: S102 - our own notebook
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    import keras
    import tensorflow as tf

    histories = {}
    for name, value in namespace.items():
        if name.startswith("hist_") and hasattr(value, "columns"):
            histories[name] = {str(c): [float(v) for v in value[c]] for c in value.columns}
    threads = tf.config.threading.get_intra_op_parallelism_threads()
    return {"histories": histories, "tensorflow": tf.__version__, "floatx": keras.config.floatx(),
            "cells_wall_s": wall, "cells_cpu_s": cpu, "intra_op_threads": threads,
            "onednn_env": os.environ.get("TF_ENABLE_ONEDNN_OPTS")}


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python replay.py JOB.json OUT.json", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        job = json.load(f)
    out = run(job)
    with open(argv[1], "w", encoding="utf-8") as f:
        json.dump(out, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
