"""``python -m autograder bench --sandbox-fit N``: what the sandbox costs the student's own training.

The same TensorFlow ``fit`` runs bare and in the grading sandbox, interleaved N times; the CPU of
the fit alone is compared (the kit's own steps are ``bench --overhead``'s).
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TextIO

from autograder import data
from autograder.grading.execution import run_one

#: The training ``bench --sandbox-fit`` times: the Part 2 "Bigger" network (512+512 units), 3
#: epochs on 30,000 images; it prints the fit's own CPU seconds (this process's getrusage).
FIT_SCRIPT = """\
import os, resource, time
import keras
from autograder import data
ds = data.load()
x, y = ds.train_images[:30000].astype("float32") / 255.0, ds.train_labels[:30000]
keras.utils.set_random_seed(1)
m = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                      keras.layers.Dense(512, activation="relu"), keras.layers.Dense(512, activation="relu"),
                      keras.layers.Dense(10)])
m.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
m.fit(x, y, epochs=3, batch_size=512, verbose=0)
r1 = resource.getrusage(resource.RUSAGE_SELF)
print(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime, time.perf_counter() - t0,
      len(os.listdir("/proc/self/task")))
"""


def bench_sandbox_fit(n: int, *, stream: TextIO | None = None) -> dict:
    """The same TensorFlow ``fit`` bare and in the grading sandbox, interleaved ``n`` times.

    Separates what the sandbox costs the student's own training from the kit's own steps
    (``bench --overhead``): bare, bare with only the sandbox's environment variables, in the
    sandbox, and in the sandbox without its ``prlimit`` limits; CPU of the fit alone.
    """
    from autograder.grading.execution import sandbox
    stream = stream if stream is not None else sys.stdout
    env = run_one.grading_env(data.provide_keras_cache())
    tmp = Path(tempfile.mkdtemp(prefix="fmnist-sandbox-fit-"))
    try:
        script_dir, work, home = tmp / "script", tmp / "work", tmp / "home"
        for d in (script_dir, work, home):
            d.mkdir()
        (script_dir / "fit.py").write_text(FIT_SCRIPT, encoding="utf-8")
        argv = [sys.executable, str(script_dir / "fit.py")]
        boxed = sandbox.command(argv, workdir=work, readonly=[script_dir, data.source_dir()], env=env)
        i = boxed.index("prlimit")
        unlimited = boxed[:i] + boxed[boxed.index("--", i) + 1:]
        sandbox_env = {**sandbox._sandbox_env(env), "HOME": str(home)}
        configs = {"bare": (argv, env), "bare, the sandbox's environment": (argv, sandbox_env),
                   "sandbox": (boxed, env), "sandbox without prlimit": (unlimited, env)}
        cpu: dict[str, list[float]] = {k: [] for k in configs}
        print(f"sandbox fit benchmark: 512+512 units, 3 epochs on 30,000 images, {n} round(s)",
              file=stream, flush=True)
        for r in range(n):
            row = []
            for name, (cmd, e) in configs.items():
                out = subprocess.run(cmd, env=e, cwd=work, capture_output=True, text=True)
                if out.returncode:
                    raise RuntimeError(f"{name}: the fit failed: {out.stderr[-1500:]}")
                used, _, threads = out.stdout.split()
                cpu[name].append(float(used))
                row.append(f"{name} {float(used):.2f} s ({threads} threads)")
            print(f"  round {r + 1}: " + "; ".join(row), file=stream, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = statistics.median(cpu["bare"])
    for name, values in cpu.items():
        print(f"  {name:34} CPU of the fit: median {statistics.median(values):.2f} s "
              f"(x{statistics.median(values) / base:.3f} of bare), mean {statistics.mean(values):.2f} s",
              file=stream, flush=True)
    return {k: {"median": statistics.median(v), "runs": v} for k, v in cpu.items()}
