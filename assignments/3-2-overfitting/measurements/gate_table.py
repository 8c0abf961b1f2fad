"""The gate's story checks on scenario.py results: python gate_table.py PATTERN (kit venv).

Per seed: Bigger's lowest validation loss (epoch), the validation-loss rise by the last epoch of
Bigger / Baseline / Smaller, Smaller's last validation accuracy, the final accuracy gaps of Bigger
and of the Part 3 networks, and the technique with the smallest gap.
"""
import glob
import json
import sys

from autograder import curves

pat = sys.argv[1]
print("| seed | Bigger min at | rise Bigger / Baseline / Smaller | Smaller last val. acc. | Bigger val. acc. at min | "
      "gap Bigger / dropout / L2 / aug. | smallest gap | CPU s (6 nets) |")
print("|---" * 8 + "|")
for f in sorted(glob.glob(f"/tmp/scenario/results/{pat}_s*.json"), key=lambda f: int(f.split("_s")[-1][:-5])):
    r = json.load(open(f))
    h = {k: v["history"] for k, v in r["nets"].items()}
    big = h["bigger"]
    e = curves.good_epoch(big)
    rises = [curves.loss_rise(h[k]) for k in ("bigger", "baseline", "smaller")]
    gaps = {k: curves.gap(h[k]) for k in ("bigger", "dropout", "l2", "augment") if k in h}
    best = min((k for k in gaps if k != "bigger"), key=gaps.get, default="-")
    cpu = sum(v.get("cpu_s", 0) for v in r["nets"].values())
    print(f"| {r['seed']} | {e} | {rises[0]:.3f} / {rises[1]:.3f} / {rises[2]:.3f} | "
          f"{h['smaller']['val_accuracy'][-1]:.3f} | {curves.val_accuracy_at(big, e):.3f} | "
          + " / ".join(f"{v:.3f}" for v in gaps.values()) + f" | {best} | {cpu:.0f} |")
