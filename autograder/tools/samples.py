"""Sample submissions made from the published notebooks (for the demo and the tests).

They are derived, not committed, so they can never go stale against the master: the solution
itself, the blank student template, and variants with one deliberate mistake each.
"""

from __future__ import annotations

import json
from pathlib import Path

from autograder import paths


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def replace_once(nb: dict, old: str, new: str) -> dict:
    hits = 0
    for cell in nb["cells"]:
        src = "".join(cell.get("source", ""))
        if old in src:
            cell["source"] = src.replace(old, new)
            hits += 1
    if hits != 1:
        raise ValueError(f"expected {old!r} in exactly one cell, found {hits}")
    return nb


def _version(slug: str, version: str | None) -> str:
    from autograder.catalog import default_version

    return version or default_version(slug)


def solution(slug: str, version: str | None = None) -> dict:
    return _load(paths.solution_dir(slug, _version(slug, version)) / f"{slug}.ipynb")


def blank(slug: str, version: str | None = None) -> dict:
    return _load(paths.student_dir(slug, _version(slug, version)) / f"{slug}.ipynb")


def wrong_architecture(slug: str) -> dict:
    """Dense(64) instead of Dense(128): loses exactly the architecture points."""
    return replace_once(solution(slug), "keras.layers.Dense(128, activation='relu')",
                    "keras.layers.Dense(64, activation='relu')")


#: The solution's lines that compute the two readings of Q7 and Q8 from the curves.
EPOCH_LINE = 'good_epoch_bigger = int(hist_bigger["val_loss"].idxmin())'
VAL_ACC_LINE = 'val_acc_bigger = float(hist_bigger["val_accuracy"][good_epoch_bigger])'


def wrong_readings(slug: str) -> dict:
    """Readings nobody could take from the curves: epoch 1, accuracy 0.5, Bigger not overfitting."""
    nb = solution(slug)
    nb = replace_once(nb, EPOCH_LINE, "good_epoch_bigger = 1")
    nb = replace_once(nb, VAL_ACC_LINE, "val_acc_bigger = 0.5")
    nb = replace_once(nb, "overfitting_bigger = True", "overfitting_bigger = False")
    return nb


VARIANTS = {
    "solution": solution,
    "blank": blank,
    "wrong-architecture": wrong_architecture,
    "wrong-readings": wrong_readings,
}


def write(slug: str, dest: Path, names: list[str] | None = None) -> dict[str, Path]:
    """Write the named samples as ``<dest>/<name>.ipynb``; return name -> path."""
    dest.mkdir(parents=True, exist_ok=True)
    out = {}
    for name in names or list(VARIANTS):
        path = dest / f"{name}.ipynb"
        path.write_text(json.dumps(VARIANTS[name](slug), ensure_ascii=False, indent=1), "utf-8")
        out[name] = path
    return out
