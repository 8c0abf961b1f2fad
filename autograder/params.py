"""The grading parameters of a release (``kit_params.json``), as the hidden tests read them.

The file ships in the autograder zip (otter copies it beside the submission), so the tests read
the thresholds and tolerances of the release they belong to instead of constants of their own.
The clean grading process points ``FMNIST_KIT_PARAMS`` at the same file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

PARAMS_FILE = "kit_params.json"
ENV_VAR = "FMNIST_KIT_PARAMS"
REQUIRED = ("n_train", "n_val", "epochs", "batch_size", "accuracy_threshold", "epoch_tol",
            "val_acc_tol", "overfit_yes_at", "overfit_no_below", "choice_tol", "gap_tol")


def load(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Read the parameters: ``path``, else ``$FMNIST_KIT_PARAMS``, else ``./kit_params.json``."""
    candidates = [path] if path else [os.environ.get(ENV_VAR), PARAMS_FILE]
    for cand in candidates:
        if cand and Path(cand).is_file():
            params = json.loads(Path(cand).read_text(encoding="utf-8"))
            missing = [k for k in REQUIRED if k not in params]
            if missing:
                raise AssertionError(f"grading parameters {cand} lack {', '.join(missing)}")
            return params
    raise AssertionError(
        "採点パラメータが見つかりません / grading parameters (kit_params.json) not found: the "
        "autograder zip is incomplete"
    )


def thresholds(params: dict[str, Any]):
    from autograder.curves import Thresholds

    return Thresholds(yes_at=float(params["overfit_yes_at"]),
                      no_below=float(params["overfit_no_below"]))
