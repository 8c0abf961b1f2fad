"""The ledger: durable, keyed by (submission hash, autograder hash), survives a killed writer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from autograder.grading.batch.ledger import Ledger
from autograder.results import QuestionResult, Record


def record(sub: str = "s" * 64, ag: str = "a" * 64, **kw) -> Record:
    base = {"status": "graded", "seconds": 12.5,
            "questions": [QuestionResult(name="q1", score=2.0, possible=2.0, output="ok"),
                          QuestionResult(name="q2", score=0.0, possible=1.0, output="x は 1 です")],
            "results_json": '{"tests": []}', "test_accuracy": 0.875,
            "figures": {"curves_part2_networks.png": b"\x89PNG\r\n\x1a\nfake"}}
    base.update(kw)
    return Record(sub_sha=sub, ag_sha=ag, **base)


def test_round_trip_keeps_every_field(tmp_path: Path):
    """Does a stored result come back with its scores, messages, figures and test accuracy?"""
    with Ledger(tmp_path) as led:
        led.put(record())
        got = led.get("s" * 64, "a" * 64)
    assert got is not None
    assert [(q.name, q.score, q.possible, q.output) for q in got.questions] == [
        ("q1", 2.0, 2.0, "ok"), ("q2", 0.0, 1.0, "x は 1 です")]
    assert got.total == 2.0 and got.possible == 3.0
    assert got.figures == {"curves_part2_networks.png": b"\x89PNG\r\n\x1a\nfake"}
    assert got.test_accuracy == 0.875 and got.results_json == '{"tests": []}'


def test_keyed_by_autograder_too(tmp_path: Path):
    """Is a result for another autograder release a different entry (so a new release regrades)?"""
    with Ledger(tmp_path) as led:
        led.put(record(ag="a" * 64))
        assert led.get("s" * 64, "b" * 64) is None
        assert led.count() == 1


def test_put_replaces_and_drops_old_figures(tmp_path: Path):
    """Does a regrade replace the row and its figures instead of duplicating them?"""
    with Ledger(tmp_path) as led:
        led.put(record())
        led.put(record(status="timeout", questions=[], figures={}))
        got = led.get("s" * 64, "a" * 64)
        assert led.count() == 1
    assert got is not None and got.status == "timeout" and got.figures == {}


def test_wal_and_full_sync_are_on(tmp_path: Path):
    """Is the journal WAL with synchronous=FULL (a commit is on disk when put() returns)?"""
    with Ledger(tmp_path) as led:
        assert led.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert led.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_a_committed_result_survives_kill_9(tmp_path: Path):
    """After the writing process is killed with SIGKILL, are its committed results all there?"""
    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from autograder.grading.batch.ledger import Ledger\n"
        "from autograder.results import Record\n"
        "led = Ledger(Path(sys.argv[1]))\n"
        "for i in range(5):\n"
        "    led.put(Record(sub_sha=f'{i:064d}', ag_sha='a' * 64, status='graded', seconds=float(i)))\n"
        "led.db.execute('BEGIN IMMEDIATE')\n"  # an open, uncommitted transaction at kill time
        "led.db.execute(\"INSERT INTO results VALUES "
        "('x','a','graded','',0,0,'[]','',NULL,'',0,'{}','[]',0,'','[]')\")\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True)
    assert proc.returncode == -9
    with Ledger(tmp_path) as led:
        assert led.count() == 5
        assert led.get("x", "a") is None
        assert led.get(f"{3:064d}", "a" * 64).seconds == 3.0


def test_flags_limit_and_kit_version_come_back(tmp_path: Path):
    """Does a result keep its flags, the time limit it ran under and the kit version that graded it?"""
    with Ledger(tmp_path) as led:
        led.put(record(flags=["copied readings"], time_limit=300.0, kit="9.9"))
        got = led.get("s" * 64, "a" * 64)
    assert got is not None and (got.flags, got.time_limit, got.kit) == (["copied readings"], 300.0, "9.9")


def test_notes_come_back(tmp_path: Path):
    """Does a result keep the notes of its grading (what a TA may want to know, not a flag)?"""
    with Ledger(tmp_path) as led:
        led.put(record(notes=["the notebook recorded no curves"]))
        got = led.get("s" * 64, "a" * 64)
    assert got is not None and got.notes == ["the notebook recorded no curves"]


def test_an_older_ledger_gets_the_new_columns(tmp_path: Path):
    """A schema-2 ledger (no flags, limit, kit): opened, upgraded, its results read as kit ''."""
    import sqlite3

    db = sqlite3.connect(tmp_path / "ledger.sqlite")
    db.execute("CREATE TABLE results (sub_sha TEXT NOT NULL, ag_sha TEXT NOT NULL, status TEXT NOT NULL, "
               "reason TEXT NOT NULL, seconds REAL NOT NULL, peak_rss INTEGER NOT NULL, questions TEXT "
               "NOT NULL, results_json TEXT NOT NULL, test_accuracy REAL, log_tail TEXT NOT NULL, "
               "finished_at REAL NOT NULL, curves TEXT NOT NULL DEFAULT '{}', PRIMARY KEY (sub_sha, ag_sha))")
    db.execute("INSERT INTO results VALUES ('s','a','timeout','',300,0,'[]','',NULL,'',0,'{}')")
    db.commit()
    db.close()
    with Ledger(tmp_path) as led:
        got = led.get("s", "a")
    assert got is not None and (got.status, got.kit, got.time_limit, got.flags) == ("timeout", "", 0.0, [])


def test_the_class_keeps_each_students_latest_submission(tmp_path: Path):
    """An older file of a student never replaces the newer one the class has; a newer one does."""
    from autograder.results import ClassEntry

    def entry(sha: str, mtime: float) -> ClassEntry:
        return ClassEntry(student_id="s001", file=f"{sha}.ipynb", sub_sha=sha, ag_key="a", status="graded",
                          mtime=mtime, flags=("x",))

    with Ledger(tmp_path) as led:
        assert led.remember(entry("new", 200.0)) is None
        kept = led.remember(entry("old", 100.0))
        assert kept is not None and kept.sub_sha == "new"
        assert led.remember(entry("newer", 300.0)) is None
        other = ClassEntry(student_id="s002", file="b", sub_sha="b", ag_key="", status="invalid")
        assert led.remember(other) is None
        assert [(e.student_id, e.sub_sha, e.flags) for e in led.entries()] == [
            ("s001", "newer", ("x",)), ("s002", "b", ())]
