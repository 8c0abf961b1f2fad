"""``bench --class N``: a class graded without the cache of verified trainings and with it, in one command.

The class: N notebooks, mostly the published solution (each copy with its own answer text, so no
two are the same file), one in ten with another size of Bigger (a fit no cache holds: it trains as
without the cache), one in twenty that edits a history after training (flagged either way), and one
in ten blank. A per-student version gets a roster, a course secret and each student's own seed.

(a) **without the cache**: every network trained in the kernel and again by the replay, as before
the cache; (b) **prepared, then graded**: ``warm`` (what ``fmnist-kit prepare`` runs before the
deadline) fills a fresh cache, then the same class is graded with it. CPU is the whole process tree's
(a control group, ``overhead.CpuMeter``), wall is the batch's. Every grade must be the same both ways.
"""

from __future__ import annotations

import io
import json
import re
import secrets
import tempfile
import time
from pathlib import Path

from autograder import data
from autograder.catalog import SLUG, default_version
from autograder.grading.batch import engine, warm
from autograder.grading.execution import run_one, supervise
from autograder.grading.intake import identity, inputs, targets
from autograder.release import variants
from autograder.tools import samples

CLASS_SIZE = 300
DEADLINE_MINUTES = 30


#: The CPU clock of this process's whole tree (``overhead.CpuMeter``: a control group, which also
#: counts what the sandboxes' own inits reap; ``getrusage`` would miss the kernels' training).
_cpu = supervise.cpu_seconds


def make_class(slug: str, version: str, n: int, folder: Path, secret: bytes | None) -> dict[str, str]:
    """Write the class's notebooks into ``folder`` as ``<id>_<kind>.ipynb``; id -> kind."""
    folder.mkdir(parents=True, exist_ok=True)
    kinds = {}
    n_blank, n_other, n_hostile = max(1, n // 10), max(1, n // 10), max(1, n // 20)
    for i in range(n):
        sid = f"s{i + 1:03d}"
        kind = ("blank" if i < n_blank else "other-size" if i < n_blank + n_other
                else "hostile" if i < n_blank + n_other + n_hostile else "solution")
        nb = samples.blank(slug, version) if kind == "blank" else samples.solution(slug, version)
        if kind == "other-size":
            nb = _edit(nb, r"UNITS_BIGGER = (\d+)", lambda m: f"UNITS_BIGGER = {int(m.group(1)) // 2}")
        if kind == "hostile":  # the curves it shows are not the ones it trained
            cells = nb["cells"]
            last = max(i for i, c in enumerate(cells) if "grader.export(" in "".join(c.get("source", "")))
            cells.insert(last, {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                                "source": "hist_bigger['val_loss'] = hist_bigger['val_loss'] * 0.5\n"})
        nb["metadata"]["bench_student"] = sid  # no two files alike: each is graded
        if secret is not None:
            nb = variants.personalise(nb, sid, targets.derive_seed(secret, sid, version))
        (folder / f"{sid}_{kind}.ipynb").write_text(json.dumps(nb, ensure_ascii=False), encoding="utf-8")
        kinds[sid] = kind
    return kinds


def _edit(nb: dict, pattern: str, repl) -> dict:
    for cell in nb["cells"]:
        src = "".join(cell.get("source", ""))
        if re.search(pattern, src):
            cell["source"] = re.sub(pattern, repl, src, count=1)
            return nb
    raise ValueError(f"no cell matches {pattern!r}")


def _grade(tmp: Path, name: str, resolver, roster, workers: int, home: Path, **cfg) -> dict:
    out = tmp / name
    intake = inputs.collect([tmp / "in"], out / "staging", roster=roster)
    info = resolver.infos[resolver.default]
    cpu0, t0 = _cpu(), time.monotonic()
    batch = engine.run_batch(intake, engine.BatchConfig(info, out, workers=workers, keras_home=home,
                                                        resolve=resolver, **cfg), stream=io.StringIO())
    rows = {o.submission.student_id: o.record for o in batch.outcomes if o.record}
    return {"wall": time.monotonic() - t0, "cpu": _cpu() - cpu0, "rows": rows}


def bench_class(n: int, version: str | None = None, slug: str = SLUG, workers: int | None = None) -> dict:
    """Grade a class of ``n`` without and with the cache; print and return the figures."""
    from autograder.tools.overhead import CpuMeter

    global _cpu
    with CpuMeter("class") as meter:
        if meter.group is None:
            print("bench --class: no control group here (root and a cgroup file system are needed): the CPU "
                  "figures miss what the sandboxes' inits reap", flush=True)
        _cpu = meter
        return _bench_class(n, version, slug, workers)


def _bench_class(n: int, version: str | None, slug: str, workers: int | None) -> dict:
    version = version or default_version(slug)
    workers = workers or engine.default_workers()
    tmp = Path(tempfile.mkdtemp(prefix="fmnist-class-bench-"))
    home = data.provide_keras_cache()
    run_one.ensure_kernel()
    infos = targets.load_published(slug)
    secret = secrets.token_bytes(32) if infos[version].variants else None
    kinds = make_class(slug, version, n, tmp / "in", secret)
    roster = None
    if secret is not None:
        (tmp / "roster.csv").write_text("student_id,name\n" + "".join(f"{s},Student {s}\n" for s in kinds),
                                        encoding="utf-8")
        roster = identity.read_roster(tmp / "roster.csv")
    resolver = targets.VersionResolver(slug, infos, [version], secret)
    count = {k: sum(v == k for v in kinds.values()) for k in ("solution", "other-size", "hostile", "blank")}
    print(f"bench --class {n}: version {version} ({'per-student seeds' if secret else 'one seed'}), "
          f"{workers} worker(s): {count['solution']} solutions, {count['other-size']} other size, "
          f"{count['hostile']} hostile, {count['blank']} blank; files in {tmp}", flush=True)
    print("  (a) without the cache ...", flush=True)
    off = _grade(tmp, "off", resolver, roster, workers, home, use_trainings=False)
    print(f"      {off['wall']:.0f} s wall, {off['cpu']:.0f} s CPU; (b) prepare (before the deadline) ...",
          flush=True)
    seeds = ([warm.zip_seed(infos[version].path)] if secret is None
             else [targets.derive_seed(secret, s, version) for s in kinds])
    cpu0, t0 = _cpu(), time.monotonic()
    warm.warm(infos[version], slug, seeds, tmp / "cache", tmp / "prepare", keras_home=home,
              log=lambda _: None)
    prep = {"wall": time.monotonic() - t0, "cpu": _cpu() - cpu0}
    print(f"      {prep['wall']:.0f} s wall, {prep['cpu']:.0f} s CPU; (b) graded at the deadline ...",
          flush=True)
    on = _grade(tmp, "on", resolver, roster, workers, home, trainings=tmp / "cache")
    out = _figures(n, kinds, off, prep, on, workers)
    _print(out)
    (tmp / "class_bench.json").write_text(json.dumps(out, indent=1), encoding="utf-8")
    return out


def _figures(n: int, kinds: dict[str, str], off: dict, prep: dict, on: dict, workers: int) -> dict:
    def outcome(rec) -> tuple:
        return (rec.status, [q.score for q in rec.questions], bool(rec.flags)) if rec else ()

    same = {}
    for sid in kinds:
        a, b = outcome(off["rows"].get(sid)), outcome(on["rows"].get(sid))
        same[sid] = bool(a) and a == b
    miss = [sid for sid, k in kinds.items() if k == "other-size"]
    per_sub = on["wall"] / n
    return {
        "n": n, "workers": workers, "kinds": kinds,
        "off_wall": round(off["wall"], 1), "off_cpu": round(off["cpu"], 1),
        "prepare_wall": round(prep["wall"], 1), "prepare_cpu": round(prep["cpu"], 1),
        "on_wall": round(on["wall"], 1), "on_cpu": round(on["cpu"], 1),
        "cpu_ratio": round(on["cpu"] / off["cpu"], 3), "wall_ratio": round(on["wall"] / off["wall"], 3),
        "minutes_for_300": round(per_sub * CLASS_SIZE / 60, 1),
        "minutes_for_300_without": round(off["wall"] / n * CLASS_SIZE / 60, 1),
        "miss_seconds_off": [round(off["rows"][s].seconds, 1) for s in miss if s in off["rows"]],
        "miss_seconds_on": [round(on["rows"][s].seconds, 1) for s in miss if s in on["rows"]],
        "same_grades": all(same.values()), "differing": sorted(s for s, ok in same.items() if not ok),
        "date": time.strftime("%Y-%m-%d"),
    }


def _print(o: dict) -> None:
    print(f"\n  {'':38} {'wall s':>8} {'CPU s':>8}")
    print(f"  {'(a) without the cache':38} {o['off_wall']:8.0f} {o['off_cpu']:8.0f}")
    print(f"  {'(b) prepare, before the deadline':38} {o['prepare_wall']:8.0f} {o['prepare_cpu']:8.0f}")
    print(f"  {'(b) graded at the deadline':38} {o['on_wall']:8.0f} {o['on_cpu']:8.0f}")
    print(f"  at the deadline / without: CPU {o['cpu_ratio']:.2f}x (target <= 0.25x), "
          f"wall {o['wall_ratio']:.2f}x")
    print(f"  a class of {CLASS_SIZE} on this machine at the deadline: {o['minutes_for_300']:.0f} min "
          f"(target <= {DEADLINE_MINUTES}); without the cache: {o['minutes_for_300_without']:.0f} min")
    print(f"  a submission the cache cannot serve (other size of Bigger): {o['miss_seconds_off']} s without, "
          f"{o['miss_seconds_on']} s with the cache (wall, {o['workers']} gradings side by side)")
    same = "yes" if o["same_grades"] else "NO: " + ", ".join(o["differing"])
    print(f"  every grade (status, scores, flagged or not) the same both ways: {same}")

