"""The tiny otter assignment of ``tests/slow/scenarios/tiny``: a notebook builder and its zip.

A two-question autograder (``x == 1`` for 2 points, ``word == "overfitting"`` for 1): it grades
in seconds without TensorFlow. Building the zip or a notebook runs nothing, so unit tests use it
too.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

SCENARIO = Path(__file__).parent / "slow" / "scenarios" / "tiny"


def notebook(*sources: str, assignment: str | None = "tiny") -> str:
    """A notebook (JSON text) whose code cells are ``sources``, of ``assignment`` by otter's metadata."""
    cells = [{"cell_type": "code", "source": s, "metadata": {}, "outputs": [], "execution_count": None}
             for s in sources]
    meta: dict = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}
    if assignment:
        meta["otter"] = {"assignment_name": assignment}
    return json.dumps({"cells": cells, "metadata": meta, "nbformat": 4, "nbformat_minor": 5})


def tiny_autograder(path: Path) -> Path:
    """The tiny assignment's autograder zip, written to ``path``."""
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted(SCENARIO.rglob("*")):
            if f.is_file() and f.name != "README.md":
                zf.write(f, f.relative_to(SCENARIO).as_posix())
    return path
