"""End to end on a Dask cluster: the real solution and the blank template graded through a
``dask scheduler`` and two ``autograder worker`` processes on 127.0.0.1 (real TensorFlow training,
the sandbox on each worker), compared question by question with the shared batch, which the
embedded default graded."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from e2e_samples import TIMEOUT
from kit_constants import SLUG, VERSION
from loopback import Loopback, grade_cli

from autograder.tools import samples

pytestmark = pytest.mark.e2e


def test_solution_and_blank_through_two_loopback_workers(tmp_path, sheet: pd.DataFrame):
    """Do two loopback workers grade the solution 24/24 and the blank 0, each question scored exactly
    as the embedded default scored the same notebooks in the shared batch (s002, s006)?"""
    folder = tmp_path / "in"
    folder.mkdir()
    for sid, nb in (("c002", samples.solution(SLUG, VERSION)), ("c006", samples.blank(SLUG, VERSION))):
        (folder / f"{sid}_3-2.ipynb").write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
    loop = Loopback(tmp_path, tmp_path / "scheduler.json").start()
    try:
        proc = grade_cli(str(folder), "--out", str(tmp_path / "out"), "--version", VERSION,
                         "--timeout", str(TIMEOUT), "--scheduler", str(loop.scheduler_file))
        text = proc.communicate(timeout=900)[0]
        assert proc.returncode == 0, text
        runs = loop.gradings()
    finally:
        loop.close()
    assert sorted(len(names) for names in runs.values()) == [1, 1]
    assert len({names[0] for names in runs.values()}) == 2  # one on each worker
    got = pd.read_csv(tmp_path / "out" / "grades.csv", keep_default_na=False, dtype={"student_id": str})
    got = got.iloc[1:].set_index("student_id")
    want = sheet.iloc[1:].set_index("student_id")
    questions = [c for c in sheet.columns if c.startswith("q")]
    assert float(got.loc["c002", "total_points_earned"]) == 24
    assert float(got.loc["c006", "total_points_earned"]) == 0
    for mine, theirs in (("c002", "s002"), ("c006", "s006")):
        assert got.loc[mine, "status"] == "graded"
        for q in questions:
            assert float(got.loc[mine, q]) == float(want.loc[theirs, q]), (mine, q)
