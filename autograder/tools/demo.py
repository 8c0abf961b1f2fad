"""The built-in demo: a small class of sample submissions, graded like a real batch.

The kit derives the samples from the published notebooks (``samples.py``) and adds the two
kinds of trouble every batch meets: a corrupt file and a notebook that never finishes. The
class is then exported as a TA would (``EXPORT_TARGETS``): the two troubled rows carry no number,
and the export prints them and lists them in ``export/not-exported.csv``.
"""

from __future__ import annotations

import json
from pathlib import Path

from autograder.tools import samples

#: Long enough for the solution on a busy 2-core machine (~120-200 s), short enough that the
#: looping notebook is stopped within a few minutes.
DEMO_TIMEOUT = 240.0
#: The made-up roster's LMS: a Japanese Moodle whose assignment is out of the kit's points (no
#: worksheet to fill in: the worksheet is written in Japanese), a new Canvas column, the plain CSV.
EXPORT_TARGETS = ("moodle", "canvas", "csv")
EXPORT_LANGUAGE = "ja"


def infinite_loop(slug: str) -> dict:
    """The blank template with a cell that never ends, right after otter's setup cell."""
    nb = samples.blank(slug)
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": "# このセルは終わりません / this cell never ends\nwhile True:\n    pass\n"}
    nb["cells"].insert(2, cell)
    return nb


def write_samples(slug: str, dest: Path) -> dict[str, Path]:
    """Write the demo class into ``dest``; return name -> file."""
    out = samples.write(slug, dest, ["solution", "blank", "wrong-readings"])
    loop = dest / "infinite-loop.ipynb"
    loop.write_text(json.dumps(infinite_loop(slug), ensure_ascii=False, indent=1), encoding="utf-8")
    out["infinite-loop"] = loop
    corrupt = dest / "corrupt.ipynb"
    text = json.dumps(samples.blank(slug), ensure_ascii=False, indent=1)
    corrupt.write_text(text[: len(text) // 3], encoding="utf-8")  # cut off mid-file, as uploads are
    out["corrupt"] = corrupt
    return out


def write_roster(path: Path, names: dict[str, Path]) -> Path:
    """A roster for the demo class: made-up names and Moodle participant / Canvas user IDs, so the
    demo's exports have every column an LMS needs."""
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["student_id", "name", "email", "lms_id", "section"])
        for i, sid in enumerate(sorted(names), start=1):
            w.writerow([sid, f"Demo Student {i}", f"{sid}@example.invalid", str(900000 + i), "demo"])
    return path


#: The demo's own record of its runs' grading times (to say what the cache saved).
RUNS_FILE = "demo-runs.json"


def trainings_note(cache: Path) -> str:
    """What the cache of verified trainings holds before the demo grades."""
    from autograder.grading.verify.trainings import TrainingCache

    n = sum(1 for _ in TrainingCache(cache).records()) if cache.is_dir() else 0
    if not n:
        return (f"verified trainings in {cache}: none yet, so this run trains every network (a few "
                "minutes); they are kept there, and the next run is served them instead of training")
    return (f"verified trainings in {cache}: {n} kept from earlier runs; each fit that matches one is "
            "served instead of trained (the grader still checks every curve): seconds, not minutes")


def record_run(out: Path) -> str:
    """Keep the seconds this run's graded notebooks took (the looping one always takes its limit)
    beside the earlier runs'; a line comparing them with the first run's."""
    import json

    from autograder.grading.batch.ledger import Ledger
    from autograder.results import Status

    with Ledger(out) as ledger:
        recs = [ledger.get(e.sub_sha, e.ag_key) for e in ledger.entries() if e.sub_sha and e.ag_key]
    seconds = sum(r.seconds for r in recs if r is not None and r.status == Status.GRADED)
    path = out / RUNS_FILE
    try:
        runs = [float(s) for s in json.loads(path.read_text(encoding="utf-8"))]
    except (OSError, ValueError, TypeError):
        runs = []
    path.write_text(json.dumps([*runs, round(seconds, 1)]), encoding="utf-8")
    if not runs:
        return (f"the graded notebooks took {seconds:.0f} s together; run the demo again to see the "
                "verified trainings served")
    return (f"the graded notebooks took {seconds:.0f} s together this time, {runs[0]:.0f} s the first time "
            f"({runs[0] / max(seconds, 1e-9):.1f}x faster: their trainings came from the cache; the "
            "looping notebook still runs to its time limit)")
