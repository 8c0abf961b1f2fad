"""Which release grades a notebook: the stamp (metadata or first cell), per-student seeds, flags."""
from __future__ import annotations

from pathlib import Path

import pytest
from kit_constants import SLUG

from autograder.errors import GradingError
from autograder.grading.intake import targets
from autograder.grading.intake.inputs import Submission
from autograder.notebook import STAMP_KEY
from autograder.results import Status
from autograder.target import AutograderInfo, Target


def test_derived_seeds_depend_on_secret_id_and_version():
    s = b"x" * 32
    seed = targets.derive_seed(s, "s001", "2027")
    assert seed == targets.derive_seed(s, "s001", "2027") and 0 <= seed < 2**31
    others = {targets.derive_seed(s, "s002", "2027"), targets.derive_seed(s, "s001", "2028"),
              targets.derive_seed(b"y" * 32, "s001", "2027")}
    assert seed not in others and len(others) == 3


def test_short_or_missing_secret_is_refused(tmp_path: Path):
    (tmp_path / "s").write_text("short\n")
    with pytest.raises(GradingError, match="too short"):
        targets.read_secret(tmp_path / "s")
    with pytest.raises(GradingError, match="cannot read the course secret"):
        targets.read_secret(tmp_path / "missing")


def _info(version: str, variants_on: bool = False) -> AutograderInfo:
    return AutograderInfo(path=Path(f"/nowhere/{version}.zip"), sha256=version * 8, assignment_name=SLUG,
                          questions=("q1_scale",), points=(1.0,), version=version, variants=variants_on)


def _sub(student_id: str) -> Submission:
    return Submission(f"{student_id}.ipynb", student_id, student_id, Path("/nowhere"), "ab" * 32, 0.0,
                      True)


def _nb(**stamp: str) -> dict:
    return {"cells": [], "metadata": {STAMP_KEY: stamp} if stamp else {}}


def test_resolver_picks_the_stamped_version_and_refuses_others():
    """Stamp -> that version; unknown / not accepted -> wrong-version naming the versions; none ->
    the default, flagged."""
    r = targets.VersionResolver(SLUG, {"2026": _info("2026"), "2027": _info("2027")}, ["2026"])
    t = r(_sub("s1"), _nb(assignment=SLUG, version="2026"))
    assert isinstance(t, Target) and t.version == "2026" and t.seed is None and not t.flags
    status, reason = r(_sub("s1"), _nb(assignment=SLUG, version="2025"))
    assert status == Status.WRONG_VERSION and "'2025'" in reason and "2026, 2027" in reason
    status, reason = r(_sub("s1"), _nb(assignment=SLUG, version="2027"))
    assert status == Status.WRONG_VERSION and "version 2027" in reason and "grades version 2026" in reason
    status, reason = r(_sub("s1"), _nb(assignment="9-9-other", version="2026"))
    assert status == Status.WRONG_VERSION and "9-9-other" in reason
    t = r(_sub("s1"), _nb())
    assert t.version == "2026" and "no version stamp" in t.flags[0]


def _cell_nb(meta: dict | None, line: str) -> dict:
    nb = {"cells": [{"cell_type": "code", "source": [f"# first cell\n{line}  # do not change\n"]}],
          "metadata": {}}
    if meta is not None:
        nb["metadata"][STAMP_KEY] = meta
    return nb


def test_stamp_in_the_first_cell_counts_where_colab_dropped_the_metadata():
    """A notebook saved by Colab without the kit's metadata: its first cell's ``KIT_STAMP`` names
    the version (no flag); where metadata and cell differ, the metadata counts and the row is
    flagged; a cell stamp that is not a literal dict of strings is no stamp."""
    from autograder.notebook import cell_stamp, stamp_disagreement, stamp_of

    r = targets.VersionResolver(SLUG, {"2026": _info("2026"), "2027": _info("2027")}, ["2026", "2027"])
    colab = _cell_nb(None, f'KIT_STAMP = {{"assignment": "{SLUG}", "version": "2027"}}')
    assert stamp_of(colab) == {"assignment": SLUG, "version": "2027"}
    t = r(_sub("s1"), colab)
    assert t.version == "2027" and not t.flags
    edited = _cell_nb({"assignment": SLUG, "version": "2026"},
                      f'KIT_STAMP = {{"assignment": "{SLUG}", "version": "2027"}}')
    assert "version: '2026' in the metadata, '2027' in the first cell" in stamp_disagreement(edited)
    t = r(_sub("s1"), edited)
    assert t.version == "2026" and "stamp was edited" in t.flags[0]
    for hostile in ('KIT_STAMP = {"version": __import__("os").getcwd()}', "KIT_STAMP = {1: 2}",
                    'KIT_STAMP = {"version": 2027}', "KIT_STAMP = {" + "[" * 500 + "}"):
        assert cell_stamp(_cell_nb(None, hostile)) == {}, hostile
        assert "no version stamp" in r(_sub("s1"), _cell_nb(None, hostile)).flags[0]


def test_resolver_derives_the_submitters_seed_for_variants():
    """Variants: the seed comes from the submitter's ID; a stamp naming someone else is flagged."""
    infos = {"2027": _info("2027", variants_on=True)}
    with pytest.raises(GradingError, match="course secret"):
        targets.VersionResolver(SLUG, infos, ["2027"])
    secret = b"k" * 32
    r = targets.VersionResolver(SLUG, infos, ["2027"], secret)
    own = r(_sub("s008"), _nb(assignment=SLUG, version="2027", student_id="s008"))
    assert own.seed == targets.derive_seed(secret, "s008", "2027") and not own.flags
    copied = r(_sub("s009"), _nb(assignment=SLUG, version="2027", student_id="s008"))
    assert copied.seed == targets.derive_seed(secret, "s009", "2027") != own.seed
    assert "handed out to student s008" in copied.flags[0]
    assert copied.key != own.key  # never one ledger entry for two seeds


def test_unpublished_accepted_version_is_refused():
    with pytest.raises(GradingError, match="not published"):
        targets.VersionResolver(SLUG, {"2026": _info("2026")}, ["2030"])


def test_variant_notebook_without_secret_in_an_implicit_batch_says_what_to_do():
    """With no --version given, a 2027 notebook in a batch without the secret is not graded
    wrongly: its row says to grade again with --secret-file (plain versions still grade)."""
    infos = {"2026": _info("2026"), "2027": _info("2027", variants_on=True)}
    r = targets.VersionResolver(SLUG, infos, ["2027", "2026"], None, explicit=False)
    status, reason = r(_sub("s1"), _nb(assignment=SLUG, version="2027", student_id="s1"))
    assert status == Status.ERROR and "--secret-file" in reason
    assert r(_sub("s1"), _nb(assignment=SLUG, version="2026")).version == "2026"


def test_a_variant_notebook_pinning_its_own_seed_is_flagged():
    """Does a notebook that seeds with a literal (a copy pinning its author's seed) get flagged?"""
    secret = b"k" * 32
    r = targets.VersionResolver(SLUG, {"2027": _info("2027", variants_on=True)}, ["2027"], secret)
    nb = _nb(assignment=SLUG, version="2027", student_id="s009")
    nb["cells"] = [{"cell_type": "code", "source": "keras.utils.set_random_seed(SEED)\n"},
                   {"cell_type": "code", "source": "    keras.utils.set_random_seed(NETWORK_SEEDS[name])\n"}]
    assert r(_sub("s009"), nb).flags == ()  # the given code's own seeding
    nb["cells"].append({"cell_type": "code", "source": "keras.utils.set_random_seed(123456)\n"})
    flags = r(_sub("s009"), nb).flags
    assert len(flags) == 1 and "set_random_seed(123456)" in flags[0]


def test_a_cell_source_with_parts_that_are_not_text_is_read_not_a_crash():
    """A hostile notebook whose first cell's source list holds a number: the stamp in its text
    parts is read (a TypeError here would stop the whole batch's version resolution)."""
    from autograder.notebook import cell_stamp

    nb = {"cells": [{"cell_type": "code", "metadata": {},
                     "source": [f'KIT_STAMP = {{"assignment": "{SLUG}", "version": "2027"}}\n', 3, None]}]}
    assert cell_stamp(nb) == {"assignment": SLUG, "version": "2027"}
