"""What the student is shown: the numbers the readings need, printed by the given code (issue 34).

No training here: the given ``reading_table`` and its calls after the Part 2 and Part 3 figures
run on synthetic histories, and what they print is compared with what the grader's rules compare
(``autograder.curves``).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import tomllib

import numpy as np
import pandas as pd
import pytest
from kit_constants import SLUG

from autograder import curves, paths
from autograder.notebook import cell_source
from autograder.release import handout, render, versions

#: The histories each reading table must show: the names the readings compare (Q7-Q10: the three
#: networks; Q12: Bigger and the three techniques).
TABLES = ({"smaller": "hist_smaller", "baseline": "hist_baseline", "bigger": "hist_bigger"},
          {"bigger": "hist_bigger", "dropout": "hist_dropout", "l2": "hist_l2",
           "augmentation": "hist_augment"})


def _rendered(version: str) -> dict:
    master = json.loads(paths.master_notebook(SLUG).read_text(encoding="utf-8"))
    return render.render_master(master, versions.load(SLUG, version))


def _given_code(nb: dict) -> list[str]:
    """The code cells outside ``# BEGIN SOLUTION`` blocks and without solution lines: what every
    student's notebook runs as handed out."""
    out, inside = [], False
    for cell in nb["cells"]:
        src = cell_source(cell)
        if cell["cell_type"] == "raw":
            inside = {"# BEGIN SOLUTION": True, "# END SOLUTION": False}.get(src.strip(), inside)
        elif cell["cell_type"] == "code" and not inside and "# SOLUTION" not in src:
            out.append(src)
    return out


def _history(rng: np.random.Generator, n: int = 15) -> pd.DataFrame:
    frame = pd.DataFrame({col: rng.uniform(0.05, 1.2, n) for col in ("loss", "val_loss")}
                         | {col: rng.uniform(0.6, 0.99, n) for col in ("accuracy", "val_accuracy")})
    frame.index = pd.RangeIndex(1, n + 1, name="epoch")
    return frame


def _printed_tables(version: str, seed: int) -> tuple[list[str], list[str], dict[str, pd.DataFrame]]:
    """Run the given ``reading_table`` and each line that calls it on random histories."""
    given = _given_code(_rendered(version))
    (definition,) = [src for src in given if "def reading_table(" in src]
    namespace: dict = {"pd": pd}
    exec(definition[definition.index("def reading_table("):], namespace)  # noqa: S102
    rng = np.random.default_rng(seed)
    names = {var for table in TABLES for var in table.values()}
    frames = {var: _history(rng) for var in sorted(names)}
    namespace.update(frames)
    calls = [ln for src in given for ln in src.splitlines() if ln.startswith("reading_table(")]
    outputs = []
    for call in calls:
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            exec(call, namespace)  # noqa: S102
        outputs.append(buf.getvalue())
    return calls, outputs, frames


@pytest.mark.parametrize("version", ["2026", "2027"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_given_code_prints_every_number_a_reading_rule_compares(version, seed):
    """After the Part 2 and the Part 3 figures, does the given code print, for every network a
    reading compares, its lowest validation loss and that epoch, the rise after it and the final
    training−validation gap, as the grader computes them, to 4 decimals?"""
    calls, outputs, frames = _printed_tables(version, seed)
    assert len(calls) == len(TABLES)
    for call, text, table in zip(calls, outputs, TABLES, strict=True):
        for name, var in table.items():
            assert f'"{name}": {var}' in call, (call, name)
            h = frames[var]
            (row,) = [ln.split() for ln in text.splitlines() if ln.split()[:1] == [name]]
            assert row[1:] == [f"{h['val_loss'].min():.4f}", str(curves.good_epoch(h)),
                               f"{curves.loss_rise(h):.4f}", f"{curves.gap(h):.4f}"], (name, text)


@pytest.mark.parametrize("version", ["2026", "2027"])
def test_four_decimals_are_fine_enough_for_every_tolerance(version):
    """Is the table's last decimal (0.0001) at most a fifth of every nonzero tolerance a reading
    rule compares against, so that a printed number never leaves the reading in doubt?"""
    v = versions.load(SLUG, version)
    keys = ("epoch_tol", "val_acc_tol", "overfit_yes_at", "overfit_no_below", "choice_tol", "gap_tol")
    assert min(v[k] for k in keys if v[k] > 0) >= 5e-4


def test_the_loss_axis_has_fine_ticks_like_the_accuracy_axis():
    """Does ``plot_curves`` give the loss axis (axes[1]) major and minor ticks, as the accuracy axis?"""
    (src,) = [s for s in _given_code(_rendered("2026")) if "def plot_curves(" in s]
    for axis in (0, 1):
        assert re.search(rf"axes\[{axis}\]\.yaxis\.set_major_locator\(MultipleLocator", src)
        assert re.search(rf"axes\[{axis}\]\.yaxis\.set_minor_locator\(MultipleLocator", src)


@pytest.mark.parametrize(("version", "example"), [("2026", "0.83"), ("2027", "0.834")])
def test_the_accuracy_example_has_the_decimals_of_the_tolerance(version, example):
    """Does Q8 show an example with as many decimals as its tolerance (±0.001: 0.834, not 0.83)?"""
    (q8,) = [cell_source(c) for c in _rendered(version)["cells"]
             if cell_source(c).startswith("### 問8")]
    assert f"例 {example}）" in q8 and f"(e.g. {example})" in q8


# --- the handout README, docs/student.md and the notebook say the same (times, question numbers) ---

def _readme(version: str = "2026") -> str:
    return handout.handout_readme(SLUG, versions.load(SLUG, version))


def _student_md() -> str:
    return (paths.repo_root() / "docs" / "student.md").read_text(encoding="utf-8")


def _notebook_text(version: str = "2026") -> str:
    return "\n".join(cell_source(c) for c in _rendered(version)["cells"] if c["cell_type"] == "markdown")


def _span(numbers: list[int], ja: bool) -> str:
    """[1, 2, 3, 4, 5, 6, 11] -> '問1〜問6 と問11' (or 'Q1–Q6 and Q11')."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    q, dash, join = ("問", "〜", " と") if ja else ("Q", "–", " and ")
    return join.join(f"{q}{r[0]}" + (f"{dash}{q}{r[-1]}" if len(r) > 1 else "") for r in runs)


def test_the_three_texts_list_the_same_code_and_reading_questions():
    """Do the README, docs/student.md and the notebook name the same questions as code and as
    readings, taken from the notebook itself (the readings: the questions whose prompt states a
    grading rule, render.RULES), so that Q11 (code) is never called a reading?"""
    text = _notebook_text()
    asked = sorted({int(n) for n in re.findall(r"(?m)^###\s*問(\d+)", text)})
    reading = sorted(int(q) for q in render.RULES)
    code = [n for n in asked if n not in reading]
    assert 11 in code and 11 not in reading
    for name, doc in (("README", _readme()), ("student.md", _student_md()), ("notebook", text)):
        for ja in (True, False):
            sentence = (f"{_span(code, True)} はコードを書く問題、{_span(reading, True)} はグラフと表を"
                        "読み取って答える問題です" if ja else
                        f"{_span(code, False)} ask for code; {_span(reading, False)} ask you to read")
            assert sentence in " ".join(doc.split()), (name, sentence)
        assert "問7〜問12" not in doc and "Questions 7–12" not in doc, name


def _times(doc: str) -> dict[str, set[int]]:
    flat = " ".join(doc.split())
    return {"whole_ja": {int(n) for n in re.findall(r"約 (\d+) 分", flat)},
            "whole_en": {int(n) for n in re.findall(r"about (\d+) minutes?", flat)},
            "cell_ja": {int(n) for n in re.findall(r"約 (\d+) 秒", flat)},
            "cell_en": {int(n) for n in re.findall(r"about (\d+) seconds", flat)}}


def test_the_three_texts_give_the_same_measured_times():
    """Do the README, docs/student.md and the notebook give the whole notebook's time and each long
    cell's as the one estimate ``handout.TIMES`` holds, say Google Colab may differ, and no longer
    say "a few minutes" (数分)?"""
    t = handout.TIMES
    cells = {t["part1_seconds"], t["part2_seconds"], t["part3_seconds"]}
    assert sum(cells) <= 60 * t["whole_minutes"]
    for name, doc in (("README", _readme()), ("README 2027", _readme("2027")),
                      ("student.md", _student_md()), ("notebook", _notebook_text())):
        found = _times(doc)
        assert found["whole_ja"] == found["whole_en"] == {t["whole_minutes"]}, (name, found)
        assert found["cell_ja"] == found["cell_en"] == cells, (name, found)
        flat = " ".join(doc.split())
        assert "Google Colab では速さが違うことがあります" in flat, name
        assert "on Google Colab the speed may differ" in flat, name
        assert "数分" not in doc and "a few minutes" not in doc, name


def test_the_handout_tells_a_colab_student_to_copy_run_hand_in_on_moodle():
    """Do the README and docs/student.md give a Colab student every step: save a copy in Drive,
    run all, the hand-in cell, upload on Moodle?"""
    for name, doc in (("README", _readme()), ("student.md", _student_md())):
        flat = " ".join(doc.split())
        for step in ("ドライブにコピーを保存", "Save a copy in Drive", "すべてのセルを実行", "Run all",
                     "最後のセル", "Moodle"):
            assert step in flat, (name, step)


def test_the_jupyter_install_line_pins_the_tensorflow_the_kit_supports():
    """Does the README's pip line pin the TensorFlow (and otter) of the kit's own pyproject.toml?"""
    project = tomllib.loads((paths.repo_root() / "pyproject.toml").read_text(encoding="utf-8"))
    pins = {re.split(r"[=<>]", d)[0]: d for d in project["project"]["dependencies"]}
    line = re.search(r"`(pip install [^`]+)`", _readme()).group(1)
    assert pins["tensorflow"] in line.split() and pins["otter-grader"] in line.split(), line
