"""Per-student handouts: the roster, one notebook per student differing only by seed and stamp."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from kit_constants import SLUG

from autograder import paths
from autograder.errors import ConfigError
from autograder.notebook import STAMP_KEY
from autograder.release import variants


def _code(nb: dict) -> str:
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def test_roster_reading(tmp_path: Path):
    """The handouts' roster is the class roster ``grade`` reads (one reader): a student_id column,
    unique IDs; and each ID must be usable as a file name."""
    f = tmp_path / "r.csv"
    f.write_bytes("\ufeffname,student_id\n山田,s001\n佐藤,s002\n\n".encode())
    assert variants.roster_ids(f) == ["s001", "s002"]
    f.write_text("student_id\ns001\ns002\ns001\n")
    with pytest.raises(ConfigError, match="student_id s001 to more than one row: line 2 .*line 4"):
        variants.roster_ids(f)
    f.write_text("student_id\ns001\n../x\n")
    with pytest.raises(ConfigError, match=r"'\.\./x' is not a usable student ID"):
        variants.roster_ids(f)
    f.write_text("s001\ns002\n")
    with pytest.raises(ConfigError, match="no 'student_id' column"):
        variants.roster_ids(f)


def test_personalise_changes_only_seed_and_stamp():
    nb = json.loads((paths.student_dir(SLUG, "2027") / f"{SLUG}.ipynb").read_text(encoding="utf-8"))
    mine = variants.personalise(nb, "s001", 12345)
    assert re.search(r"^SEED = 12345", _code(mine), re.M)
    assert (_code(mine).replace("SEED = 12345", "SEED = 2027")
            .replace(', "student_id": "s001"}', "}") == _code(nb))
    assert mine["metadata"][STAMP_KEY] == {"assignment": SLUG, "version": "2027",
                                                   "student_id": "s001"}
    assert "student_id" not in nb["metadata"][STAMP_KEY]  # the original is untouched
    assert ('KIT_STAMP = {"assignment": "3-2-overfitting", "version": "2027", "student_id": "s001"}'
            in _code(mine))


# --------------------------------------------------------------------------- the gate's judgement
