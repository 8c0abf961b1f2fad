"""Per-student variants: one handout per student, each with its own seed.

``write_handouts`` takes a published version with ``variants = true``, a roster (CSV with a
``student_id`` column, or one ID per line) and the course secret, and writes
``OUT/<ID>/<slug>-<version>-<ID>.zip``: the version's handout with ``SEED`` set to
``targets.derive_seed(secret, ID, version)`` and the student ID in the notebook's stamp (metadata
and first cell). Like the common handout, the zip holds the notebook and the README only. The
secret itself is written nowhere; the grader re-derives each seed from the secret it is given.
"""

from __future__ import annotations

import copy
import csv
import io
import re
import shutil
from pathlib import Path

from autograder import catalog, paths
from autograder.errors import ConfigError
from autograder.grading.targets import derive_seed, read_secret
from autograder.notebook import STAMP_KEY, dump_notebook, read_json_notebook, set_cell_stamp, set_seed
from autograder.release import publish, versions

_SAFE_ID = re.compile(r"^[\w.\-]{1,64}$", re.UNICODE)


def read_roster(path: Path) -> list[str]:
    """Student IDs from a CSV (``student_id`` column, else the first column); errors name the row."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read the roster {path}: {exc}", hint="give a CSV file") from None
    except UnicodeDecodeError:
        raise ConfigError(f"the roster {path} is not UTF-8 text",
                          hint="save it as CSV UTF-8 (Excel: 'CSV UTF-8 (comma delimited)')") from None
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if not rows:
        raise ConfigError(f"the roster {path} is empty", hint="one student ID per row")
    header = [c.strip().lower() for c in rows[0]]
    col = header.index("student_id") if "student_id" in header else 0
    body = rows[1:] if "student_id" in header else rows
    ids: list[str] = []
    for n, row in enumerate(body, start=2 if "student_id" in header else 1):
        sid = row[col].strip() if col < len(row) else ""
        if not _SAFE_ID.match(sid):
            raise ConfigError(f"{path}, row {n}: {sid!r} is not a usable student ID",
                              hint="letters, digits, '.', '_' and '-' only, at most 64")
        if sid in ids:
            raise ConfigError(f"{path}, row {n}: student {sid} is listed twice", hint="list each once")
        ids.append(sid)
    return ids


def personalise(nb: dict, student_id: str, seed: int) -> dict:
    """The handout notebook of one student: their seed, their ID in the stamp."""
    nb = copy.deepcopy(nb)
    set_seed(nb.get("cells", []), seed)
    stamp = nb["metadata"].setdefault(STAMP_KEY, {})
    stamp["student_id"] = student_id
    set_cell_stamp(nb.get("cells", []), stamp)
    return nb


def write_handouts(slug: str, version: str, roster: Path, secret_file: Path, out: Path) -> dict[str, Path]:
    """One zip per student in ``out/<ID>/``; returns ID -> zip."""
    manifest = catalog.published(slug).get(version)
    if manifest is None:
        raise ConfigError(f"version {version} of {slug} is not published",
                          hint=f"publish it first: python -m autograder publish {slug} --version {version}")
    if not manifest["params"].get("variants"):
        raise ConfigError(f"version {version} does not use per-student variants",
                          hint=f"set variants = true in {version}.toml and publish it again, or hand "
                               "out the common zip")
    secret = read_secret(secret_file)
    ids = read_roster(roster)
    ver = versions.load(slug, version)
    student = paths.student_dir(slug, version)
    base = read_json_notebook(student / f"{slug}.ipynb")
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for sid in ids:
        nb = personalise(base, sid, derive_seed(secret, sid, version))
        name = f"{slug}-{version}-{sid}"
        entries = [(f"{name}/{slug}.ipynb", dump_notebook(nb).encode("utf-8")),
                   (f"{name}/README.md", publish.handout_readme(slug, ver, sid).encode("utf-8"))]
        folder = out / sid
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        publish.write_zip(folder / f"{name}.zip", entries)
        written[sid] = folder / f"{name}.zip"
    return written
