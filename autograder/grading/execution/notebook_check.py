"""Is a handed-in file a notebook the grading can handle? Decided before anything runs.

The file is the student's: it is read with the caps of ``untrusted`` (size, nesting depth, numbers
too long to convert), and a notebook whose shape the grading could not handle (a cell that is not
a mapping, a source that is not text) is ``invalid`` with a reason, so one malformed file never
stops a batch.
"""

from __future__ import annotations

import json
from pathlib import Path

from autograder import untrusted
from autograder.results import Status


def check_notebook(path: Path) -> tuple[dict | None, str, str]:
    """(notebook, status, reason): is ``path`` a readable Jupyter notebook with code in it?"""
    try:
        raw = untrusted.read_capped(path, untrusted.MAX_NOTEBOOK_BYTES)
    except OSError as exc:
        return None, Status.INVALID, f"cannot read the file: {exc.strerror}"
    except untrusted.JSONLimitError as exc:
        return None, Status.INVALID, f"not a notebook: {exc}"
    if not raw.strip():
        return None, Status.EMPTY, "the file is empty"
    try:
        nb = untrusted.loads(raw, max_bytes=untrusted.MAX_NOTEBOOK_BYTES)
    except untrusted.JSONLimitError as exc:  # built to break the parser: it is not read
        return None, Status.INVALID, f"not a notebook: {exc}"
    except UnicodeDecodeError as exc:
        if exc.end >= len(raw) - 1:  # a multi-byte character cut off: the upload was truncated
            return None, Status.INVALID, ("not a notebook: the file ends in the middle of a character "
                                          "(cut off)")
        return None, Status.INVALID, "not a notebook: the file is not UTF-8 text"
    except json.JSONDecodeError as exc:
        text = exc.doc.rstrip()
        if exc.msg.startswith("Unterminated string") or exc.pos >= len(text):
            # the JSON stops before the notebook does: an interrupted upload or copy
            return None, Status.INVALID, (f"not a notebook: the file ends before the notebook does, at line "
                                   f"{exc.lineno} (cut off)")
        return None, Status.INVALID, f"not a notebook: broken JSON at line {exc.lineno} ({exc.msg})"
    if isinstance(nb, dict) and "nbformat" in nb and nb.get("nbformat") != 4:
        return None, Status.INVALID, (
            f"notebook format {nb.get('nbformat')!r} is not supported: open and save it in a "
            "current Jupyter (format 4)"
        )
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None, Status.INVALID, "not a Jupyter notebook: no list of cells"
    problem = _structure_problem(nb)
    if problem:
        return None, Status.INVALID, f"not a Jupyter notebook: {problem}"
    if not any(c.get("cell_type") == "code" and "".join(c.get("source", "")).strip()
               for c in nb["cells"]):
        return None, Status.EMPTY, "the notebook has no code"
    return nb, Status.GRADED, ""


def _structure_problem(nb: dict) -> str:
    """What in the notebook's shape the grading could not handle ("" when nothing): every cell a
    mapping with a type, its source text or a list of texts; the metadata a mapping."""
    if not isinstance(nb.get("metadata", {}), dict):
        return "its metadata is not a mapping"
    for i, c in enumerate(nb["cells"], 1):
        if not isinstance(c, dict) or not isinstance(c.get("cell_type"), str):
            return f"cell {i} is not a cell"
        source = c.get("source", "")
        if not (isinstance(source, str) or isinstance(source, list)
                and all(isinstance(line, str) for line in source)):
            return f"the source of cell {i} is not text"
    return ""
