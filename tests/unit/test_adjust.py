"""A TA's adjustment (``fmnist-kit adjust``): kept in the ledger, through a regrade, in the grade
sheet, the feedback, the report and the exports with its reason; taken back with one command."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from autograder import cli
from autograder.grading.batch import engine
from autograder.grading.batch.ledger import Ledger
from autograder.grading.intake.inputs import Intake
from autograder.report import outputs
from autograder.results import ClassEntry, QuestionResult, Record, Status
from autograder.target import AutograderInfo

INFO = AutograderInfo(path=Path("ag.zip"), sha256="a" * 64, assignment_name="3-2-overfitting",
                      questions=("q1", "q2"), points=(12.0, 12.0), version="1999")


def grade(out: Path, sid: str, q2: float, status: str = Status.GRADED) -> None:
    """What ``grade`` leaves for one student: the result in the ledger, the class entry, the outputs."""
    sha = (sid * 64)[:64]
    rec = Record(sub_sha=sha, ag_sha="k" * 64, status=status, reason="" if status == Status.GRADED else "why",
                 questions=[QuestionResult(name="q1", score=12.0, possible=12.0),
                            QuestionResult(name="q2", score=q2, possible=12.0)])
    with Ledger(out) as led:
        led.put(rec)
        led.remember(ClassEntry(student_id=sid, file=f"{sid}.ipynb", sub_sha=sha, ag_key="k" * 64,
                                status=status, version="1999", lms_id="5" if sid == "s1" else "6"))
    outputs.write_all(engine.class_view(engine.BatchResult(Intake(), []), out), INFO, out)


def sheet(out: Path) -> dict[str, dict[str, str]]:
    with (out / "grades.csv").open(encoding="utf-8-sig", newline="") as f:
        return {r["student_id"]: r for r in csv.DictReader(f) if r["student_id"]}


@pytest.fixture
def out(tmp_path: Path) -> Path:
    out = tmp_path / "class"
    grade(out, "s1", 4.0)
    grade(out, "s2", 0.0, status=Status.ERROR)
    return out


def test_an_adjustment_reaches_every_output_and_survives_a_regrade(out: Path, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture):
    reason = "q2 の読み取りは正しかった / the reading was right (dispute 12 Dec)"
    assert cli.main(["adjust", str(out), "s1", "--question", "q2", "--points", "10", "--reason", reason]) == 0
    assert "s1: q2 = 10" in capsys.readouterr().out
    row = sheet(out)["s1"]
    assert float(row["q2"]) == 10 and float(row["total_points_earned"]) == 22 and reason in row["adjusted"]
    assert reason in (out / "feedback" / "s1.html").read_text(encoding="utf-8")
    assert "22 / 24" in (out / "feedback" / "s1.html").read_text(encoding="utf-8")
    assert reason in (out / "report.html").read_text(encoding="utf-8")
    grade(out, "s1", 6.0)  # regraded (say, a new kit): the adjustment stays
    assert float(sheet(out)["s1"]["total_points_earned"]) == 22
    dest = tmp_path / "x"
    assert cli.main(["export", str(out), "--dest", str(dest), "--to", "csv", "--to", "moodle", "--language",
                     "en", "--points", "24"]) == 0
    plain = list(csv.DictReader(io.StringIO((dest / "grades-plain.csv").read_text(encoding="utf-8-sig"))))
    assert plain[0]["score"] == "22" and reason in plain[0]["adjusted"]
    assert reason in (dest / "moodle-grades.csv").read_text(encoding="utf-8-sig")
    assert cli.main(["adjust", str(out), "s1", "--question", "q2", "--remove"]) == 0
    row = sheet(out)["s1"]
    assert float(row["total_points_earned"]) == 18 and row["adjusted"] == ""


def test_the_total_can_be_set_and_nothing_else_is_adjustable(out: Path, capsys: pytest.CaptureFixture):
    assert cli.main(["adjust", str(out), "s1", "--points", "20", "--reason", "late penalty waived"]) == 0
    assert float(sheet(out)["s1"]["total_points_earned"]) == 20
    bad = [(["s2", "--points", "5", "--reason", "x"], "not graded"),
           (["s9", "--points", "5", "--reason", "x"], "not in the class"),
           (["s1", "--question", "q7", "--points", "5", "--reason", "x"], "no question 'q7'"),
           (["s1", "--question", "q2", "--points", "13", "--reason", "x"], "between 0 and 12"),
           (["s1", "--question", "q2", "--points", "5"], "needs its reason"),
           (["s1", "--question", "q1", "--remove"], "no adjustment of q1")]
    for args, why in bad:
        assert cli.main(["adjust", str(out), *args]) != 0
        err = capsys.readouterr().err
        assert why in err and "Traceback" not in err, (args, err)
    assert float(sheet(out)["s1"]["total_points_earned"]) == 20  # a refused change changed nothing
