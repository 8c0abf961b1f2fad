"""Versions as data: validation, rendering, stamps, seeds, the gate's judgement (no training)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
from pathlib import Path

import pytest
from kit_constants import SLUG

from autograder import model, paths
from autograder.errors import ConfigError, GradingError, PublishError
from autograder.grading import targets
from autograder.grading.inputs import Submission
from autograder.grading.ledger import Record
from autograder.model import AutograderInfo, QuestionResult
from autograder.notebook import STAMP_KEY
from autograder.release import gate, render, variants, versions


@pytest.fixture()
def kit(tmp_path: Path) -> Path:
    """A copy of the assignment folder to write version files into."""
    root = tmp_path / "kit"
    shutil.copytree(paths.repo_root() / "assignments" / SLUG, root / "assignments" / SLUG)
    return root


def _write(root: Path, name: str, text: str) -> Path:
    path = root / "assignments" / SLUG / "versions" / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_committed_versions_load_and_differ():
    """Do the shipped version files validate, and do 2026 and 2027 differ in several parameters?"""
    assert {"2026", "2027"} <= set(versions.available(SLUG))
    a, b = versions.load(SLUG, "2026"), versions.load(SLUG, "2027")
    changed = {k for k, _, _ in versions.diff(versions.render_params(a), versions.render_params(b))}
    assert {"seed", "dropout_rate", "variants", "epoch_tol", "val_acc_tol"} <= changed
    assert len(a.gate_seeds) >= 3 and len(b.gate_seeds) >= 3


@pytest.mark.parametrize("text, match", [
    ("units_biger = 256\n", r"(?s)2099\.toml: 'units_biger' is not a parameter.*did you mean 'units_bigger'"),
    ('units_bigger = "256"\n', r"2099\.toml: units_bigger = '256' is not a whole number"),
    ("dropout_rate = 1.5\n", r"2099\.toml: dropout_rate = 1\.5 must lie in 0\.05\.\.0\.9"),
    ("variants = 1\n", r"variants = 1 is not true or false"),
    ("seed = true\n", r"seed = True is not a whole number"),
    ("units_baseline = 600\n", r"'units_baseline': Baseline must have fewer units than Bigger"),
    ("n_train = 50001\n", r"n_train = 50001 must lie in 1000\.\.50000"),
    ("overfit_no_below = 0.06\n", r"overfit_no_below must be below overfit_yes_at"),
    ("gate_seeds = [1, 1, 2]\n", r"gate_seeds = \[1, 1, 2\] needs at least 3 different seeds"),
    ('language = "fr"\n', r"language = 'fr' must be one of"),
    ("units_bigger = \n", r"2099\.toml is not valid TOML"),
])
def test_wrong_keys_and_values_name_file_and_key(kit: Path, text: str, match: str):
    """Is each wrong key or value refused with a message naming the file and the key?"""
    _write(kit, "2099", text)
    with pytest.raises(ConfigError, match=match):
        versions.load(SLUG, "2099", kit)


def test_missing_version_lists_the_known_ones(kit: Path):
    with pytest.raises(ConfigError, match=r"no version file .*1999\.toml") as exc:
        versions.load(SLUG, "1999", kit)
    assert "2026" in exc.value.hint and "2027" in exc.value.hint
    with pytest.raises(ConfigError, match="not a usable version id"):
        versions.load(SLUG, "../2026", kit)


def test_defaults_fill_what_a_file_leaves_out(kit: Path):
    """Does a version file with one key get every other parameter's default?"""
    _write(kit, "2099", "units_bigger = 1024\n")
    v = versions.load(SLUG, "2099", kit)
    assert v["units_bigger"] == 1024
    assert all(v[p.key] == p.default for p in versions.SCHEMA if p.key != "units_bigger")
    assert v.gate_seeds == [v["seed"], v["seed"] + 1, v["seed"] + 2]


def _master() -> dict:
    return json.loads(paths.master_notebook(SLUG).read_text(encoding="utf-8"))


def _code(nb: dict) -> str:
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def test_render_sets_every_constant_and_the_otter_seed():
    """Does rendering put each version value into its master constant and otter's seed config?"""
    v = versions.load(SLUG, "2027")
    nb = render.render_master(_master(), v)
    code = _code(nb)
    for const, key in versions.CONSTANTS.items():
        assert re.search(rf"^{const} = {re.escape(render.literal(v[key]))}(\s|$)", code, re.M), const
    config = "".join(nb["cells"][0]["source"])
    assert "autograder_value: 2027" in config and "student_value: 2027" in config
    text = "".join("".join(c["source"]) for c in nb["cells"])
    assert "{{" not in text and "Bigger（256+256）" in text and "Bigger (256+256)" in text


def test_render_refuses_a_master_that_disagrees(kit: Path):
    """Are a missing constant and an unknown placeholder refused, naming what is wrong?"""
    v = versions.load(SLUG, "2026")
    nb = _master()
    for c in nb["cells"]:
        c["source"] = "".join(c["source"]).replace("UNITS_BIGGER = 256", "BIG = 256")
    with pytest.raises(PublishError, match=r"UNITS_BIGGER \(0 times\)"):
        render.render_master(nb, v)
    nb = _master()
    nb["cells"][1]["source"] = "Bigger has {{units_biggest}} units"
    with pytest.raises(PublishError, match=r"master cell 1: unknown placeholder \{\{units_biggest\}\}"):
        render.render_master(nb, v)


def _q9(nb: dict) -> dict:
    return next(c for c in nb["cells"] if "".join(c["source"]).startswith("### 問9"))


def test_render_refuses_a_rule_prompt_that_states_other_numbers():
    """Is a prompt that types a threshold (instead of its placeholder) refused when the version's
    value differs, and one that leaves the threshold out refused too?"""
    v = versions.load(SLUG, "2026")
    nb = _master()
    cell = _q9(nb)
    cell["source"] = "".join(cell["source"]) + "\n（目安は 0.07 / as a guide, 0.07）"
    with pytest.raises(PublishError, match=r"\(Q9\): the prompt states 0\.07, 0\.07, which is not a "
                                           r"grading parameter of version 2026"):
        render.render_master(nb, v)
    nb = _master()
    cell = _q9(nb)
    cell["source"] = "".join(cell["source"]).replace("{{overfit_yes_at}}", "0.05 ")
    assert render.render_master(nb, v)  # the right number typed in: stated
    cell["source"] = "".join(cell["source"]).replace("0.05 ", "0.07")
    with pytest.raises(PublishError, match=r"\(Q9\): the prompt does not state overfit_yes_at = 0\.05"):
        render.render_master(nb, v)
    exact = dataclasses.replace(v, values=dict(v.values, epoch_tol=0.0))
    q7 = "".join(next(c for c in render.render_master(_master(), exact)["cells"]
                      if "".join(c["source"]).startswith("### 問7"))["source"])
    assert "ちょうど" in q7 and "Only exactly that epoch" in q7 and "0.0" not in q7


def test_english_only_rendering_leaves_no_japanese_prompt():
    """With language = "en", is every Markdown cell English only, and the code unchanged in meaning?"""
    v = versions.load(SLUG, "2026")
    en = dataclasses.replace(v, values=dict(v.values, language="en"))
    nb = render.render_master(_master(), en)
    ja = render.render_master(_master(), v)
    md = [("".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "markdown"]
    assert md and not any(render._JAPANESE.search(m) for m in md)
    assert any(m.startswith("## Build the model") for m in md)
    assert any("1. `Flatten`: turn a 28×28 image" in m for m in md)
    assert any("- **dropout**: randomly disabling connections" in m for m in md)
    strip = re.compile(r"#.*$|\"\"\".*\"\"\"", re.M)  # comments and one-line docstrings differ
    assert strip.sub("", _code(nb)) == strip.sub("", _code(ja))


def test_diff_lists_only_changed_parameters():
    a = versions.render_params(versions.load(SLUG, "2026"))
    b = dict(a, units_bigger=128, dropout_rate=0.4)
    assert versions.diff(a, b) == [("units_bigger", 256, 128), ("dropout_rate", 0.5, 0.4)]
    assert versions.diff(a, dict(a)) == []


# --------------------------------------------------------------------------- seeds and stamps

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
    assert isinstance(t, model.Target) and t.version == "2026" and t.seed is None and not t.flags
    status, reason = r(_sub("s1"), _nb(assignment=SLUG, version="2025"))
    assert status == model.WRONG_VERSION and "'2025'" in reason and "2026, 2027" in reason
    status, reason = r(_sub("s1"), _nb(assignment=SLUG, version="2027"))
    assert status == model.WRONG_VERSION and "version 2027" in reason and "grades version 2026" in reason
    status, reason = r(_sub("s1"), _nb(assignment="9-9-other", version="2026"))
    assert status == model.WRONG_VERSION and "9-9-other" in reason
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


def test_roster_reading(tmp_path: Path):
    f = tmp_path / "r.csv"
    f.write_bytes("\ufeffname,student_id\n山田,s001\n佐藤,s002\n\n".encode())
    assert variants.read_roster(f) == ["s001", "s002"]
    f.write_text("s001\ns002\ns001\n")
    with pytest.raises(ConfigError, match="row 3: student s001 is listed twice"):
        variants.read_roster(f)
    f.write_text("student_id\ns001\n../x\n")
    with pytest.raises(ConfigError, match=r"row 3: '\.\./x' is not a usable student ID"):
        variants.read_roster(f)


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

def _rec(total_lost: dict[str, float] | None = None, curves: dict | None = None,
         acc: float | None = 0.87) -> Record:
    qs = [QuestionResult(name=f"q{i}", score=2.0, possible=2.0) for i in range(12)]
    for name, lost in (total_lost or {}).items():
        qs.append(QuestionResult(name=name, score=3.0 - lost, possible=3.0))
    good = {"bigger": _curve(rise=0.09, gap=0.09, good=6), "baseline": _curve(rise=0.03, gap=0.05),
            "smaller": _curve(rise=0.004, gap=0.03), "dropout": _curve(rise=0.01, gap=0.02)}
    return Record(sub_sha="s", ag_sha="a", status=model.GRADED, questions=qs, test_accuracy=acc,
                  curves=good if curves is None else curves)


def _curve(*, rise: float, gap: float, good: int = 15, val: float = 0.82) -> dict:
    """A curve summary as the clean check writes it (15 epochs)."""
    return {"epochs": 15, "good_epoch": good, "good_val_accuracy": 0.84, "val_loss_rise": rise,
            "final_gap": gap, "final_val_accuracy": val, "verdict": None, "recorded_difference": None}


def _blank(score: float = 0.0) -> Record:
    return Record(sub_sha="b", ag_sha="a", status=model.GRADED,
                  questions=[QuestionResult(name="q1_model", score=score, possible=3.0)])


def test_gate_passes_a_clean_version_with_its_margins():
    v = versions.load(SLUG, "2026")
    res = {f"solution-seed-{s}": _rec() for s in v.gate_seeds} | {"blank": _blank()}
    out = gate.judge(v, res)
    assert out["passed"] and out["failures"] == [] and out["blank"] == "0/3"
    assert out["minimum_margins"]["bigger_overfits"] == pytest.approx(0.09 - v["overfit_yes_at"])
    assert out["minimum_margins"]["smaller_does_not"] == pytest.approx(v["overfit_no_below"] - 0.004)
    assert out["minimum_margins"]["bigger_good_epoch_early"] == pytest.approx(
        v["good_epoch_by"] * 15 - 6)
    assert out["minimum_margins"]["smaller_learns"] == pytest.approx(0.82 - v["smaller_min_val_acc"])


def test_gate_refusals_say_which_check_failed_by_how_much():
    v = versions.load(SLUG, "2026")
    s1, s2, s3 = v.gate_seeds
    ambiguous = {"bigger": _curve(rise=0.041, gap=0.09, good=13), "baseline": _curve(rise=0.03, gap=0.05),
                 "smaller": _curve(rise=0.0237, gap=0.03, val=0.70), "dropout": _curve(rise=0.0, gap=0.02)}
    res = {f"solution-seed-{s1}": _rec({"q1_accuracy": 3.0}, acc=0.8712),
           f"solution-seed-{s2}": _rec(curves=ambiguous),
           f"solution-seed-{s3}": _rec(), "blank": _blank(3.0)}
    out = gate.judge(dataclasses.replace(v, values=dict(v.values, accuracy_threshold=0.95)), res)
    text = "\n".join(out["failures"])
    assert not out["passed"]
    assert f"seed {s1}: the solution scored 24/27, not 100% (lost: q1_accuracy 0/3)" in text
    assert "test accuracy 0.8712 is below the threshold 0.95 by 0.0788" in text
    short = v["overfit_yes_at"] - 0.041
    assert (f"seed {s2}: Bigger's validation loss rose 0.0410 from its lowest: not a clear 'overfits', "
            f"{short:.4f} short") in text
    above = 0.0237 - v["overfit_no_below"]
    assert (f"seed {s2}: Smaller's validation loss rose 0.0237 from its lowest: not a clear 'does not "
            f"overfit', {above:.4f} above") in text
    assert (f"seed {s2}: Bigger's validation loss is lowest at epoch 13 of 15: not a minimum within "
            "the first 60%") in text
    assert f"seed {s2}: Smaller ends at validation accuracy 0.7000, below smaller_min_val_acc 0.75" in text
    assert "the blank notebook scored 3, not 0 (earned: q1_model 3)" in text
    assert f"seed {s3}:" not in text


def test_gate_accepts_the_good_epoch_on_the_last_allowed_epoch():
    """Is a loss minimum at epoch 9 of 15 "within the first 60%" (and epoch 10 not)?"""
    v = versions.load(SLUG, "2026")
    for good, passed in ((9, True), (10, False)):
        curves = {"bigger": _curve(rise=0.09, gap=0.09, good=good), "baseline": _curve(rise=0.03, gap=0.05),
                  "smaller": _curve(rise=0.004, gap=0.03), "dropout": _curve(rise=0.01, gap=0.02)}
        res = {f"solution-seed-{s}": _rec(curves=curves) for s in v.gate_seeds} | {"blank": _blank()}
        assert gate.judge(v, res)["passed"] is passed, good


def test_variant_notebook_without_secret_in_an_implicit_batch_says_what_to_do():
    """With no --version given, a 2027 notebook in a batch without the secret is not graded
    wrongly: its row says to grade again with --secret-file (plain versions still grade)."""
    infos = {"2026": _info("2026"), "2027": _info("2027", variants_on=True)}
    r = targets.VersionResolver(SLUG, infos, ["2027", "2026"], None, explicit=False)
    status, reason = r(_sub("s1"), _nb(assignment=SLUG, version="2027", student_id="s1"))
    assert status == model.ERROR and "--secret-file" in reason
    assert r(_sub("s1"), _nb(assignment=SLUG, version="2026")).version == "2026"


def test_a_variant_notebook_pinning_its_own_seed_is_flagged():
    """Does a notebook that seeds with a literal (a copy pinning its author's seed) get flagged?"""
    secret = b"k" * 32
    r = targets.VersionResolver(SLUG, {"2027": _info("2027", variants_on=True)}, ["2027"], secret)
    nb = _nb(assignment=SLUG, version="2027", student_id="s009")
    nb["cells"] = [{"cell_type": "code", "source": "keras.utils.set_random_seed(SEED)\n"}]
    assert r(_sub("s009"), nb).flags == ()
    nb["cells"].append({"cell_type": "code", "source": "keras.utils.set_random_seed(123456)\n"})
    flags = r(_sub("s009"), nb).flags
    assert len(flags) == 1 and "set_random_seed(123456)" in flags[0]


def test_a_notebook_saved_by_colab_is_not_refused_by_otters_assignment_name(tmp_path: Path):
    """otter refuses a notebook without ``metadata.otter.assignment_name`` ("Received submission
    for assignment 'None'") when its config names one; Colab may drop it. Does the published zip's
    config name none (the kit decides by stamp or questions), and does the kit put the name back
    for an older zip whose config names one, leaving a notebook's own name and hostile metadata
    handled?"""
    import copy
    import zipfile

    from autograder.grading import run_one

    with zipfile.ZipFile(paths.autograder_zip(SLUG, "2026")) as zf:
        assert "assignment_name" not in json.loads(zf.read("otter_config.json"))
    older = tmp_path / "otter_config.json"
    older.write_text(json.dumps({"assignment_name": SLUG}), encoding="utf-8")
    nb = json.loads((paths.solution_dir(SLUG, "2026") / f"{SLUG}.ipynb").read_text(encoding="utf-8"))
    colab = copy.deepcopy(nb)
    colab["metadata"] = {"colab": {"provenance": []}, "kernelspec": {"name": "python3"}}
    hostile = copy.deepcopy(colab)
    hostile["metadata"]["otter"] = "not a mapping"
    for sample in (colab, hostile, nb):
        run_one.name_assignment(sample, older)
        assert sample["metadata"]["otter"]["assignment_name"] == SLUG
    other = copy.deepcopy(nb)
    other["metadata"]["otter"]["assignment_name"] = "another"
    run_one.name_assignment(other, older)
    assert other["metadata"]["otter"]["assignment_name"] == "another"


def test_a_cell_source_with_parts_that_are_not_text_is_read_not_a_crash():
    """A hostile notebook whose first cell's source list holds a number: the stamp in its text
    parts is read (a TypeError here would stop the whole batch's version resolution)."""
    from autograder.notebook import cell_stamp

    nb = {"cells": [{"cell_type": "code", "metadata": {},
                     "source": [f'KIT_STAMP = {{"assignment": "{SLUG}", "version": "2027"}}\n', 3, None]}]}
    assert cell_stamp(nb) == {"assignment": SLUG, "version": "2027"}
