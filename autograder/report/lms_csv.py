"""What every LMS file shares: the record of what an export wrote, the CSV writer, the score text."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

from autograder.results import ClassRow


@dataclass
class Exported:
    files: list[Path]
    #: (student ID, target, why it carries no number there)
    left_out: list[tuple[str, str, str]] = field(default_factory=list)
    not_exported: Path | None = None
    #: What the uploader must know (the upload order, a re-upload Moodle would skip), said first.
    notes: list[str] = field(default_factory=list)


def score_text(row: ClassRow) -> str:
    return f"{round(row.points, 2):g}"


def comment(row: ClassRow, top: float) -> str:
    adjusted = f"; TA による調整 / adjusted by the TA: {row.adjusted}" if row.adjusted else ""
    return (f"{score_text(row)} / {top:g} 点 / points{adjusted} "
            "(詳細はフィードバックファイル / details in the feedback file)")


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    """A CSV for people and importers: UTF-8 with a BOM (Excel), CRLF as Excel and Moodle write."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_text(buf.getvalue(), encoding="utf-8-sig", newline="")
    return path
