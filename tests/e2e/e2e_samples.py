"""The e2e batch's settings and its version samples (imported by the fixtures and the tests)."""

from __future__ import annotations

import json
import re

from kit_constants import COURSE_SECRET, SLUG, VARIANT_VERSION, VERSION

from autograder.grading.intake import targets
from autograder.notebook import STAMP_KEY
from autograder.release import variants
from autograder.tools import samples

TIMEOUT = 300  # the solution needs ~100-180 s on a busy 2-core machine; the loop is stopped here
WORKERS = 3  # the looping notebook sleeps (no CPU), so the trainings run beside it


def variant_solution(student_id: str) -> dict:
    """The 2027 solution as student ``student_id``'s handout would be solved (their seed)."""
    nb = samples.solution(SLUG, VARIANT_VERSION)
    return variants.personalise(nb, student_id,
                                targets.derive_seed(COURSE_SECRET, student_id, VARIANT_VERSION))


def version_samples() -> dict[str, bytes]:
    no_stamp = samples.solution(SLUG, VERSION)  # stamp removed from the metadata and the first cell
    del no_stamp["metadata"][STAMP_KEY]
    first = no_stamp["cells"][0]
    first["source"] = re.sub(r"(?m)^KIT_STAMP = .*\n", "", "".join(first["source"]))
    assert "KIT_STAMP" not in first["source"]
    unknown = samples.solution(SLUG, VERSION)
    unknown["metadata"][STAMP_KEY]["version"] = "2025"
    out = {"no-stamp": no_stamp, "version-2025": unknown,
           "variant-s008": variant_solution("s008"), "variant-s009": variant_solution("s009")}
    return {k: json.dumps(v, ensure_ascii=False).encode() for k, v in out.items()}
