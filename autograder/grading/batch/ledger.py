"""The ledger: every finished grading, written durably the moment it finishes.

SQLite in the output folder (``ledger.sqlite``), WAL journal with ``synchronous=FULL``: a
committed result survives ``kill -9`` of the grader (and a power cut). One row per (submission
content hash, autograder hash), so a re-run skips what is done, an identical file handed in
twice is graded once, and a new autograder release grades everything again. The student's
figures from the grading run are stored in the same transaction as the scores, so outputs can
always be rebuilt from the ledger alone.

The ``students`` table makes the output folder *the class*: for every student ever graded there,
the submission that counts (the latest; see ``ClassEntry.newer_than``) and what it was graded
against, so the grade sheet and the report are rebuilt from the whole class after every run, not
from the files of the last command. Each result keeps the kit version that graded it and its
time limit, so a kit upgrade or a longer ``--timeout`` is not answered with an old result.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import time
from dataclasses import asdict
from pathlib import Path

from autograder.errors import GradingError
from autograder.results import Adjustment, ClassEntry, QuestionResult, Record

FILENAME = "ledger.sqlite"
#: 2: column ``curves``; 3: ``flags``, ``time_limit``, ``kit`` and the ``students`` table; 4: ``notes``
#: (columns are added to an older ledger when it is opened).
SCHEMA_VERSION = 4
_ADDED = {"curves": "TEXT NOT NULL DEFAULT '{}'", "flags": "TEXT NOT NULL DEFAULT '[]'",
          "time_limit": "REAL NOT NULL DEFAULT 0", "kit": "TEXT NOT NULL DEFAULT ''",
          "notes": "TEXT NOT NULL DEFAULT '[]'"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    sub_sha TEXT NOT NULL,
    ag_sha TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    seconds REAL NOT NULL,
    peak_rss INTEGER NOT NULL,
    questions TEXT NOT NULL,
    results_json TEXT NOT NULL,
    test_accuracy REAL,
    log_tail TEXT NOT NULL,
    finished_at REAL NOT NULL,
    curves TEXT NOT NULL DEFAULT '{}',
    flags TEXT NOT NULL DEFAULT '[]',
    time_limit REAL NOT NULL DEFAULT 0,
    kit TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '[]',
    PRIMARY KEY (sub_sha, ag_sha)
);
CREATE TABLE IF NOT EXISTS students (
    student_id TEXT PRIMARY KEY,
    entry TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS adjustments (
    student_id TEXT NOT NULL,
    question TEXT NOT NULL,
    points REAL NOT NULL,
    reason TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (student_id, question)
);
CREATE TABLE IF NOT EXISTS figures (
    sub_sha TEXT NOT NULL,
    ag_sha TEXT NOT NULL,
    name TEXT NOT NULL,
    png BLOB NOT NULL,
    PRIMARY KEY (sub_sha, ag_sha, name)
);
"""


class Ledger:
    """Open with ``Ledger(out_dir)``; use from one thread (the engine's main thread)."""

    def __init__(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        self.path = out_dir / FILENAME
        self.db = sqlite3.connect(self.path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.executescript(_SCHEMA)
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(results)")}
        for name, decl in _ADDED.items():  # a ledger written by an older kit
            if name not in columns:
                self.db.execute(f"ALTER TABLE results ADD COLUMN {name} {decl}")
        self.db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def put(self, rec: Record) -> None:
        """Write one result and its figures in one transaction (replacing an older grading)."""
        questions = json.dumps([[q.name, q.score, q.possible, q.output] for q in rec.questions],
                               ensure_ascii=False)
        with self._transaction():
            self.db.execute("DELETE FROM figures WHERE sub_sha=? AND ag_sha=?", (rec.sub_sha, rec.ag_sha))
            self.db.execute(
                "INSERT OR REPLACE INTO results (sub_sha, ag_sha, status, reason, seconds, peak_rss, "
                "questions, results_json, test_accuracy, log_tail, finished_at, curves, flags, time_limit, "
                "kit, notes) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (rec.sub_sha, rec.ag_sha, rec.status, rec.reason, rec.seconds, rec.peak_rss, questions,
                 rec.results_json, rec.test_accuracy, rec.log_tail, rec.finished_at or time.time(),
                 json.dumps(rec.curves, sort_keys=True), json.dumps(rec.flags, ensure_ascii=False),
                 rec.time_limit, rec.kit, json.dumps(rec.notes, ensure_ascii=False)),
            )
            self.db.executemany("INSERT INTO figures VALUES (?,?,?,?)",
                                [(rec.sub_sha, rec.ag_sha, n, png) for n, png in rec.figures.items()])

    def get(self, sub_sha: str, ag_sha: str) -> Record | None:
        row = self.db.execute(
            "SELECT status, reason, seconds, peak_rss, questions, results_json, test_accuracy, log_tail, "
            "finished_at, curves, flags, time_limit, kit, notes FROM results WHERE sub_sha=? AND ag_sha=?",
            (sub_sha, ag_sha)).fetchone()
        if row is None:
            return None
        (status, reason, seconds, peak, questions, results_json, acc, log_tail, finished, curves, flags,
         limit, kit, notes) = row
        figures = dict(self.db.execute(
            "SELECT name, png FROM figures WHERE sub_sha=? AND ag_sha=? ORDER BY name",
            (sub_sha, ag_sha)).fetchall())
        return Record(sub_sha=sub_sha, ag_sha=ag_sha, status=status, reason=reason, seconds=seconds,
                      questions=[QuestionResult(name=n, score=s, possible=p, output=o)
                                 for n, s, p, o in json.loads(questions)],
                      results_json=results_json, test_accuracy=acc, figures=figures, log_tail=log_tail,
                      peak_rss=peak, finished_at=finished, curves=json.loads(curves or "{}"),
                      flags=json.loads(flags or "[]"), time_limit=limit, kit=kit,
                      notes=json.loads(notes or "[]"))

    def remember(self, entry: ClassEntry) -> ClassEntry | None:
        """Make ``entry`` the student's submission unless the stored one is newer; return that one."""
        with self._transaction():
            stored = self.entry(entry.student_id)
            if stored is not None and stored.sub_sha != entry.sub_sha and not entry.newer_than(stored):
                return stored
            self.db.execute("INSERT OR REPLACE INTO students VALUES (?,?,?)",
                            (entry.student_id, json.dumps(asdict(entry), ensure_ascii=False), time.time()))
        return None

    def entry(self, student_id: str) -> ClassEntry | None:
        row = self.db.execute("SELECT entry FROM students WHERE student_id=?", (student_id,)).fetchone()
        return _entry(row[0]) if row else None

    def entries(self) -> list[ClassEntry]:
        """The class: every student graded in this folder, the submission that counts, by ID."""
        return [_entry(r[0]) for r in self.db.execute("SELECT entry FROM students ORDER BY student_id")]

    def adjust(self, adj: Adjustment) -> None:
        """Keep a TA's adjustment (replacing one of the same student and question)."""
        self.db.execute("INSERT OR REPLACE INTO adjustments VALUES (?,?,?,?,?)",
                        (adj.student_id, adj.question, float(adj.points), adj.reason, adj.at or time.time()))

    def unadjust(self, student_id: str, question: str) -> bool:
        """Remove an adjustment; whether there was one."""
        cur = self.db.execute("DELETE FROM adjustments WHERE student_id=? AND question=?",
                              (student_id, question))
        return cur.rowcount > 0

    def adjustments(self) -> dict[str, tuple[Adjustment, ...]]:
        """Every student's adjustments, by student ID."""
        out: dict[str, list[Adjustment]] = {}
        query = ("SELECT student_id, question, points, reason, at FROM adjustments "
                 "ORDER BY student_id, question")
        for sid, q, pts, why, at in self.db.execute(query):
            out.setdefault(sid, []).append(Adjustment(student_id=sid, question=q, points=pts, reason=why,
                                                      at=at))
        return {k: tuple(v) for k, v in out.items()}

    def count(self, ag_sha: str | None = None) -> int:
        if ag_sha is None:
            return self.db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
        return self.db.execute("SELECT COUNT(*) FROM results WHERE ag_sha=?", (ag_sha,)).fetchone()[0]

    def _transaction(self):
        db = self.db

        class _Tx:
            def __enter__(self) -> None:
                db.execute("BEGIN IMMEDIATE")

            def __exit__(self, exc_type, *_: object) -> None:
                db.execute("ROLLBACK" if exc_type else "COMMIT")

        return _Tx()


def _entry(raw: str) -> ClassEntry:
    data = json.loads(raw)
    data["flags"] = tuple(data.get("flags") or ())
    return ClassEntry(**data)


class folder_lock:
    """One grader per output folder at a time (the lock dies with its process, even on -9)."""

    def __init__(self, out: Path) -> None:
        self.path = out / ".grading.lock"
        self.fd: int | None = None

    def __enter__(self) -> None:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.fd)
            raise GradingError(f"another grader is already writing to {self.path.parent}",
                               hint="wait for it to finish, or use another --out folder") from None

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
