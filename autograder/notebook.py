"""Notebooks as JSON: reading, writing byte-stably, the kit's version stamp, the seed line.

Shared by publishing (which writes the stamp and the seed) and grading (which reads them), so
neither has to import the other.
"""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path
from typing import Any

from autograder import untrusted
from autograder.errors import ConfigError, NotebookError

#: The key of the kit's stamp in a notebook's metadata (version id, student ID of a variant).
STAMP_KEY = "fmnist_kit"
#: The variable the first cell assigns the same stamp to (kept where metadata is not: Colab).
STAMP_VAR = "KIT_STAMP"
_STAMP_LINE = re.compile(rf"(?m)^{STAMP_VAR} = (\{{[^\n]*\}})")
_SEED_LINE = re.compile(r"(?m)^SEED = \d+")
#: MIME type of the display output in which the notebook's ``train(model, name)`` records a
#: history: ``{"name": ..., "history": {"accuracy": [...], "loss": [...], ...}}``.
CURVES_MIME = "application/vnd.fmnist-kit.curves+json"
#: Bounds on what ``recorded_curves`` accepts from a submitted notebook.
MAX_RECORDED_EPOCHS = 200
MAX_RECORDED_NAMES = 20
CURVE_COLUMNS = ("accuracy", "loss", "val_accuracy", "val_loss")
#: Largest record kept as text that ``recorded_curves`` parses (a real one is a few kB).
MAX_RECORD_CHARS = 2**20


def read_json_notebook(path: Path) -> dict:
    """A notebook file as JSON, read with the caps of ``untrusted`` (it may be a student's)."""
    try:
        return untrusted.read(path, max_bytes=untrusted.MAX_NOTEBOOK_BYTES)
    except (OSError, ValueError) as exc:  # UnicodeDecodeError, JSONDecodeError, JSONLimitError
        raise NotebookError(
            f"cannot read notebook {path}: {exc}", hint="open it in Jupyter and save it again"
        ) from None


def dump_notebook(nb: dict) -> str:
    return json.dumps(nb, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def metadata_stamp(nb: dict) -> dict[str, Any]:
    """The kit's stamp in a notebook's metadata (``{}`` when absent or not a mapping)."""
    meta = nb.get("metadata") if isinstance(nb, dict) and isinstance(nb.get("metadata"), dict) else {}
    stamp = meta.get(STAMP_KEY)
    return stamp if isinstance(stamp, dict) else {}


def cell_stamp(nb: dict) -> dict[str, Any]:
    """The stamp the notebook's first cell assigns (``KIT_STAMP = {...}``), ``{}`` when absent.

    Google Colab may drop metadata it does not know from a notebook it saves, so the stamp also
    lives in a cell's source, which every editor keeps. Only a literal dict of strings counts.
    """
    cells = nb.get("cells") if isinstance(nb, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        m = _STAMP_LINE.search(cell_source(cell))
        if not m:
            continue
        try:
            value = ast.literal_eval(m.group(1))
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            return {}
        if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str)
                                           for k, v in value.items()):
            return value
        return {}
    return {}


def cell_source(cell: dict) -> str:
    """A cell's source as one string; parts that are not text (a hostile file) are skipped."""
    src = cell.get("source", "")
    if isinstance(src, list):
        return "".join(part for part in src if isinstance(part, str))
    return src if isinstance(src, str) else ""


def stamp_of(nb: dict) -> dict[str, Any]:
    """The kit's stamp: the metadata's, else the first cell's (a notebook saved by Colab)."""
    return metadata_stamp(nb) or cell_stamp(nb)


def stamp_disagreement(nb: dict) -> str | None:
    """What differs between the metadata's stamp and the first cell's, when both are there."""
    meta, cell = metadata_stamp(nb), cell_stamp(nb)
    if not meta or not cell:
        return None
    keys = sorted(k for k in meta.keys() | cell.keys() if str(meta.get(k)) != str(cell.get(k)))
    if not keys:
        return None
    return ", ".join(f"{k}: {meta.get(k)!r} in the metadata, {cell.get(k)!r} in the first cell"
                     for k in keys)


def stamp_line(stamp: dict[str, str]) -> str:
    """The first cell's ``KIT_STAMP = {...}`` line for ``stamp``."""
    return f"{STAMP_VAR} = {json.dumps(stamp, ensure_ascii=False)}"


def _rewrite_once(cells: list[dict], pattern: re.Pattern[str], line: str, what: str) -> None:
    """Replace the one line of the code ``cells`` matching ``pattern`` by ``line`` (in place)."""
    hits = 0
    for cell in cells:
        if cell.get("cell_type") != "code":
            continue
        new, n = pattern.subn(lambda m: line, "".join(cell.get("source", "")))
        if n:
            hits += n
            cell["source"] = new.splitlines(keepends=True)
    if hits != 1:
        raise ConfigError(f"the notebook assigns {what} {hits} times, expected once",
                          hint="republish the version from the master")


def set_cell_stamp(cells: list[dict], stamp: dict[str, str]) -> None:
    """Rewrite the one ``KIT_STAMP = {...}`` assignment in ``cells`` (in place) to ``stamp``."""
    _rewrite_once(cells, _STAMP_LINE, stamp_line(stamp), STAMP_VAR)


def set_seed(cells: list[dict], seed: int) -> None:
    """Set the notebook's one ``SEED = ...`` line (in place) to ``seed``."""
    _rewrite_once(cells, _SEED_LINE, f"SEED = {int(seed)}", "SEED")


def assignment_problem(nb: dict, want: str, questions: tuple[str, ...] | list[str]) -> str:
    """Why ``nb`` is not a notebook of assignment ``want`` ("" when it is).

    The name the notebook gives itself counts: otter's ``metadata.otter.assignment_name``, else
    the kit's stamp (metadata or first cell; a notebook saved by Colab may keep only the cell).
    A notebook naming neither must mention at least half of the assignment's ``questions``
    (its ``grader.check("q1_model")`` cells).
    """
    meta = nb.get("metadata") if isinstance(nb, dict) and isinstance(nb.get("metadata"), dict) else {}
    otter_meta = meta.get("otter") if isinstance(meta.get("otter"), dict) else {}
    name = otter_meta.get("assignment_name") or stamp_of(nb).get("assignment")
    if name and want and str(name) != want:
        return f"this notebook is for assignment {str(name)!r}, not {want!r}"
    if name or not questions:
        return ""
    cells = nb.get("cells") if isinstance(nb, dict) and isinstance(nb.get("cells"), list) else []
    text = "\n".join(cell_source(c) for c in cells if isinstance(c, dict))
    seen = [q for q in questions if q in text]
    if 2 * len(seen) < len(questions):
        return (f"this does not look like assignment {want or '?'}: only {len(seen)} of its "
                f"{len(questions)} questions ({', '.join(questions[:3])}, ...) appear in it")
    return ""


def recorded_curves(nb: dict) -> dict[str, dict[str, list[float]]]:
    """The histories the notebook's ``train`` recorded in its outputs: the last one per name.

    The notebook is the student's file, so anything malformed is skipped, never trusted: a
    record must name an identifier and hold, per known column, a list of at most
    ``MAX_RECORDED_EPOCHS`` finite numbers, all columns of one length. More than
    ``MAX_RECORDED_NAMES`` names: the later ones are ignored.
    """
    found: dict[str, dict[str, list[float]]] = {}
    cells = nb.get("cells") if isinstance(nb, dict) else None
    for cell in cells if isinstance(cells, list) else []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        outputs = cell.get("outputs")
        for out in outputs if isinstance(outputs, list) else []:
            data = out.get("data") if isinstance(out, dict) else None
            value = data.get(CURVES_MIME) if isinstance(data, dict) else None
            if isinstance(value, str):  # nbformat may keep JSON MIME data as text
                try:
                    value = untrusted.loads(value, max_bytes=MAX_RECORD_CHARS)
                except ValueError:
                    continue
            if not isinstance(value, dict):
                continue
            name, history = value.get("name"), valid_curves(value.get("history"))
            if not (isinstance(name, str) and name.isidentifier()) or history is None:
                continue
            if name in found or len(found) < MAX_RECORDED_NAMES:
                found.pop(name, None)
                found[name] = history
    return found


def valid_curves(history: object) -> dict[str, list[float]] | None:
    """``history`` as ``{column: [float, ...]}`` of the known columns, or None if it is unusable."""
    if not isinstance(history, dict):
        return None
    out: dict[str, list[float]] = {}
    for col in CURVE_COLUMNS:
        if col not in history:
            continue
        values = history[col]
        if not isinstance(values, list) or not 0 < len(values) <= MAX_RECORDED_EPOCHS:
            return None
        numbers = [_finite(v) for v in values]
        if any(v is None for v in numbers):
            return None
        out[col] = numbers
    if not {"accuracy", "val_accuracy"} <= out.keys() or len({len(v) for v in out.values()}) != 1:
        return None
    return out


def _finite(v: object) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    try:
        f = float(v)
    except OverflowError:  # an int too large for a float
        return None
    return f if math.isfinite(f) else None
