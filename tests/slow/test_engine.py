"""The batch engine on a tiny otter assignment (seconds per grading, real otter, real kernels).

``tests/scenarios/tiny`` is a two-question autograder (``x == 1`` for 2 points, ``word ==
"overfitting"`` for 1), so timeouts, the memory limit, process-tree kills, Ctrl-C, ``kill -9``
and re-runs can be tested without TensorFlow.
"""

from __future__ import annotations

import io
import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from loopback import grade_cli
from tiny import notebook

from autograder.errors import GradingError
from autograder.grading.batch import engine
from autograder.grading.batch.ledger import folder_lock
from autograder.grading.execution import supervise
from autograder.grading.intake import inputs
from autograder.grading.intake.autograder_zip import autograder_info
from autograder.report import outputs

ROOT = Path(__file__).resolve().parents[2]


GOOD = notebook("x = 1\nword = 'overfitting'\nprint('Test accuracy: 0.8765')\n"
                "open('curves_part2_networks.png', 'wb').write(b'\\x89PNG\\r\\n\\x1a\\n' + b'0' * 16)")
HALF = notebook("x = 1\nword = 'underfitting'")
SPAWNS_AND_HANGS = notebook("import subprocess, time\nchild = subprocess.Popen(['sleep', '1000'])\n"
                            "open('child.pid', 'w').write(str(child.pid))\nwhile True:\n    time.sleep(0.1)")
MEMORY_HOG = notebook("import time\nblob = b'x' * (1536 * 2**20)\ntime.sleep(60)")
OTHER_ASSIGNMENT = notebook("x = 1", assignment="5-1-regression")
CRASHES = notebook("import os\nos._exit(3)  # the kernel dies")


def slow(i: int, seconds: float = 1.5) -> str:
    return notebook(f"import time\ntime.sleep({seconds})\nx = 1\nword = 'overfitting' if {i} % 2 else 'no'")


def write_class(folder: Path, files: dict[str, str | bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def batch(folder: Path, out: Path, ag: Path, **kw) -> engine.BatchResult:
    intake = inputs.collect([folder], out / "staging", exclude=out)
    cfg = engine.BatchConfig(autograder_info(ag), out, **{"workers": 2, "timeout": 60, **kw})
    return engine.run_batch(intake, cfg, stream=io.StringIO())


def marked(out: Path) -> list[psutil.Process]:
    return supervise.marked_processes(str((out / "work").resolve()))


def csv_without_timing(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns=["seconds"])


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory, tiny_zip: Path):
    tmp = tmp_path_factory.mktemp("mixed")
    folder = write_class(tmp / "in", {
        "good.ipynb": GOOD, "half.ipynb": HALF, "hangs.ipynb": SPAWNS_AND_HANGS,
        "hog.ipynb": MEMORY_HOG, "other.ipynb": OTHER_ASSIGNMENT, "corrupt.ipynb": GOOD[:40],
        "notes.txt": "not a notebook", "crash.ipynb": CRASHES,
    })
    t0 = time.monotonic()
    res = batch(folder, tmp / "out", tiny_zip, timeout=15, memory_limit=1024 * 2**20)
    return res, tmp, time.monotonic() - t0


def by_id(res: engine.BatchResult) -> dict[str, engine.Outcome]:
    return {o.submission.student_id: o for o in res.outcomes}


def test_mixed_batch_statuses_and_points(mixed):
    """Does each kind of submission get its status, points and a reason, without stopping the batch?"""
    res, _, _ = mixed
    got = {sid: (o.record.status, o.record.total) for sid, o in by_id(res).items()}
    assert got == {"good": ("graded", 3.0), "half": ("graded", 2.0), "hangs": ("timeout", 0.0),
                   "hog": ("error", 0.0), "other": ("wrong-version", 0.0), "corrupt": ("invalid", 0.0),
                   "notes": ("invalid", 0.0), "crash": ("error", 0.0)}
    reasons = {sid: o.record.reason for sid, o in by_id(res).items()}
    assert "15 s" in reasons["hangs"]
    assert reasons["hog"].startswith("memory:") and "1.0 GiB" in reasons["hog"]
    assert "5-1-regression" in reasons["other"]
    assert "(cut off)" in reasons["corrupt"]  # the first 40 bytes of a notebook
    assert "notes.txt is a .txt file" in reasons["notes"]
    assert reasons["crash"].startswith("the grader stopped")


def test_timeout_kills_the_whole_tree(mixed):
    """Are the hanging kernel and the child it spawned gone after the timeout (no stray process)?"""
    res, tmp, _ = mixed
    assert marked(tmp / "out") == []
    assert not any(p.info["cmdline"] == ["sleep", "1000"]
                   for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"])


def test_memory_peak_and_figures_and_accuracy_are_recorded(mixed):
    """Does a grading keep its peak memory and its curve PNG, and no accuracy it merely printed?"""
    res, _, _ = mixed
    hog, good = by_id(res)["hog"].record, by_id(res)["good"].record
    assert hog.peak_rss > 1024 * 2**20
    assert list(good.figures) == ["curves_part2_networks.png"]
    # test accuracy is measured by the clean check from an exported model; printing one counts not
    assert good.test_accuracy is None


def test_parallel_workers_overlap(mixed):
    """With 2 workers, did two gradings run at once (both started before either ended)?"""
    res, _, _ = mixed
    # (start, end) of each grading that ran, from what the engine recorded (end: when it finished,
    # start: end minus its duration); prechecked rows ran nothing and are left out
    spans = sorted((r.finished_at - r.seconds, r.finished_at) for r in (o.record for o in res.outcomes)
                   if r is not None and r.seconds > 0)
    assert len(spans) >= 2
    rounding = 0.01  # ``seconds`` is kept to 0.01 s: one after the other could look that much overlapped
    overlapping = [(a, b) for i, a in enumerate(spans) for b in spans[i + 1:]
                   if max(a[0], b[0]) + rounding < min(a[1], b[1])]
    assert overlapping, spans


def test_outputs_grade_sheet_feedback_report(mixed):
    """Do grades.csv (otter's points row first), feedback, results.json and the report get written?"""
    res, tmp, _ = mixed
    out = tmp / "out"
    info = autograder_info(next((tmp.parent).rglob("tiny-autograder.zip")))
    written = outputs.write_all(res, info, out)
    df = pd.read_csv(written.csv, keep_default_na=False)
    assert list(df.columns[:4]) == ["student_id", "file", "q1_value", "q2_text"]
    assert df.iloc[0]["file"] == "points-per-question" and df.iloc[0]["total_points_earned"] == 3
    assert len(df) == 1 + 8
    good = df[df.student_id == "good"].iloc[0]
    assert (good.q1_value, good.q2_text, good.percent_correct) == (2, 1, 1.0)
    assert good.grading_status == "Completed"
    assert json.loads((out / "results" / "good.json").read_text())["tests"]
    html = (out / "feedback" / "half.html").read_text()
    assert "不合格 / not passed" in html and "word が違います" in html
    assert (out / "feedback" / "good" / "curves_part2_networks.png").is_file()
    assert "curves_part2_networks.png" in (out / "feedback" / "good.html").read_text()
    report = written.report.read_text()
    # status counts, score histogram, pass rates (no accuracy plot: the tiny notebooks have no model)
    assert report.count("data:image/png;base64,") >= 3 and "src='http" not in report


def test_second_run_grades_nothing(mixed, tiny_zip: Path):
    """Does running the same batch again take every result from the ledger?"""
    _, tmp, _ = mixed
    again = batch(tmp / "in", tmp / "out", tiny_zip, timeout=15, memory_limit=1024 * 2**20)
    assert again.graded_now == 0 and again.reused == 5  # the 3 others need no grading at all
    assert {o.submission.student_id: o.record.status for o in again.outcomes}["hangs"] == "timeout"


def test_regrade_grades_again(tmp_path: Path, tiny_zip: Path):
    """Does --regrade run a submission the ledger already has?"""
    folder = write_class(tmp_path / "in", {"good.ipynb": GOOD})
    first = batch(folder, tmp_path / "out", tiny_zip)
    again = batch(folder, tmp_path / "out", tiny_zip, regrade=True)
    assert first.graded_now == again.graded_now == 1


def test_one_grader_per_output_folder(tmp_path: Path, tiny_zip: Path):
    """Is a second grader on the same output folder refused while the first holds it?"""
    (tmp_path / "out").mkdir()
    with folder_lock(tmp_path / "out"), pytest.raises(GradingError, match="already writing"):
        batch(write_class(tmp_path / "in", {"good.ipynb": GOOD}), tmp_path / "out", tiny_zip)


def _cli(args: list[str]) -> subprocess.Popen:
    return grade_cli(*args)


def ledger_rows(out: Path) -> int:
    try:
        with sqlite3.connect(out / "ledger.sqlite") as db:
            return db.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.Error:
        return 0


def kill_after(proc: subprocess.Popen, out: Path, rows: int, poll: float = 0.2) -> int:
    """``kill -9`` the grader once the ledger in ``out`` has ``rows`` results; how many it had."""
    deadline = time.monotonic() + 120
    while ledger_rows(out) < rows and time.monotonic() < deadline:
        time.sleep(poll)
    done = ledger_rows(out)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return done


def test_kill_9_mid_batch_then_rerun_gives_the_same_csv(tmp_path: Path, tiny_zip: Path):
    """After kill -9 of the grader mid-batch, does a re-run finish with exactly the CSV of a clean run?"""
    folder = write_class(tmp_path / "in", {f"s{i:02d}_hw.ipynb": slow(i) for i in range(6)})
    common = [str(folder), "--autograder", str(tiny_zip), "--workers", "2"]
    clean = _cli([*common, "--out", str(tmp_path / "clean")])
    assert clean.wait(timeout=300) == 0, clean.stdout.read()

    out = tmp_path / "killed"
    done_at_kill = kill_after(_cli([*common, "--out", str(out)]), out, 2)
    assert 2 <= done_at_kill < 6
    time.sleep(1)  # PR_SET_PDEATHSIG has killed the workers; their kernels may linger briefly
    rerun = _cli([*common, "--out", str(out)])
    text = rerun.communicate(timeout=300)[0]
    assert rerun.returncode == 0, text
    assert f"from the ledger {done_at_kill}" in text
    assert ledger_rows(out) == 6
    pd.testing.assert_frame_equal(csv_without_timing(out / "grades.csv"),
                                  csv_without_timing(tmp_path / "clean" / "grades.csv"))
    assert marked(out) == []


def test_ctrl_c_stops_cleanly_and_writes_what_is_done(tmp_path: Path, tiny_zip: Path):
    """Does Ctrl-C kill the running gradings, save the finished ones, mark the rest pending, exit 130?"""
    folder = write_class(tmp_path / "in", {"good.ipynb": GOOD, "hangs.ipynb": SPAWNS_AND_HANGS})
    out = tmp_path / "out"
    proc = _cli([str(folder), "--autograder", str(tiny_zip), "--out", str(out), "--workers", "2"])
    deadline = time.monotonic() + 120
    while ledger_rows(out) < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    text = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, text
    assert "Traceback" not in text and "run the same command again" in text
    df = pd.read_csv(out / "grades.csv", keep_default_na=False).set_index("student_id")
    assert df.loc["good", "status"] == "graded" and df.loc["hangs", "status"] == "pending"
    assert marked(out) == []


def test_a_relative_output_folder_works(tmp_path: Path, tiny_zip: Path, monkeypatch: pytest.MonkeyPatch):
    """Does `grade --out some-folder` (relative, as `make demo` uses) grade, not fail on paths?"""
    import pandas as pd

    from autograder import cli

    monkeypatch.chdir(tmp_path)
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "good_1.ipynb").write_text(GOOD, encoding="utf-8")
    code = cli.main(["grade", "in", "--out", "rel-out", "--autograder", str(tiny_zip), "--workers", "1"])
    sheet = pd.read_csv(tmp_path / "rel-out" / "grades.csv", keep_default_na=False, dtype={"student_id": str})
    row = sheet.set_index("student_id").loc["good"]
    assert code == 0 and row["status"] == "graded", row["reason"]
