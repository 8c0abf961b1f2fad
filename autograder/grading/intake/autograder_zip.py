"""What an autograder zip says about its assignment, and whether a notebook belongs to it."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from pathlib import Path

from autograder.notebook import assignment_problem
from autograder.params import PARAMS_FILE
from autograder.results import Status
from autograder.target import AutograderInfo

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
                          assignment_name=str(config.get("assignment_name") or kit.get("assignment") or ""),
                          questions=tuple(Path(n).stem for n in tests), points=tuple(points),
                          version=str(kit.get("version", "")), variants=bool(kit.get("variants", False)))


def check_assignment(nb: dict, info: AutograderInfo) -> tuple[str, str]:
    """(status, reason): is this notebook one of ``info``'s assignment, not another exercise?

    ``notebook.assignment_problem``: the name the notebook gives itself (otter's metadata, else
    the kit's stamp), else at least half of the assignment's questions; a notebook of another
    assignment is ``wrong-version``.
    """
    problem = assignment_problem(nb, info.assignment_name, info.questions)
    return (Status.WRONG_VERSION, problem) if problem else (Status.GRADED, "")
