"""What an autograder zip says about its assignment, and whether a notebook belongs to it."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from pathlib import Path

from autograder.model import GRADED, WRONG_VERSION, AutograderInfo
from autograder.params import PARAMS_FILE

#: Where the release's parameters sit inside the zip (otter ships ``files/`` beside the notebook).
ZIP_PARAMS = f"files/{PARAMS_FILE}"


def autograder_info(autograder_zip: Path) -> AutograderInfo:
    raw = autograder_zip.read_bytes()
    with zipfile.ZipFile(autograder_zip) as zf:
        names = zf.namelist()
        config = json.loads(zf.read("otter_config.json")) if "otter_config.json" in names else {}
        tests = sorted(n for n in names if n.startswith("tests/") and n.endswith(".py"))
        points = []
        for n in tests:
            m = re.search(r"^points\s*=\s*([0-9.]+)", zf.read(n).decode("utf-8", "replace"), re.M)
            points.append(float(m.group(1)) if m else 0.0)
        try:
            kit = json.loads(zf.read(ZIP_PARAMS)) if ZIP_PARAMS in names else {}
        except ValueError:
            kit = {}
    return AutograderInfo(path=autograder_zip, sha256=hashlib.sha256(raw).hexdigest(),
                          assignment_name=str(config.get("assignment_name", "")),
                          questions=tuple(Path(n).stem for n in tests), points=tuple(points),
                          version=str(kit.get("version", "")), variants=bool(kit.get("variants", False)))


def check_assignment(nb: dict, info: AutograderInfo) -> tuple[str, str]:
    """(status, reason): is this notebook one of ``info``'s assignment, not another exercise?

    Otter writes ``metadata.otter.assignment_name`` into every notebook it publishes; a notebook
    that names another assignment is ``wrong-version``. Without that metadata, the notebook must
    mention at least half of the assignment's questions (``grader.check("q1_model")`` cells).
    """
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    otter_meta = meta.get("otter") if isinstance(meta.get("otter"), dict) else {}
    name = otter_meta.get("assignment_name")
    if name and info.assignment_name and name != info.assignment_name:
        return WRONG_VERSION, (f"this notebook is for assignment {name!r}, not "
                               f"{info.assignment_name!r}")
    if name or not info.questions:
        return GRADED, ""
    text = "\n".join("".join(c.get("source", "")) for c in nb.get("cells", []) if isinstance(c, dict))
    seen = [q for q in info.questions if q in text]
    if 2 * len(seen) < len(info.questions):
        return WRONG_VERSION, (
            f"this does not look like assignment {info.assignment_name or '?'}: only {len(seen)} of "
            f"its {len(info.questions)} questions ({', '.join(info.questions[:3])}, ...) appear in it")
    return GRADED, ""
