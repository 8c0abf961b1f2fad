"""Grade sheets and score tables (pure formatting of ``GradeResult``s)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from autograder.grade import GradeResult


def score_table(res: GradeResult) -> str:
    if not res.questions:
        return f"  status: {res.status}  {res.reason}"
    width = max(len(q.name) for q in res.questions)
    lines = [f"  {q.name:<{width}}  {q.score:g} / {q.possible:g}" for q in res.questions]
    pct = 100 * res.total / res.possible if res.possible else 0.0
    lines.append(f"  {'total':<{width}}  {res.total:g} / {res.possible:g}  ({pct:.0f}%)"
                 f"  [{res.status}, {res.seconds:.0f} s]")
    return "\n".join(lines)


def grades_frame(results: Sequence[GradeResult]) -> pd.DataFrame:
    rows = []
    for r in results:
        row: dict[str, object] = {"file": r.submission}
        for q in r.questions:
            row[q.name] = q.score
        row.update(total=r.total, possible=r.possible,
                   percent=round(100 * r.total / r.possible, 1) if r.possible else 0.0,
                   status=r.status, reason=r.reason, seconds=round(r.seconds, 1))
        rows.append(row)
    return pd.DataFrame(rows)


def write_csv(results: Sequence[GradeResult], path: Path) -> Path:
    grades_frame(results).to_csv(path, index=False)
    return path
