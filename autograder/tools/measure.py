"""Measurements that fix the exercise's parameters (see assignments/3-2-overfitting/MEASUREMENTS.md).

Run from the repository root::

    .venv/bin/python -m autograder.tools.measure part1 [--seeds 0 1 ...] [--spe 50 200]
    .venv/bin/python -m autograder.tools.measure sweep [--seeds 0 1 2] [--configs N_TRAIN:N_VAL:BATCH ...]
    .venv/bin/python -m autograder.tools.measure part2 [--seeds 0 1 2 3 4] [--threads default 1]
    .venv/bin/python -m autograder.tools.measure spe-check

Every training runs in a child process (one at a time, never in parallel) whose environment is
set before TensorFlow is imported, so ``TF_NUM_INTRAOP_THREADS`` takes effect. Each training
starts with ``keras.utils.set_random_seed(seed)``; ``tf.config.experimental.enable_op_determinism()``
is on in every child. The data are fixed (they do not depend on the seed): the training subset is
the first ``N_TRAIN`` training images and the validation set the last ``N_VAL`` training images;
the 10,000 test images are only used by Part 1.

Times are wall-clock seconds of ``model.fit`` alone (TensorFlow import and data loading excluded);
the machine is shared, so they are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

from autograder.tools import measure_report as report

# ----------------------------------------------------------------------------------------------
# Chosen values (the measurements in MEASUREMENTS.md justify them)

PART1_SPE = 50
P2_N_TRAIN = 6000
P2_N_VAL = 5000
P2_BATCH = 256
P2_EPOCHS = 20
P2_SPE = 50
DROPOUT = 0.5
L2 = 1e-2
NETWORKS = {"Smaller": 4, "Baseline": 16, "Bigger": 512}

RESULT_TAG = "MEASURE-RESULT "


# ----------------------------------------------------------------------------------------------
# Child process: build and train (imports TensorFlow)


def _build(units: int, *, hidden: int, dropout: float | None, l2: float | None, augment: bool):
    import keras

    reg = keras.regularizers.l2(l2) if l2 else None
    layers: list[Any] = [keras.Input(shape=(28, 28))]
    if augment:
        layers += [
            keras.layers.Reshape((28, 28, 1)),
            keras.layers.RandomTranslation(0.1, 0.1),
            keras.layers.RandomZoom(0.1),
        ]
    layers.append(keras.layers.Flatten())
    for _ in range(hidden):
        layers.append(keras.layers.Dense(units, activation="relu", kernel_regularizer=reg))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(10, activation="softmax"))
    return keras.Sequential(layers)


def _run_job(job: dict, data) -> dict:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(job["seed"])
    model = _build(
        job["units"],
        hidden=job.get("hidden", 2),
        dropout=job.get("dropout"),
        l2=job.get("l2"),
        augment=job.get("augment", False),
    )
    model.compile(
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=job["spe"],
    )
    out: dict[str, Any] = {"job": job}
    if job["kind"] == "part1":
        if job.get("scale", True):
            x, xt = data.train_images / 255.0, data.test_images / 255.0
        else:
            x, xt = data.train_images, data.test_images
        t0 = time.perf_counter()
        hist = model.fit(x, data.train_labels, epochs=job["epochs"], verbose=0)
        out["fit_s"] = time.perf_counter() - t0
        loss, acc = model.evaluate(xt, data.test_labels, verbose=0)
        out["test_acc"] = float(acc)
    else:
        n_train, n_val = job["n_train"], job["n_val"]
        x = data.train_images[:n_train] / 255.0
        y = data.train_labels[:n_train]
        xv = data.train_images[-n_val:] / 255.0
        yv = data.train_labels[-n_val:]
        t0 = time.perf_counter()
        hist = model.fit(
            x, y, epochs=job["epochs"], batch_size=job["batch"], validation_data=(xv, yv), verbose=0
        )
        out["fit_s"] = time.perf_counter() - t0
    out["history"] = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
    out["threads"] = os.environ.get("TF_NUM_INTRAOP_THREADS", "default")
    del tf
    return out


def _worker() -> None:
    jobs = json.load(sys.stdin)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    tf.config.experimental.enable_op_determinism()
    from autograder.data import load

    data = load()
    for job in jobs:
        res = _run_job(job, data)
        print(RESULT_TAG + json.dumps(res), flush=True)


# ----------------------------------------------------------------------------------------------
# Parent process: schedule children; the tables are measure_report's


def run_jobs(jobs: list[dict], threads: str = "default") -> list[dict]:
    """Run ``jobs`` sequentially in one child process with the given intra-op thread setting."""
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env.pop("TF_NUM_INTRAOP_THREADS", None)
    if threads != "default":
        env["TF_NUM_INTRAOP_THREADS"] = str(threads)
    proc = subprocess.Popen(
        [sys.executable, "-m", "autograder.tools.measure", "_worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdin and proc.stdout
    proc.stdin.write(json.dumps(jobs))
    proc.stdin.close()
    results = []
    for line in proc.stdout:
        if line.startswith(RESULT_TAG):
            res = json.loads(line[len(RESULT_TAG):])
            results.append(res)
            j = res["job"]
            print(
                f"  [{len(results)}/{len(jobs)}] {j.get('label', '')} seed={j['seed']} "
                f"threads={threads} fit={res['fit_s']:.1f}s",
                file=sys.stderr,
                flush=True,
            )
    err = proc.stderr.read() if proc.stderr else ""
    if proc.wait() != 0:
        raise SystemExit(f"worker failed:\n{err[-4000:]}")
    return results


# --- Part 1 -----------------------------------------------------------------------------------


def part1(args) -> None:
    base = {"kind": "part1", "units": 128, "hidden": 1, "epochs": 5, "scale": True}
    jobs = []
    for spe in args.spe:
        for s in args.seeds:
            jobs.append({**base, "seed": s, "spe": spe, "label": f"correct spe={spe}"})
    spe0 = args.spe[-1]
    variants = {
        "(a) unscaled 0-255": {"scale": False},
        "(b) 1 epoch": {"epochs": 1},
        "(c) Dense(64)": {"units": 64},
    }
    for name, change in variants.items():
        for s in args.variant_seeds:
            jobs.append({**base, **change, "seed": s, "spe": spe0, "label": name})
    results = run_jobs(jobs, args.threads[0])
    report.part1(args, results, [f"correct spe={spe}" for spe in args.spe] + list(variants))
    report.dump(args, results)


# --- Part 2 / 3 -------------------------------------------------------------------------------


def _p2_jobs(seeds, n_train, n_val, batch, epochs, spe, which, dropout, l2) -> list[dict]:
    variants = {
        "Smaller": {"units": 4},
        "Baseline": {"units": 16},
        "Bigger": {"units": 512},
        "Bigger+Dropout": {"units": 512, "dropout": dropout},
        "Bigger+L2": {"units": 512, "l2": l2},
        "Bigger+Augment": {"units": 512, "augment": True},
    }
    jobs = []
    for s in seeds:
        for name in which:
            jobs.append(
                {
                    "kind": "part2", "seed": s, "spe": spe, "n_train": n_train, "n_val": n_val,
                    "batch": batch, "epochs": epochs, "hidden": 2, "label": name,
                    **variants[name],
                }
            )
    return jobs


def sweep(args) -> None:
    """Bigger and Smaller (and Baseline) for several data sizes/batches, read at several epochs."""
    all_results = []
    summary = []
    for cfg in args.configs:
        n_train, n_val, batch = (int(v) for v in cfg.split(":"))
        jobs = _p2_jobs(args.seeds, n_train, n_val, batch, max(args.epochs), args.spe,
                        args.networks, DROPOUT, L2)
        print(f"config N_TRAIN={n_train} N_VAL={n_val} batch={batch}", file=sys.stderr)
        res = run_jobs(jobs, args.threads[0])
        all_results += res
        summary += report.sweep_rows(args, res, n_train, n_val, batch)
    report.sweep(args, summary)
    report.dump(args, all_results)


ALL_NETWORKS = ["Smaller", "Baseline", "Bigger", "Bigger+Dropout", "Bigger+L2", "Bigger+Augment"]


def part2(args) -> None:
    which = args.networks
    all_results = []
    for threads in args.threads:
        jobs = _p2_jobs(args.seeds, args.n_train, args.n_val, args.batch, args.epochs, args.spe,
                        which, args.dropout, args.l2)
        res = run_jobs(jobs, threads)
        all_results += res
        report.part2(args, threads, res, which, all_six=len(which) == len(ALL_NETWORKS))
    if len(args.threads) > 1:
        report.threads_identical(all_results)
    report.dump(args, all_results)


def spe_check(args) -> None:
    """One Part 2 configuration with steps_per_execution=1 and with the chosen value."""
    out = []
    for spe in (1, args.spe):
        jobs = _p2_jobs([args.seeds[0]], args.n_train, args.n_val, args.batch, args.epochs, spe,
                        args.networks, args.dropout, args.l2)
        out.append(run_jobs(jobs, args.threads[0]))
    report.spe_check(args, out)
    report.dump(args, out[0] + out[1])


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_worker"]:
        _worker()
        return
    p = argparse.ArgumentParser(prog="python -m autograder.tools.measure", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp, seeds, threads):
        sp.add_argument("--seeds", type=int, nargs="+", default=seeds)
        sp.add_argument("--threads", nargs="+", default=threads,
                        help="TF_NUM_INTRAOP_THREADS settings, 'default' = unset")
        sp.add_argument("--json", help="also write the raw histories to this file")

    p1 = sub.add_parser("part1", help="test accuracy of the tutorial network and broken variants")
    common(p1, list(range(8)), ["default"])
    p1.add_argument("--spe", type=int, nargs="+", default=[50, 200])
    p1.add_argument("--variant-seeds", type=int, nargs="+", default=[0, 1, 2])

    def p2opts(sp):
        sp.add_argument("--n-train", type=int, default=P2_N_TRAIN)
        sp.add_argument("--n-val", type=int, default=P2_N_VAL)
        sp.add_argument("--batch", type=int, default=P2_BATCH)
        sp.add_argument("--epochs", type=int, default=P2_EPOCHS)
        sp.add_argument("--spe", type=int, default=P2_SPE)
        sp.add_argument("--dropout", type=float, default=DROPOUT)
        sp.add_argument("--l2", type=float, default=L2)

    sw = sub.add_parser("sweep", help="Part 2 candidates: gaps of Smaller/Bigger vs size, batch, epochs")
    common(sw, [0, 1, 2], ["default"])
    sw.add_argument("--configs", nargs="+", default=["2000:10000:64"], help="N_TRAIN:N_VAL:BATCH")
    sw.add_argument("--epochs", type=int, nargs="+", default=[15, 20, 25, 30, 40],
                    help="read the curves at these epochs (one run of the largest)")
    sw.add_argument("--networks", nargs="+", default=["Smaller", "Baseline", "Bigger"])
    sw.add_argument("--spe", type=int, default=P2_SPE)

    p2 = sub.add_parser("part2", help="the chosen Part 2/3 configuration, all six networks")
    common(p2, [0, 1, 2, 3, 4], ["default", "1"])
    p2opts(p2)
    p2.add_argument("--networks", nargs="+", default=ALL_NETWORKS, choices=ALL_NETWORKS)

    sc = sub.add_parser("spe-check", help="history with steps_per_execution=1 vs the chosen value")
    common(sc, [0], ["default"])
    p2opts(sc)
    sc.add_argument("--networks", nargs="+", default=["Baseline", "Bigger"])

    args = p.parse_args(argv)
    {"part1": part1, "sweep": sweep, "part2": part2, "spe-check": spe_check}[args.cmd](args)


if __name__ == "__main__":
    main()
