"""The clean check's summary of each graded learning curve: what the gate and curves.csv read.

Pure: it reads the rebuilt environment's histories with ``curves`` and the release's
thresholds; no Keras, no files.
"""

from __future__ import annotations

from typing import Any


def curve_summary(env: dict[str, Any], params: dict[str, Any], histories: list[str],
                  differences: dict[str, float | None] | None = None) -> dict[str, dict[str, Any]]:
    """Per graded history: its good epoch, loss rise, final gap, verdict, and the record's distance.

    ``histories``: the ``hist_*`` variables to summarise, as graded
    (``clean_check.usable_histories``: the student's record when it was within the band of the
    grader's own training, else that training). The gate reads this to see whether a release's
    overfitting scenario is unambiguous; ``recorded_difference`` is None without a record.
    """
    from autograder import curves
    from autograder import params as params_mod

    differences = differences or {}
    out: dict[str, dict[str, Any]] = {}
    thresholds = params_mod.thresholds(params) if "overfit_yes_at" in params else None
    for var in histories:
        h, name = env[var], var[len("hist_"):]
        try:
            good = curves.good_epoch(h)
            verdict = curves.overfitting_verdict(h, thresholds) if thresholds else None
            diff = differences.get(name)
            out[name] = {
                "epochs": len(curves.validated(h)), "good_epoch": good,
                "good_val_accuracy": round(curves.val_accuracy_at(h, good), 6),
                "val_loss_rise": round(curves.loss_rise(h), 6),
                "final_gap": round(curves.gap(h), 6),
                "final_val_accuracy": round(curves.val_accuracy_at(h, len(curves.validated(h))), 6),
                "verdict": verdict.label if verdict else None,
                "recorded_difference": None if diff is None else round(diff, 6)}
        except Exception:  # e.g. no val_loss: the readings tests report it
            continue
    return out
