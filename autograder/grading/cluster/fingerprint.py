"""The versions a grading's result depends on, and the fingerprint that matches workers to tasks.

A worker advertises the Dask resource ``fmnist-grader-<fingerprint>`` (kit, Python, otter,
TensorFlow, Keras, NumPy versions and the data set's hashes) and every task asks for the
coordinator's, so a worker of another version never receives a task; the coordinator publishes
its versions under ``META_KEY`` so that ``python -m autograder worker`` can refuse to start and
name the difference.
"""

from __future__ import annotations

import hashlib
import json
import platform

from autograder import __version__ as KIT_VERSION
from autograder import data

#: Packages whose versions must match between the coordinator and every worker.
PACKAGES = ("otter-grader", "tensorflow", "keras", "numpy", "nbclient", "ipykernel", "distributed")
#: Scheduler metadata key under which a coordinator publishes its versions for workers to check.
META_KEY = ("fmnist-kit", "versions")
#: The prefix of the Dask resource a kit worker advertises.
RESOURCE_PREFIX = "fmnist-grader-"


def versions() -> dict[str, str]:
    """What a grading's result depends on besides the submission and the autograder."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"kit": KIT_VERSION, "python": platform.python_version()}
    for pkg in PACKAGES:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    out["fashion-mnist"] = hashlib.sha256(json.dumps(data.FILES, sort_keys=True).encode()).hexdigest()[:16]
    return out


def fingerprint(v: dict[str, str] | None = None) -> str:
    v = versions() if v is None else v
    return hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest()[:12]


def resource_name(fp: str | None = None) -> str:
    return f"{RESOURCE_PREFIX}{fp or fingerprint()}"


def differences(mine: dict[str, str], theirs: dict[str, str]) -> list[str]:
    """``name: ours vs theirs`` for every version that differs."""
    return [f"{k}: {mine.get(k, 'missing')} here vs {theirs.get(k, 'missing')} there"
            for k in sorted(set(mine) | set(theirs)) if mine.get(k) != theirs.get(k)]
