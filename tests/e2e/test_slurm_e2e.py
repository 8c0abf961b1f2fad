"""End to end on Slurm: the real solution and the blank template graded by ``grade --cluster slurm
--jobs 2`` on the single-node Slurm (real TensorFlow training, the sandbox inside each worker job),
compared with the shared batch, which the embedded default graded on this machine."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest
from e2e_samples import TIMEOUT
from kit_constants import SLUG, VERSION
from slurm_cluster import grade_on, gradings, ledger, single_node_slurm  # noqa: F401

from autograder.tools import samples
from autograder.tools.slurm import Slurm

pytestmark = pytest.mark.e2e


def test_solution_and_blank_through_two_slurm_jobs(slurm: Slurm, tmp_path, sheet: pd.DataFrame, lms_batch):
    """Do two Slurm worker jobs, one submission each, grade the solution 24/24 and the blank 0, every
    question as the embedded default did for the same notebooks in the shared batch (s002, s006),
    in the grade sheet and in the ledger rows?"""
    folder = tmp_path / "in"
    folder.mkdir()
    pairs = (("c002", "s002", samples.solution(SLUG, VERSION)),
             ("c006", "s006", samples.blank(SLUG, VERSION)))
    for sid, _, nb in pairs:
        (folder / f"{sid}_3-2.ipynb").write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
    out, logs = tmp_path / "out", tmp_path / "logs"
    proc = grade_on(slurm, str(folder), "--out", str(out), "--version", VERSION, "--timeout", str(TIMEOUT),
                    logs=logs, opts=("memory=4GB",))
    text = proc.communicate(timeout=900)[0]
    assert proc.returncode == 0, text
    runs = gradings(logs)
    assert sorted(len(jobs) for jobs in runs.values()) == [1, 1], runs
    assert len({jobs[0] for jobs in runs.values()}) == 2, runs  # one on each job

    got = pd.read_csv(out / "grades.csv", keep_default_na=False, dtype={"student_id": str})
    got = got.iloc[1:].set_index("student_id")
    want = sheet.iloc[1:].set_index("student_id")
    questions = [c for c in sheet.columns if c.startswith("q")]
    assert float(got.loc["c002", "total_points_earned"]) == 24
    assert float(got.loc["c006", "total_points_earned"]) == 0
    for mine, theirs, _ in pairs:
        assert got.loc[mine, "status"] == "graded"
        for q in questions:
            assert float(got.loc[mine, q]) == float(want.loc[theirs, q]), (mine, q)

    # the ledger rows: the same submissions were in the shared batch (same bytes). Its class secret
    # gives its students their own seeds and autograder key, so only what the seed cannot change is
    # compared: the status and each question's points and maximum.
    _, batch_out, _ = lms_batch
    with sqlite3.connect(batch_out / "ledger.sqlite") as db:
        shared = {row[0]: row[1:] for row in db.execute("SELECT sub_sha, status, questions FROM results")}
    mine = {row[0]: (row[2], row[4]) for row in ledger(out)}
    assert len(mine) == 2 and set(mine) <= set(shared), (list(mine), list(shared))

    def points(row):
        return row[0], [tuple(q[:3]) for q in json.loads(row[1])]

    for sub, row in mine.items():
        assert points(row) == points(shared[sub])
