"""The batch's progress display (``grading.progress``): counts and ETA, on a terminal or not."""

from __future__ import annotations

import io

from autograder.grading.batch.progress import Progress
from autograder.results import Record


def test_progress_plain_lines_when_not_a_terminal():
    """Without a terminal, is there one plain line per result with counts and an ETA?"""
    stream = io.StringIO()
    prog = Progress(total=3, to_grade=2, workers=1, stream=stream)
    prog.seen("s001", Record(sub_sha="a", ag_sha="b", status="graded", seconds=10.0), fresh=True)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "grading 2 of 3 submission(s) with 1 worker(s)"
    assert lines[1].startswith("[1/2] s001  graded") and lines[1].endswith("ETA 10s")
    assert "\r" not in stream.getvalue()


def test_progress_redraws_one_line_on_a_terminal():
    """On a terminal, is the progress one redrawn line with the bar, counts and ETA?"""

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    prog = Progress(total=4, to_grade=4, workers=2, stream=stream)
    prog.seen("s001", Record(sub_sha="a", ag_sha="b", status="timeout", seconds=30.0), fresh=True)
    last = stream.getvalue().split("\r")[-1]
    assert "1/4" in last and "timeout 1" in last and "ETA 45s" in last
    assert "\n" not in stream.getvalue()
