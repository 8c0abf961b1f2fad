"""The autograder zip's own requirements and kit code (``release.portable``)."""

from __future__ import annotations

import ast
import json
import tomllib
from pathlib import Path

from autograder.grading.execution.otter_plugin import CLEAN_PLUGIN
from autograder.release import portable

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_modules_are_closed_under_imports():
    """Does every kit module the zip ships import only kit modules the zip ships too?"""
    shipped = set(portable.MODULES)
    for module in portable.MODULES:
        tree = ast.parse(portable.module_path(module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("autograder"):
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names
                                         if portable.module_path(f"{node.module}.{a.name}").is_file()]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("autograder")]
            for name in names:
                assert name in shipped, f"{module} imports {name}, which the zip does not ship"


def test_requirements_pin_what_the_kit_pins():
    """Are the zip's requirements the kit's own pins (TensorFlow as its CPU wheel), but for the
    batch grader's own (Dask), which grading one submission does not import?"""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    kit = {d.replace("tensorflow==", "tensorflow-cpu==") for d in deps
           if d.split("==")[0] not in portable.COORDINATOR_ONLY}
    assert len(kit) == len(deps) - len(portable.COORDINATOR_ONLY)
    assert set(portable.REQUIREMENTS) == kit


def test_entries_name_the_clean_check_plugin_and_ship_the_kit():
    """Does the made-portable zip name the clean-check plugin once and carry the kit's code?"""
    entries = [("otter_config.json", json.dumps({"plugins": [CLEAN_PLUGIN]}).encode()),
               ("setup.sh", b"#!/usr/bin/env bash\n"), ("tests/q1.py", b"")]
    out = dict(portable.portable_entries(entries))
    assert json.loads(out["otter_config.json"])["plugins"] == [CLEAN_PLUGIN]
    assert "kit/autograder/grading/verify/clean_check.py" in out and "kit/pyproject.toml" in out
    assert b"fashion_mnist.load_data()" in out["setup.sh"]
    assert out["tests/q1.py"] == b""
    assert portable.portable_entries(sorted(out.items())) == sorted(out.items())  # idempotent


def test_zip_config_names_no_assignment_and_the_kit_still_knows_it(tmp_path: Path):
    """Does the portable zip drop otter's assignment name (otter would refuse a Colab download
    without the metadata) while the kit reads the assignment from the release's parameters?"""
    import zipfile

    from autograder.grading.intake.autograder_zip import ZIP_PARAMS, autograder_info

    entries = [("otter_config.json", json.dumps({"assignment_name": "3-2-overfitting"}).encode()),
               (ZIP_PARAMS, json.dumps({"assignment": "3-2-overfitting", "version": "2026"}).encode()),
               ("tests/q1_model.py", b"points = 2\n")]
    out = dict(portable.portable_entries(entries))
    assert "assignment_name" not in json.loads(out["otter_config.json"])
    zpath = tmp_path / "autograder.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for name, data in out.items():
            zf.writestr(name, data)
    info = autograder_info(zpath)
    assert (info.assignment_name, info.version, info.questions) == ("3-2-overfitting", "2026", ("q1_model",))


# ------------------------------------------------------------ the zip's plugin: which notebooks it scores

QUESTIONS = ("q1_model", "q1_train", "q2_networks", "q3_dropout")


def _release(tmp_path: Path) -> tuple[Path, Path]:
    params = tmp_path / "kit_params.json"
    params.write_text(json.dumps({"assignment": "3-2-overfitting", "version": "2026"}), encoding="utf-8")
    tests = tmp_path / "tests"
    tests.mkdir()
    for q in QUESTIONS:
        (tests / f"{q}.py").write_text("points = 1\n", encoding="utf-8")
    return params, tests


def _nb(*, otter_name: str | None = None, stamp: dict | None = None, cell_stamp: dict | None = None,
        checks: tuple[str, ...] = QUESTIONS) -> dict:
    from autograder.notebook import STAMP_KEY, stamp_line

    meta: dict = {}
    if otter_name:
        meta["otter"] = {"assignment_name": otter_name}
    if stamp:
        meta[STAMP_KEY] = stamp
    cells = [{"cell_type": "code", "source": stamp_line(cell_stamp)}] if cell_stamp else []
    cells += [{"cell_type": "code", "source": f'grader.check("{q}")'} for q in checks]
    return {"metadata": meta, "cells": cells}


def test_release_problem_accepts_this_assignment_in_any_form(tmp_path: Path):
    """Is a notebook of this assignment and version scored, whether otter's metadata, the kit's
    metadata stamp or only the first cell's stamp (a Colab download) says so?"""
    from autograder.grading.execution.otter_plugin import release_problem

    params, tests = _release(tmp_path)
    mine = {"assignment": "3-2-overfitting", "version": "2026"}
    for nb in (_nb(otter_name="3-2-overfitting", stamp=mine), _nb(cell_stamp=mine),
               _nb(), _nb(cell_stamp=mine, checks=())):
        assert release_problem(nb, params, tests) == "", nb


def test_release_problem_refuses_another_assignment_or_version(tmp_path: Path):
    """Is a notebook of another assignment, another version, or one checking too few of the
    questions refused, with what was wrong?"""
    from autograder.grading.execution.otter_plugin import release_problem

    params, tests = _release(tmp_path)
    cases = {
        "for assignment '1-1-intro'": _nb(otter_name="1-1-intro"),
        "for assignment '2-1-regression'": _nb(cell_stamp={"assignment": "2-1-regression",
                                                            "version": "2026"}),
        "wrong version: this notebook is version 2027": _nb(cell_stamp={"assignment": "3-2-overfitting",
                                                                         "version": "2027"}),
        "only 1 of its 4 questions": _nb(checks=("q1_model",)),
    }
    for expected, nb in cases.items():
        assert expected in release_problem(nb, params, tests), expected


class _Results:
    """What otter hands ``after_grading``: results to replace, an output to set."""

    def __init__(self) -> None:
        self.results: dict = {}
        self.output = ""

    def set_output(self, text: str) -> None:
        self.output = text


def _plugin_scores(tmp_path: Path, nb: dict, monkeypatch) -> tuple[float, str]:
    """Run the zip's plugin around a grading whose clean check gives full marks."""
    from autograder.grading.execution import otter_plugin
    root = tmp_path / "autograder"
    files = root / "source" / "files"
    files.mkdir(parents=True)
    params, _ = _release(tmp_path)
    (files / "kit_params.json").write_bytes(params.read_bytes())
    sub = root / "submission"
    (sub / "tests").mkdir(parents=True)
    for q in QUESTIONS:
        (sub / "tests" / f"{q}.py").write_text(
            f'OK_FORMAT = True\ntest = {{"name": "{q}", "points": 1, "suites": [{{"cases": [], '
            '"scored": True, "setup": "", "teardown": "", "type": "doctest"}]}\n', encoding="utf-8")
    (sub / "nb.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    full = {"tests": [{"name": q, "score": 1, "max_score": 1} for q in QUESTIONS], "networks": "none"}
    replays = []
    monkeypatch.setattr(otter_plugin, "run_replay",
                        lambda private, artifacts, seed: replays.append(seed) or private.parent / "replay")
    monkeypatch.setattr(otter_plugin, "run_clean_check", lambda private, artifacts, replays: full)
    plugin = otter_plugin.CleanCheck(str(sub / "nb.ipynb"), {}, {})
    plugin.before_grading(None)
    results = _Results()
    plugin.after_grading(results)
    assert replays == [None]  # no seed in this zip's configuration: nothing can be replayed
    return sum(t.score for t in results.results.values()), results.output


def test_plugin_zeroes_a_notebook_of_another_version(tmp_path: Path, monkeypatch):
    """Does the zip's plugin give 0 and say why to a notebook stamped with another version, where
    the same clean check gives this version's notebook full marks?"""
    ok = _nb(cell_stamp={"assignment": "3-2-overfitting", "version": "2026"})
    assert _plugin_scores(tmp_path / "ok", ok, monkeypatch) == (4, "fmnist-kit clean check: networks "
                                                                   "evaluated by none")
    other = _nb(cell_stamp={"assignment": "3-2-overfitting", "version": "2027"})
    score, output = _plugin_scores(tmp_path / "other", other, monkeypatch)
    assert score == 0 and "wrong version: this notebook is version 2027" in output


def test_the_kits_grade_takes_the_zips_plugin_out_under_either_name(tmp_path: Path):
    """The kit's own ``grade`` runs the clean check as its own stage: ``add_plugin`` takes the zip's
    ``CleanCheck`` out of otter's configuration, named as today's zips name it and as zips published
    before the stage folders did (seen in them: ``autograder.grading.otter_plugin.CleanCheck``), keeps
    any other plugin, and adds ``SaveExecutedNotebook`` once."""
    from autograder.grading.execution.otter_plugin import OLD_CLEAN_PLUGINS, PLUGIN, add_plugin

    assert "autograder.grading.otter_plugin.CleanCheck" in OLD_CLEAN_PLUGINS
    for n, name in enumerate((CLEAN_PLUGIN, *OLD_CLEAN_PLUGINS)):
        config = tmp_path / f"otter_config{n}.json"
        config.write_text(json.dumps({"plugins": [name, "other.Plugin"]}), encoding="utf-8")
        add_plugin(config, seed=7)
        add_plugin(config, seed=7)
        written = json.loads(config.read_text(encoding="utf-8"))
        assert written["plugins"] == ["other.Plugin", PLUGIN], name
        assert written["seed"] == 7 and written["seed_variable"] == "SEED"
