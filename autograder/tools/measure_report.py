"""The tables ``autograder.tools.measure`` prints: what its trainings' results say, in Markdown.

Nothing here trains or starts a process: each function takes the results ``measure.run_jobs``
returned (one dict per training: the job, its history, fit seconds, threads) and the command's
arguments, and prints.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

OVERFIT_GAP = 0.05  # grading rule: last-epoch gap >= 0.05 -> overfitting
NOT_OVERFIT_GAP = 0.02  # grading rule: last-epoch gap < 0.02 -> not overfitting


def stats(values: list[float]) -> tuple[float, float, float, float]:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return min(values), max(values), statistics.mean(values), sd


def table(headers: list[str], rows: list[list[Any]]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def curve_facts(h: dict, upto: int | None = None) -> dict:
    acc = h["accuracy"][:upto]
    va = h["val_accuracy"][:upto]
    vl = h["val_loss"][:upto]
    n = len(acc)
    k = min(5, n - 1)
    best = max(range(n), key=lambda i: va[i])
    vmin = min(range(n), key=lambda i: vl[i])
    return {
        "gap": acc[-1] - va[-1],
        "acc": acc[-1],
        "val_acc": va[-1],
        "acc_rise5": acc[-1] - acc[-1 - k],
        "val_loss_rise": vl[-1] - vl[vmin],
        "val_loss_min_epoch": vmin + 1,
        "best_epoch": best + 1,
        "best_val_acc": va[best],
    }


# --- Part 1 -----------------------------------------------------------------------------------


def part1(args, results: list[dict], labels: list[str]) -> None:
    """Test accuracy per run (``labels`` in order), per seed, and whether spe changed anything."""
    rows = []
    for label in labels:
        rs = [r for r in results if r["job"]["label"] == label]
        accs = [r["test_acc"] for r in rs]
        mn, mx, mean, sd = stats(accs)
        t = [r["fit_s"] for r in rs]
        rows.append([label, len(rs), mn, mx, mean, sd, f"{statistics.mean(t):.1f}"])
    print("\n## Part 1: test accuracy of the tutorial network (fit on 60,000, evaluate on 10,000)\n")
    print(table(["run", "seeds", "min", "max", "mean", "sd", "fit s/run"], rows))
    print("\nPer seed:\n")
    print(
        table(
            ["run", "seed", "test_acc", "fit s"],
            [[r["job"]["label"], r["job"]["seed"], r["test_acc"], f"{r['fit_s']:.1f}"] for r in results],
        )
    )
    if len(args.spe) > 1:
        by = {}
        for r in results:
            if r["job"]["label"].startswith("correct"):
                by.setdefault(r["job"]["seed"], []).append(r["history"])
        same = all(all(h == hs[0] for h in hs) for hs in by.values())
        print(f"\nHistories identical across steps_per_execution {args.spe}: {same}")


# --- Part 2 / 3 -------------------------------------------------------------------------------


def sweep_rows(args, res: list[dict], n_train: int, n_val: int, batch: int) -> list[list[Any]]:
    """One configuration's rows of the sweep table: one per epoch count read."""
    rows = []
    for e in args.epochs:
        row = [n_train, n_val, batch, e]
        for name in args.networks:
            rs = [r for r in res if r["job"]["label"] == name]
            gaps = [curve_facts(r["history"], e)["gap"] for r in rs]
            row.append(f"{min(gaps):+.3f}..{max(gaps):+.3f}")
            # time per training scaled to e epochs (fit time is ~linear in epochs)
            t = statistics.mean(r["fit_s"] for r in rs) * e / max(args.epochs)
            row.append(f"{t:.1f}")
        big = [r for r in res if r["job"]["label"] == "Bigger"]
        if big:
            f = [curve_facts(r["history"], e) for r in big]
            row.append(f"{min(x['acc'] for x in f):.3f}")
            row.append(f"{min(x['acc_rise5'] for x in f):+.3f}")
            row.append(f"{min(x['val_loss_rise'] for x in f):.3f}")
        rows.append(row)
    return rows


def sweep(args, summary: list[list[Any]]) -> None:
    """The sweep table over all configurations (rows from ``sweep_rows``)."""
    headers = ["N_TRAIN", "N_VAL", "batch", "epochs"]
    for name in args.networks:
        headers += [f"{name} gap min..max", f"{name} s"]
    if "Bigger" in args.networks:
        headers += ["Bigger min acc", "Bigger min acc rise (last 5 ep)", "Bigger min val_loss rise"]
    print(f"\n## Sweep (seeds {args.seeds}, spe={args.spe}, threads={args.threads[0]})\n")
    print("Time columns: mean fit seconds per training, scaled linearly from the "
          f"{max(args.epochs)}-epoch run.\n")
    print(table(headers, summary))


def part2(args, threads: str, res: list[dict], which: list[str], all_six: bool) -> None:
    """One thread setting's trainings: per training, then over seeds (``all_six``: every network
    ran, so the total fit time per seed is shown)."""
    print(f"\n## Part 2/3, TF_NUM_INTRAOP_THREADS={threads}: N_TRAIN={args.n_train} "
          f"N_VAL={args.n_val} batch={args.batch} epochs={args.epochs} spe={args.spe} "
          f"dropout={args.dropout} l2={args.l2}\n")
    rows = []
    for r in res:
        f = curve_facts(r["history"])
        rows.append([
            r["job"]["label"], r["job"]["seed"], f"{f['gap']:+.4f}", f["acc"], f["val_acc"],
            f"{f['acc_rise5']:+.4f}", f"{f['val_loss_rise']:.4f}", f["val_loss_min_epoch"],
            f["best_epoch"], f["best_val_acc"], f"{r['fit_s']:.1f}",
        ])
    print(table(["network", "seed", "gap", "acc", "val_acc", "acc rise last 5 ep",
                 "val_loss - min", "val_loss min ep", "best ep", "best val_acc", "fit s"],
                rows))
    print("\nSummary over seeds:\n")
    srows = []
    per_seed_total: dict[int, float] = {}
    base_gap = {r["job"]["seed"]: curve_facts(r["history"])["gap"]
                for r in res if r["job"]["label"] == "Bigger"}
    for name in which:
        rs = [r for r in res if r["job"]["label"] == name]
        fs = [curve_facts(r["history"]) for r in rs]
        gaps = [f["gap"] for f in fs]
        vals = [f["val_acc"] for f in fs]
        times = [r["fit_s"] for r in rs]
        for r in rs:
            per_seed_total[r["job"]["seed"]] = per_seed_total.get(r["job"]["seed"], 0) + r["fit_s"]
        if name == "Bigger":
            verdict = f"margin above 0.05: {min(gaps) - OVERFIT_GAP:+.4f}"
        elif name == "Smaller":
            verdict = f"margin below 0.02: {NOT_OVERFIT_GAP - max(gaps):+.4f}"
        elif name.startswith("Bigger+") and base_gap:
            shrink = [base_gap[r["job"]["seed"]] - f["gap"] for r, f in zip(rs, fs, strict=True)]
            verdict = f"gap shrink vs Bigger min {min(shrink):+.4f}, all>0: {all(s > 0 for s in shrink)}"
        else:
            verdict = ""
        srows.append([name, f"{min(gaps):+.4f}", f"{max(gaps):+.4f}",
                      f"{statistics.mean(gaps):+.4f}", f"{min(vals):.4f}",
                      f"{statistics.mean(vals):.4f}", f"{statistics.mean(times):.1f}",
                      f"{max(times):.1f}", verdict])
    print(table(["network", "gap min", "gap max", "gap mean", "val_acc min", "val_acc mean",
                 "fit s mean", "fit s max", "check"], srows))
    totals = list(per_seed_total.values())
    if all_six:
        print(f"\nTotal fit time of all six trainings per seed: mean {statistics.mean(totals):.1f} s, "
              f"max {max(totals):.1f} s")


def threads_identical(all_results: list[dict]) -> None:
    """Do the default-thread trainings and the others give identical histories?"""
    a = [r for r in all_results if r["threads"] == "default"]
    b = [r for r in all_results if r["threads"] != "default"]
    same = [ra["history"] == rb["history"] for ra, rb in zip(a, b, strict=True)]
    print(f"\nHistories identical between thread settings: {sum(same)}/{len(same)} trainings")


def spe_check(args, out: list[list[dict]]) -> None:
    """The same trainings with steps_per_execution=1 (``out[0]``) and the chosen value (``out[1]``)."""
    print(f"\n## steps_per_execution check (seed {args.seeds[0]}, threads={args.threads[0]})\n")
    rows = []
    for r1, rn in zip(*out, strict=True):
        same = r1["history"] == rn["history"]
        h1, hn = r1["history"], rn["history"]
        diff = max(abs(a - b) for k in h1 for a, b in zip(h1[k], hn[k], strict=True))
        rows.append([r1["job"]["label"], same, f"{diff:.2e}", f"{r1['fit_s']:.1f}", f"{rn['fit_s']:.1f}"])
    print(table(["network", "history identical", "max abs diff", "fit s spe=1",
                 f"fit s spe={args.spe}"], rows))


def dump(args, results) -> None:
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f)
        print(f"\n(raw results written to {args.json})")
