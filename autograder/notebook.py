"""Notebooks as JSON: reading, writing byte-stably, the kit's version stamp, the seed line.

Shared by publishing (which writes the stamp and the seed) and grading (which reads them), so
neither has to import the other.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from autograder.errors import ConfigError, NotebookError

#: The key of the kit's stamp in a notebook's metadata (version id, student ID of a variant).
STAMP_KEY = "fmnist_kit"


def read_json_notebook(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotebookError(
            f"cannot read notebook {path}: {exc}", hint="open it in Jupyter and save it again"
        ) from None


def dump_notebook(nb: dict) -> str:
    return json.dumps(nb, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def stamp_of(nb: dict) -> dict[str, Any]:
    """The kit's stamp in a notebook's metadata (``{}`` when absent or not a mapping)."""
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    stamp = meta.get(STAMP_KEY)
    return stamp if isinstance(stamp, dict) else {}


def set_seed(cells: list[dict], seed: int) -> None:
    """Set the notebook's one ``SEED = ...`` line (in place) to ``seed``."""
    hits = 0
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        src = "".join(cell.get("source", ""))
        new, n = re.subn(r"(?m)^SEED = \d+", f"SEED = {seed}", src)
        if n:
            hits += n
            cell["source"] = new.splitlines(keepends=True)
    if hits != 1:
        raise ConfigError(f"the notebook assigns SEED {hits} times, expected once",
                          hint="republish the version from the master")
