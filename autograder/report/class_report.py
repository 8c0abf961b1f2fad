"""The class report: one self-contained HTML file (plots inlined as base64 PNG) for the TA.

Status counts, score histogram, per-question pass rates, the test accuracy each notebook
printed in its grading run, the slowest submissions, and the submissions that need a look
(not graded, identical files from different students, superseded duplicates).
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import dataclass

from autograder.report.style import CSS, STATUS_TEXT
from autograder.results import Status

PENDING = Status.PENDING
e = html.escape


def _png_b64(fig) -> str:
    import base64
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _figure(width: float = 6.0, height: float = 3.2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    try:
        import matplotlib_fontja  # noqa: F401  (Japanese labels)
    except ImportError:
        pass
    return plt.subplots(figsize=(width, height))


@dataclass(frozen=True)
class _Class:
    """What every section of the report reads: the batch, its graded rows, the points possible."""

    batch: object
    info: object
    graded: list
    possible: float
    missing: list[tuple[str, str]]

    @property
    def outs(self) -> list:
        return self.batch.outcomes


def class_report_html(batch, info, missing: list[tuple[str, str]] | None = None) -> str:
    """Status counts, score histogram, per-question pass rates, test accuracy, slowest runs."""
    graded = [o for o in batch.outcomes if o.record and o.record.status == Status.GRADED]
    possible = sum(info.points) or (graded[0].record.possible if graded else 0.0)
    c = _Class(batch, info, graded, possible, missing or [])
    parts = [f"<!doctype html><html lang='ja'><head><meta charset='utf-8'><title>クラスの採点レポート / "
             f"class report</title><style>{CSS}</style></head><body>"]
    for section in SECTIONS:
        parts += section(c)
    parts.append("</body></html>")
    return "\n".join(parts)


def _status_of(o) -> str:
    return o.record.status if o.record else PENDING


def _summary(c: _Class) -> list[str]:
    parts = [f"<h1>クラスの採点レポート / Class report: {e(c.info.assignment_name)}</h1>",
             f"<p>{len(c.outs)} 人 / students · 採点済み / graded {len(c.graded)} · "
             f"今回採点 / graded in this run {c.batch.graded_now} · 記録から / from the ledger "
             f"{c.batch.reused} · 満点 / points possible {c.possible:g}</p>",
             "<p class='muted'>このフォルダで採点したクラス全員（各学生の最新の提出） / the whole class "
             "graded in this folder (each student's latest submission).</p>"]
    if c.batch.interrupted:
        parts.append("<p class='ng'>中断されました。同じコマンドをもう一度実行すると続きを採点します / "
                     "the batch was interrupted: run the same command again to finish it.</p>")
    return parts


def _flagged(c: _Class) -> list[str]:
    """First: what the TA must look at."""
    flagged = [o for o in c.outs if o.all_flags]
    if not flagged:
        return []
    parts = ["<h2>要確認 / Flagged rows (the score stands; look at these first)</h2><table><tr>"
             "<th>ID</th><th>状態 / status</th><th>得点 / points</th><th>フラグ / flags</th></tr>"]
    for o in flagged:
        pts = f"{o.record.total:g}" if o.record else ""
        parts.append(f"<tr><td>{e(o.submission.student_id)}</td><td>{e(_status_of(o))}</td><td>{pts}</td><td>"
                     + "<br>".join(e(f) for f in dict.fromkeys(o.all_flags)) + "</td></tr>")
    parts.append("</table>")
    return parts


def _statuses(c: _Class) -> list[str]:
    statuses = Counter(_status_of(o) for o in c.outs)
    parts = ["<h2>状態 / Status</h2><table><tr><th>状態 / status</th><th>人数 / count</th></tr>"]
    for st, n in statuses.most_common():
        ja, en = STATUS_TEXT.get(st, (st, st))
        parts.append(f"<tr><td>{e(st)} — {e(ja)} / {e(en)}</td><td>{n}</td></tr>")
    parts.append("</table>")
    fig, ax = _figure(6, 2.6)
    names = list(statuses)
    bars = ax.barh(names, [statuses[s] for s in names], color="#4a78b5")
    ax.bar_label(bars, padding=3)
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.set_xlabel("人数 / students")
    ax.invert_yaxis()
    parts.append(f"<p><img alt='status counts' src='{_png_b64(fig)}'></p>")
    versions = Counter(o.version for o in c.outs if o.version)
    if versions:
        parts.append("<p>版 / versions: " + ", ".join(
            f"{e(v)} × {n}" for v, n in sorted(versions.items())) + "</p>")
    return parts


def _scores(c: _Class) -> list[str]:
    parts = ["<h2>得点の分布 / Score histogram (graded)</h2>"]
    if not (c.graded and c.possible):
        return parts + ["<p class='muted'>採点済みの提出がありません / no graded submission.</p>"]
    fig, ax = _figure()
    ax.hist([100 * o.record.total / c.possible for o in c.graded], bins=range(0, 105, 5),
            color="#4a78b5", edgecolor="white")
    ax.set_xlabel("得点率 / score (%)")
    ax.set_ylabel("人数 / students")
    ax.yaxis.get_major_locator().set_params(integer=True)
    return parts + [f"<p><img alt='score histogram' src='{_png_b64(fig)}'></p>"]


def _pass_rates(c: _Class) -> list[str]:
    parts = ["<h2>問題ごとの正答率 / Pass rate per question (graded)</h2>"]
    if not c.graded:
        return parts
    qs = list(c.info.questions) or [q.name for q in c.graded[0].record.questions]
    rates = []
    for q in qs:
        res = [r for o in c.graded for r in o.record.questions if r.name == q]
        rates.append(100 * sum(r.passed for r in res) / len(res) if res else 0.0)
    fig, ax = _figure(6, 0.3 * len(qs) + 1)
    bars = ax.barh(qs, rates, color="#5a9e6f")
    ax.bar_label(bars, labels=[f"{r:.0f}%" for r in rates], padding=3)
    ax.set_xlim(0, 110)
    ax.set_xlabel("満点の割合 / full marks (%)")
    ax.invert_yaxis()
    return parts + [f"<p><img alt='pass rates' src='{_png_b64(fig)}'></p>"]


def _test_accuracy(c: _Class) -> list[str]:
    parts = ["<h2>テストデータでの精度 / Test accuracy (measured by the kit on the test set)</h2>"]
    accs = [o.record.test_accuracy for o in c.graded if o.record.test_accuracy is not None]
    if not accs:
        return parts + ["<p class='muted'>テストデータでの精度を出力した提出がありません / no graded "
                        "notebook printed “Test accuracy: …”.</p>"]
    fig, ax = _figure()
    lo, hi = min(accs) - 0.01, min(1.0, max(accs) + 0.01)
    ax.hist(accs, bins=20, range=(lo, hi), color="#c77c2e", edgecolor="white")
    ax.set_xlabel("test_acc")
    ax.set_ylabel("人数 / students")
    ax.yaxis.get_major_locator().set_params(integer=True)
    return parts + [f"<p>{len(accs)} 人 / students · 中央値 / median {sorted(accs)[len(accs) // 2]:.4f}"
                    f" · 最小 / min {min(accs):.4f} · 最大 / max {max(accs):.4f}</p>"
                    f"<p><img alt='test accuracy' src='{_png_b64(fig)}'></p>"]


def _slowest(c: _Class) -> list[str]:
    parts = ["<h2>時間のかかった提出 / Slowest submissions</h2><table><tr><th>ID</th><th>状態 / "
             "status</th><th>秒 / seconds</th><th>最大メモリ / peak memory</th></tr>"]
    timed = sorted((o for o in c.outs if o.record and o.record.seconds), key=lambda o: -o.record.seconds)
    for o in timed[:10]:
        mem = f"{o.record.peak_rss / 2**30:.2f} GiB" if o.record.peak_rss else ""
        parts.append(f"<tr><td>{e(o.submission.student_id)}</td><td>{e(o.record.status)}</td>"
                     f"<td>{o.record.seconds:.0f}</td><td>{mem}</td></tr>")
    return parts + ["</table>"]


def _not_graded(c: _Class) -> list[str]:
    problems = [o for o in c.outs if not o.record or o.record.status != Status.GRADED]
    if not problems:
        return []
    parts = ["<h2>採点できなかった提出 / Not graded</h2><table><tr><th>ID</th><th>ファイル / file"
             "</th><th>状態 / status</th><th>理由 / reason</th></tr>"]
    for o in problems:
        reason = o.record.reason if o.record else ""
        parts.append(f"<tr><td>{e(o.submission.student_id)}</td><td><code>{e(o.submission.key)}</code>"
                     f"</td><td>{e(_status_of(o))}</td><td>{e(reason)}</td></tr>")
    return parts + ["</table>"]


def _twins(c: _Class) -> list[str]:
    same: dict[str, list[str]] = {}
    for o in c.outs:
        if o.submission.sha256:
            same.setdefault(o.submission.sha256, []).append(o.submission.student_id)
    twins = [ids for ids in same.values() if len(ids) > 1]
    if not twins:
        return []
    return (["<h2>同一のファイル / Identical files from different students</h2><ul>"]
            + [f"<li>{e(', '.join(ids))}</li>" for ids in twins] + ["</ul>"])


def _adjusted(c: _Class) -> list[str]:
    rows = [(o.submission.student_id, a) for o in c.outs for a in getattr(o, "adjustments", ())]
    if not rows:
        return []
    return (["<h2>TA による調整 / Adjusted by the TA</h2><p class='muted'>fmnist-kit adjust: grades.csv, the "
             "feedback and the exports include them</p><table><tr><th>ID</th><th>問題 / question</th>"
             "<th>得点 / points</th><th>理由 / reason</th></tr>"]
            + [f"<tr><td>{e(sid)}</td><td>{e(a.question or 'total')}</td><td>{a.points:g}</td>"
               f"<td>{e(a.reason)}</td></tr>" for sid, a in rows] + ["</table>"])


def _superseded(c: _Class) -> list[str]:
    if not c.batch.intake.superseded:
        return []
    parts = ["<h2>重複提出（古い方） / Superseded submissions</h2><p class='muted'>同じ学生の"
             "提出が複数あるときは最新のものを採点します / the latest submission of a student "
             "counts.</p><table><tr><th>ID</th><th>使わなかった / set aside</th>"
             "<th>採点した / graded instead</th></tr>"]
    for old, new in c.batch.intake.superseded:
        parts.append(f"<tr><td>{e(old.student_id)}</td><td><code>{e(old.key)}</code></td>"
                     f"<td><code>{e(new.key)}</code></td></tr>")
    return parts + ["</table>"]


def _late(c: _Class) -> list[str]:
    """The LMS's own mark (Canvas's LATE): the score stands, the late policy is the TA's."""
    from autograder.grading.intake.identity import late_in

    late = [o for o in c.outs if o.submission.late or late_in(o.submission.key)]
    if not late:
        return []
    return (["<h2>期限後の提出 / Late (as the LMS marked them; grades.csv column late)</h2><ul>"]
            + [f"<li>{e(o.submission.student_id)} {e(o.submission.name)} <code>{e(o.submission.key)}"
               "</code></li>" for o in late] + ["</ul>"])


def _missing(c: _Class) -> list[str]:
    if not c.missing:
        return []
    return (["<h2>未提出 / Handed nothing in (on the roster)</h2><ul>"]
            + [f"<li>{e(sid)} {e(name)}</li>" for sid, name in c.missing] + ["</ul>"])


def _unmatched(c: _Class) -> list[str]:
    if not c.batch.intake.unmatched:
        return []
    return (["<h2>名簿にない提出 / Not on the roster (this run)</h2><table><tr><th>ID</th>"
             "<th>ファイル / file</th><th>理由 / why</th></tr>"]
            + [f"<tr><td>{e(s.student_id)}</td><td><code>{e(s.key)}</code></td><td>{e(why)}</td></tr>"
               for s, why in c.batch.intake.unmatched] + ["</table>"])


#: The report's sections, in order; each returns its HTML lines (none when it has nothing to say).
SECTIONS = (_summary, _flagged, _statuses, _scores, _pass_rates, _test_accuracy, _slowest, _not_graded,
            _adjusted, _twins, _superseded, _late, _missing, _unmatched)
