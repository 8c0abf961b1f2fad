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
import re
import shutil
from pathlib import Path

from autograder import catalog, paths
from autograder.errors import ConfigError
from autograder.grading.intake.identity import read_roster
from autograder.grading.intake.targets import derive_seed, read_secret
from autograder.notebook import STAMP_KEY, dump_notebook, read_json_notebook, set_cell_stamp, set_seed
from autograder.release import handout, versions

_SAFE_ID = re.compile(r"^[\w.\-]{1,64}$", re.UNICODE)


def roster_ids(path: Path) -> list[str]:
    """The student IDs of the class roster (the one ``grade --roster`` reads: a ``student_id``
    column, unique IDs), each usable as a folder and file name."""
    ids = [s.student_id for s in read_roster(path).students]
    if not ids:
        raise ConfigError(f"the roster {path} lists no student", hint="one row per student under a header "
                          "row with a student_id column")
    for sid in ids:
        if not _SAFE_ID.match(sid):
            raise ConfigError(f"the roster {path}: {sid!r} is not a usable student ID (it names the "
                              "student's handout folder and file)",
                              hint="letters, digits, '.', '_' and '-' only, at most 64")
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
    ids = roster_ids(roster)
    ver = versions.load(slug, version)
    student = paths.student_dir(slug, version)
    base = read_json_notebook(student / f"{slug}.ipynb")
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for sid in ids:
        nb = personalise(base, sid, derive_seed(secret, sid, version))
        name = f"{slug}-{version}-{sid}"
        entries = [(f"{name}/{slug}.ipynb", dump_notebook(nb).encode("utf-8")),
                   (f"{name}/README.md", handout.handout_readme(slug, ver, sid).encode("utf-8"))]
        folder = out / sid
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir()
        handout.write_zip(folder / f"{name}.zip", entries)
        written[sid] = folder / f"{name}.zip"
    return written
