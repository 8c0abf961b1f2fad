"""The batch engine's collection of results (``batch.engine._collect``), with stand-in futures: a
task that comes back without a record was stopped on its worker, not by this coordinator, and its
job is submitted again under a new key; nothing is lost or recorded twice."""

from __future__ import annotations

import io
from pathlib import Path

from autograder.grading.batch import engine
from autograder.grading.batch.ledger import Ledger
from autograder.grading.batch.progress import Progress
from autograder.grading.intake.inputs import Intake, Submission
from autograder.results import QuestionResult, Record, Status


class _Future:
    def __init__(self, key: str, result: Record | None) -> None:
        self.key, self._result = key, result

    def done(self) -> bool:
        return True

    def result(self) -> Record | None:
        return self._result


class _Session:
    def check_workers(self) -> list[str]:
        return []

    def running(self) -> set[str]:
        return set()

    def graders(self) -> int:
        return 1


def _record(sub: Submission) -> Record:
    return Record(sub_sha=sub.sha256, ag_sha="ag", status=Status.GRADED,
                  questions=[QuestionResult(name="q1", score=1, possible=1)])


def _class(tmp_path: Path, n: int) -> tuple[Intake, dict[str, list[int]]]:
    subs = [Submission(key=f"s{i}.ipynb", id_path=f"s{i}", student_id=f"s{i}", path=tmp_path / f"s{i}",
                       sha256=f"{i:064d}", mtime=0.0, is_notebook=True) for i in range(n)]
    return Intake(chosen=subs), {f"job{i}": [i] for i in range(n)}


def test_a_task_stopped_on_its_worker_is_submitted_again_and_recorded_once(tmp_path: Path):
    intake, todo = _class(tmp_path, 3)
    stopped_first = {"job1"}  # job1's first task comes back without a record
    submitted: list[tuple[str, int]] = []

    def submit(job: str, again: int = 0):
        submitted.append((job, again))
        sub = intake.chosen[todo[job][0]]
        empty = job in stopped_first and again == 0
        return _Future(f"{job}-{again}", None if empty else _record(sub))

    pending = {submit(job): job for job in todo}
    ledger, outcomes = Ledger(tmp_path / "out"), {}
    stream = io.StringIO()
    engine._collect(pending, submit, _Session(), intake, todo, {j: None for j in todo}, ledger, outcomes,
                    Progress(3, 3, 1, stream))
    assert submitted == [("job0", 0), ("job1", 0), ("job2", 0), ("job1", 1)]
    assert sorted(outcomes) == [0, 1, 2] and all(o.record.status == Status.GRADED for o in outcomes.values())
    assert all(ledger.get(s.sha256, "ag") is not None for s in intake.chosen)
    assert "s1.ipynb: its grading was stopped on its worker" in stream.getvalue()


def test_a_job_stopped_every_time_ends_without_a_record_after_the_resubmits(tmp_path: Path):
    intake, todo = _class(tmp_path, 1)
    submitted: list[int] = []

    def submit(job: str, again: int = 0):
        submitted.append(again)
        return _Future(f"{job}-{again}", None)

    pending = {submit("job0"): "job0"}
    outcomes: dict = {}
    engine._collect(pending, submit, _Session(), intake, todo, {"job0": None}, Ledger(tmp_path / "out"),
                    outcomes, Progress(1, 1, 1, io.StringIO()))
    assert submitted == list(range(engine.RESUBMITS + 1)) and outcomes == {}


def test_task_keys_differ_only_when_submitted_again():
    from autograder.grading.cluster.task import TaskSpec

    spec = TaskSpec(job="j", sub_sha="s", ag_key="a", ag_sha256="z", name="n", timeout=60.0,
                    memory_limit=None, sandboxed=True, seed=None, keep_work=False, run_id="r1")
    other_run = TaskSpec(**{**spec.__dict__, "run_id": "r2"})
    assert engine.task_key(spec, "res") == engine.task_key(other_run, "res")  # a resumed run joins
    keys = {engine.task_key(spec, "res", again) for again in range(3)}
    assert len(keys) == 3


def test_the_same_file_from_two_students_flags_both_rows_naming_each_other():
    """Byte-identical notebooks that earned points, handed in by two students: both rows flagged,
    each naming the other; a third student's own file and two untouched handouts (0 points) not."""
    from autograder.grading.batch.copies import flag_copies

    def outcome(sid: str, sha: str, points: float) -> engine.Outcome:
        sub = Submission(f"{sid}.ipynb", "", sid, Path(), sha, 0.0, True)
        rec = Record(sub_sha=sha, ag_sha="ag", status=Status.GRADED,
                     questions=[QuestionResult(name="q1", score=points, possible=24.0)])
        return engine.Outcome(sub, rec)

    rows = [outcome("s1", "a" * 64, 20), outcome("s2", "a" * 64, 20), outcome("s3", "b" * 64, 20),
            outcome("s4", "c" * 64, 0), outcome("s5", "c" * 64, 0)]
    flag_copies(rows)
    flags = {o.submission.student_id: o.flags for o in rows}
    assert len(flags["s1"]) == 1 and "as s2 handed in" in flags["s1"][0]
    assert len(flags["s2"]) == 1 and "as s1 handed in" in flags["s2"][0]
    assert flags["s3"] == flags["s4"] == flags["s5"] == ()
