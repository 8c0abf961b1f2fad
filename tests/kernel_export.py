"""The kit's export cell run as a student's kernel would run it (shared by the clean-check tests)."""

from __future__ import annotations

import os
from pathlib import Path

from autograder.grading.verify import kernel_export as export_mod


def export(tmp_path: Path, namespace: dict, names: list[str]) -> Path:
    """Run the kit's export cell as the kernel would, in ``namespace``, inside ``tmp_path``."""
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(export_mod.export_cell(names), namespace)  # noqa: S102 - the cell is the kit's own code
    finally:
        os.chdir(cwd)
    return tmp_path / export_mod.ARTIFACTS
