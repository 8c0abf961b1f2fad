"""What the kernel's side wrote is not needed to grade (``run_one.kernel_stage``, ``read_result``):
otter's ``results.json`` is read with caps, and only to compare the public checks; when it cannot
be read, or otter's process ended badly after the notebook exported its values, the clean check
grades with a note (issue 33, hardening). No kernel runs here: the stages are stand-ins."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from autograder.grading.execution import pipeline, run_one
from autograder.grading.execution.run_one import MAX_KERNEL_RESULTS_BYTES
from autograder.grading.execution.supervise import StageResult
from autograder.grading.verify import kernel_export
from autograder.results import Status

CLEAN = {"tests": [
    {"name": "q1", "score": 2.0, "max_score": 2.0, "output": "q1 passed", "public_passed": True},
    {"name": "q2", "score": 0.0, "max_score": 1.0, "output": "q2 failed", "public_passed": False},
], "problems": [], "notes": []}
KERNEL = {"tests": [{"name": "q1 - 1", "score": 2, "max_score": 2, "output": "passed"},
                    {"name": "q2 - 1", "score": 1, "max_score": 1, "output": "passed"}]}


def grading(tmp_path: Path, kernel: str | bytes | None) -> run_one._Grading:
    """A grading whose clean check is done (``CLEAN``) and whose kernel wrote ``kernel``."""
    workdir = tmp_path / "w"
    for sub in ("results", "submission"):
        (workdir / sub).mkdir(parents=True)
    g = run_one._Grading(workdir, {}, 60.0, None, None, False, time.monotonic())
    g.private.mkdir()
    pipeline.clean_output(g.private).mkdir()
    (pipeline.clean_output(g.private) / "clean.json").write_text(json.dumps(CLEAN), encoding="utf-8")
    if kernel is not None:
        raw = kernel.encode() if isinstance(kernel, str) else kernel
        (workdir / "results" / "results.json").write_bytes(raw)
    return g


def test_readable_kernel_results_still_flag_a_disagreement(tmp_path: Path):
    """Does a public check that passed in the kernel and fails in the clean check still flag?"""
    rec = run_one.read_result(grading(tmp_path, json.dumps(KERNEL)))
    assert rec.status == Status.GRADED and rec.total == 2.0
    assert rec.flags == ["q2: passed in the student's kernel but fails the clean check "
                         "(the clean check counts)"]


@pytest.mark.parametrize("kernel, why", [
    ("[" * 100_000 + "]" * 100_000, "nested 100000 levels deep"),  # was RecursionError: an internal error
    (json.dumps({**KERNEL, "pad": "x" * MAX_KERNEL_RESULTS_BYTES}), "larger than 4 MiB"),
    ("[1, 2]", "has no attribute"),
    (None, "No such file"),
])
def test_unreadable_kernel_results_grade_from_the_clean_check_with_a_note(tmp_path: Path, kernel, why):
    """Is a ``results.json`` nested too deep, over the cap, malformed or missing a note, the
    grade the clean check's, never an error or an exception?"""
    rec = run_one.read_result(grading(tmp_path, kernel))
    assert rec.status == Status.GRADED and rec.total == 2.0 and rec.flags == []
    assert len(rec.notes) == 1 and why in rec.notes[0] and "graded from the clean check alone" in rec.notes[0]


def _stage(returncode: int):
    return lambda *a, **k: StageResult(returncode=returncode, killed="", peak_rss=0, output_truncated=False)


def test_otter_stopping_after_the_export_grades_the_exported_values(tmp_path: Path, monkeypatch):
    """When otter's own process stops (e.g. a pickle the notebook planted for it raised) after
    the export cell ran, does the grading go on to the clean check with a note, instead of an
    error? Without the exported values it is still the error it was."""
    g = grading(tmp_path, None)
    (g.private / "grading.log").write_text("TypeError: Results deserialized from grading notebook were "
                                           "not a GradingResults instance\n", encoding="utf-8")
    monkeypatch.setattr(run_one, "run_stage", _stage(1))
    rec = run_one.kernel_stage(g)
    assert rec is not None and rec.status == Status.ERROR and rec.reason.startswith("the grader stopped")
    g = grading(tmp_path / "exported", None)
    (g.workdir / "submission" / kernel_export.ARTIFACTS).mkdir()
    (g.workdir / "submission" / kernel_export.ARTIFACTS / kernel_export.ENV_FILE).write_text("{}")
    assert run_one.kernel_stage(g) is None
    rec = run_one.read_result(g)
    assert rec.status == Status.GRADED and rec.total == 2.0 and len(rec.notes) == 1
    assert "otter's run in the sandbox ended abnormally (exit 1" in rec.notes[0]


def test_a_figure_the_notebook_made_unreadable_is_left_out(tmp_path: Path):
    """Is a figure the grader cannot read (a folder in its place, here) left out, not an exception?"""
    g = grading(tmp_path, json.dumps(KERNEL))
    (g.workdir / "submission" / run_one.FIGURES[0]).write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 10)
    (g.workdir / "submission" / run_one.FIGURES[1]).mkdir()
    assert list(run_one.figures_of(g.workdir)) == [run_one.FIGURES[0]]


def test_a_clean_result_built_to_break_the_parser_is_a_recorded_error(tmp_path: Path):
    """Is a ``clean.json`` nested too deeply (the clean check's sandbox wrote it) a recorded
    ``error`` saying so, not a RecursionError (an unrecorded internal error)?"""
    g = grading(tmp_path, json.dumps(KERNEL))
    (pipeline.clean_output(g.private) / "clean.json").write_text("[" * 100_000 + "]" * 100_000)
    rec = run_one.read_result(g)
    assert rec.status == Status.ERROR and "the clean check's result is unreadable" in rec.reason
    assert "nested 100000 levels deep" in rec.reason
