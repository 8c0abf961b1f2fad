"""``python -m autograder bench --overhead N``: what a grading costs beyond running the notebook.

Interleaved N times in one command (the order alternates: bare, kit | kit, bare | ...): (a) the
solution notebook executed bare, ``jupyter nbconvert --execute`` in the kit's kernel with the
grading environment, nothing else; (b) the kit grading the same notebook (``run_one.grade_one``:
sandbox, otter, export cell, replay, clean check). For each, CPU seconds (user + system of the whole
process tree, from a cgroup) and wall seconds; then the median ratio kit / bare, each kit run
against the bare runs before and after it interpolated at its moment (``drift_corrected``; the
plain round-by-round ratios are printed too), and the time per stage: for the kit, preparing
the folder, the otter stage (otter's setup and kernel start, the notebook's own cells, the
export cell, from the cell timings of the executed notebook) and the clean check; for the bare
run, the cells and the rest (nbconvert and kernel start).

``--side-by-side``: in each round the bare run and the kit grading start at the same moment, one
per core, each in its own control group. On a shared host whose speed drifts by more than the
overhead within minutes (the same bare run took 48 s and 57 s of CPU an hour apart here), the
ratio of one round then compares the two under the same conditions.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import TextIO

from autograder import data, paths, untrusted
from autograder.catalog import SLUG, default_version
from autograder.grading.execution import pipeline, run_one, supervise
from autograder.grading.execution.otter_plugin import EXECUTED_NOTEBOOK
from autograder.tools import samples


def cell_seconds(nb: dict) -> list[float]:
    """Seconds each code cell ran, from the timing nbclient records (0 where none)."""
    out = []
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        timing = cell.get("metadata", {}).get("execution", {})
        t0, t1 = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if not (t0 and t1):
            out.append(0.0)
            continue
        out.append((datetime.fromisoformat(t1.replace("Z", "+00:00"))
                    - datetime.fromisoformat(t0.replace("Z", "+00:00"))).total_seconds())
    return out


def _is_export_cell(cell: dict) -> bool:
    return "fmnist-kit: export of the values" in "".join(cell.get("source", ""))


class CpuMeter:
    """CPU seconds used by the processes of one control group, dead or alive.

    A cgroup (v1 ``cpuacct`` or v2 ``cpu.stat``) counts every descendant of what runs in it, also
    those a sandbox's own init reaps. By default this process moves into a new group for the
    benchmark; with ``move_self=False`` the group is only created, and commands run in it through
    ``wrap`` (the side-by-side design measures two runs at once, each in its own group). Where
    no group can be created (not root, no cgroup file system), ``getrusage`` of this process and
    its reaped children, which misses what a sandbox's init reaps (``source`` says which).
    """

    V1, V2 = Path("/sys/fs/cgroup/cpuacct"), Path("/sys/fs/cgroup")

    def __init__(self, name: str = "", *, move_self: bool = True) -> None:
        self.name, self.move_self = name, move_self
        self.group: Path | None = None
        self.home: Path | None = None
        self.source = "getrusage"

    def __enter__(self) -> CpuMeter:
        import os

        suffix = f"-{self.name}" if self.name else ""
        for root, usage in ((self.V1, "cpuacct.usage"), (self.V2, "cpu.stat")):
            group = root / f"fmnist-overhead-{os.getpid()}{suffix}"
            try:
                group.mkdir()
                if self.move_self:
                    (group / "cgroup.procs").write_text(str(os.getpid()))
            except OSError:
                if group.is_dir():
                    group.rmdir()
                continue
            if (group / usage).is_file():
                self.group, self.home, self.source = group, root, f"cgroup {group}"
                break
            group.rmdir()
        return self

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` run inside this group: a shell moves itself in, then becomes the command."""
        if self.group is None:
            raise RuntimeError("no control group to run the command in")
        return ["sh", "-c", 'echo $$ > "$1" && shift && exec "$@"', "sh",
                str(self.group / "cgroup.procs"), *argv]

    def __call__(self) -> float:
        if self.group is None:
            return supervise.cpu_seconds()
        if (self.group / "cpuacct.usage").is_file():
            return int((self.group / "cpuacct.usage").read_text()) / 1e9
        stat = dict(line.split() for line in (self.group / "cpu.stat").read_text().splitlines())
        return int(stat["usage_usec"]) / 1e6

    def __exit__(self, *exc: object) -> None:
        import os

        if self.group is None:
            return
        try:
            if self.move_self:
                (self.home / "cgroup.procs").write_text(str(os.getpid()))
            self.group.rmdir()
        except OSError:
            pass


def rounds(ratios: list[float]) -> str:
    """``median 1.019 (rounds: 1.026, 0.992, ...)``: how every ratio of the benchmark is shown."""
    return f"median {statistics.median(ratios):.3f} (rounds: {', '.join(f'{r:.3f}' for r in ratios)})"


def drift_corrected(reference: list[dict], runs: list[dict], key: str = "cpu") -> list[float]:
    """Each run's ``key`` over the reference runs' ``key`` interpolated at its moment.

    In the interleaved design each run is compared with the reference (bare) runs just before and
    after it, linearly interpolated at the middle of the run (``mid``, seconds on one clock);
    a run with reference runs on one side only is compared with the nearest one. A host whose
    speed drifts steadily then cancels out; comparing each run with its round's partner alone
    does not (with the order alternating, the rounds whose bare run came first err one way and
    the others the other way, and with an odd N the median leans to the majority).
    """
    refs = sorted(reference, key=lambda r: r["mid"])
    out = []
    for run in runs:
        before = [r for r in refs if r["mid"] <= run["mid"]]
        after = [r for r in refs if r["mid"] > run["mid"]]
        if before and after:
            a, b = before[-1], after[0]
            w = (run["mid"] - a["mid"]) / (b["mid"] - a["mid"])
            ref = a[key] + w * (b[key] - a[key])
        else:
            ref = (before[-1] if before else after[0])[key]
        out.append(run[key] / ref)
    return out


def bare_notebook(nb: dict) -> dict:
    """``nb`` as the bare runs execute it: what grading runs, the student's cells without the
    hand-in cell (otter skips it too), in the kit's kernel."""
    nb["cells"] = [c for c in nb["cells"] if "grader.export(" not in "".join(c.get("source", ""))]
    nb.setdefault("metadata", {})["kernelspec"] = {"name": paths.KERNEL_NAME,
                                                   "display_name": "kit", "language": "python"}
    return nb


def run_bare(notebook: dict, folder: Path, env: dict[str, str], cpu: CpuMeter,
             wrap: bool = False) -> dict[str, float]:
    """Execute ``notebook`` bare in ``folder``; wall, CPU, and the seconds of its cells.

    ``wrap``: run the command inside ``cpu``'s own control group (the side-by-side design).
    """
    shutil.copytree(paths.student_dir(SLUG, default_version(SLUG)), folder)  # tests, kit_checks.py
    (folder / "nb.ipynb").write_text(json.dumps(notebook, ensure_ascii=False), encoding="utf-8")
    t0, c0 = time.perf_counter(), cpu()
    argv = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
            f"--ExecutePreprocessor.kernel_name={paths.KERNEL_NAME}",
            "--ExecutePreprocessor.timeout=-1", "--allow-errors", "--output", "executed.ipynb",
            "nb.ipynb"]
    proc = subprocess.run(cpu.wrap(argv) if wrap else argv, cwd=folder, env=env, capture_output=True)
    if proc.returncode:
        raise RuntimeError(f"bare execution failed: {proc.stderr.decode(errors='replace')[-1500:]}")
    t1 = time.perf_counter()
    wall, used = t1 - t0, cpu() - c0
    cells = sum(cell_seconds(json.loads((folder / "executed.ipynb").read_text(encoding="utf-8"))))
    return {"wall": wall, "cpu": used, "cells": cells, "startup": wall - cells, "mid": (t0 + t1) / 2}


def run_kit(submission: Path, folder: Path, keras_home: Path, cpu: CpuMeter) -> dict[str, float]:
    """Grade ``submission`` with the kit; wall, CPU, the score and the seconds of each stage."""
    ag_zip = paths.autograder_zip(SLUG, default_version(SLUG))
    stages: dict[str, dict[str, float]] = {}
    t0, c0 = time.perf_counter(), cpu()
    res = run_one.grade_one(submission, ag_zip, folder, timeout=3600, keras_home=keras_home,
                            clock=supervise.StageClock(stages, cpu))
    t1 = time.perf_counter()
    wall, used = t1 - t0, cpu() - c0
    if res.status != "graded":
        raise RuntimeError(f"the kit did not grade the solution: {res.status} {res.reason}")
    out = {"wall": wall, "cpu": used, "score": res.total, "possible": res.possible,
           "peak_rss": res.peak_rss, "mid": (t0 + t1) / 2}
    for name, st in stages.items():
        out[f"{name}_wall"], out[f"{name}_cpu"] = st["wall"], st["cpu"]
    executed = untrusted.read(folder / "results" / EXECUTED_NOTEBOOK, max_bytes=untrusted.MAX_NOTEBOOK_BYTES)
    code = [c for c in executed["cells"] if c.get("cell_type") == "code"]
    secs = cell_seconds(executed)
    out["export_cell"] = sum(s for c, s in zip(code, secs, strict=True) if _is_export_cell(c))
    out["cells"] = sum(secs) - out["export_cell"]
    out["otter_rest"] = out["otter_wall"] - sum(secs)
    out["networks"] = pipeline.read_clean(run_one.private_dir(folder)).get("networks", "?")
    return out


def bench_overhead(n: int, *, stream: TextIO | None = None, keep: bool = False,
                   side_by_side: bool = False, calibrate: bool = False) -> dict:
    """Bare vs kit, interleaved ``n`` times (the order alternates); print and return the figures.

    ``side_by_side``: in each round the two runs start at the same moment, one per core, each in
    its own control group, so both see the same machine at the same time: on a shared host
    whose speed drifts by more than the overhead within minutes, the ratio of one round then
    measures the kit, not the drift (needs cgroups: root). Interleaved, each kit run is compared
    with the bare runs around it (``drift_corrected``); the plain round-by-round ratios are
    printed too. ``calibrate``: first ``n`` rounds of the bare run against itself in the same
    design, its own bias and spread (an A/A test: ratios about 1 with no bias).
    """
    stream = stream if stream is not None else sys.stdout

    def log(text: str) -> None:
        print(text, file=stream, flush=True)

    if side_by_side:
        _require_cgroups()
    run_one.ensure_kernel()
    home = data.provide_keras_cache()
    env = run_one.grading_env(home)
    tmp = Path(tempfile.mkdtemp(prefix="fmnist-overhead-"))
    sub = samples.write(SLUG, tmp / "in", ["solution"])["solution"]
    nb = bare_notebook(json.loads(sub.read_text(encoding="utf-8")))
    design = "side by side (both at once, one per core)" if side_by_side else "interleaved"
    log(f"overhead benchmark: the solution notebook, bare vs graded by the kit, {n} round(s), {design}")
    meter = CpuMeter("kit" if side_by_side else "").__enter__()
    bare_meter = CpuMeter("bare", move_self=False).__enter__() if side_by_side else meter
    aa: list[float] = []
    try:
        log(f"  CPU measured by {meter.source}"
            + (f" (kit) and {bare_meter.source} (bare)" if side_by_side else ""))
        if calibrate:
            aa = (_calibrate(n, nb, tmp, env, bare_meter, log) if side_by_side
                  else _calibrate_interleaved(n, nb, tmp, env, meter, log))
        rounds_of = _side_by_side if side_by_side else _interleaved
        bare, kit = rounds_of(n, nb, sub, tmp, env, home, meter, bare_meter, log)
    finally:
        if side_by_side:
            bare_meter.__exit__()
        meter.__exit__()
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)
    out = _figures(n, design, side_by_side, bare, kit, aa)
    _report(out, log)
    if keep:
        log(f"  files kept in {tmp}")
    return out


def _require_cgroups() -> None:
    with CpuMeter("probe", move_self=False) as probe:
        if probe.group is None:
            from autograder.errors import ConfigError

            raise ConfigError("bench --overhead --side-by-side needs a control group per run, "
                              "and none can be created here",
                              hint="run it as root on a host with a cgroup file system, "
                                   "or without --side-by-side")


def _show(log, i: int, what: str, r: dict) -> None:
    log(f"  round {i + 1} {what:4}: CPU {r['cpu']:6.1f} s  wall {r['wall']:6.1f} s"
        + (f"  score {r['score']:g}/{r['possible']:g}, networks by {r['networks']}; "
           f"CPU otter {r['otter_cpu']:.1f}, replay {r['replay_cpu']:.1f}, clean {r['clean_check_cpu']:.1f} s"
           if what == "kit" else ""))


def _side_by_side(n, nb, sub, tmp, env, home, meter, bare_meter, log) -> tuple[list[dict], list[dict]]:
    """Each round: the bare run and the kit grading at the same moment, one per core."""
    from concurrent.futures import ThreadPoolExecutor

    bare, kit = [], []
    for i in range(n):
        with ThreadPoolExecutor(2) as pool:
            fb = pool.submit(run_bare, nb, tmp / f"bare{i}", env, bare_meter, True)
            fk = pool.submit(run_kit, sub, tmp / f"kit{i}", home, meter)
            rb, rk = fb.result(), fk.result()
        bare.append(rb)
        kit.append(rk)
        _show(log, i, "bare", rb)
        _show(log, i, "kit", rk)
        log(f"  round {i + 1} ratio kit / bare: CPU {rk['cpu'] / rb['cpu']:.3f}")
    return bare, kit


def _interleaved(n, nb, sub, tmp, env, home, meter, _bare_meter, log) -> tuple[list[dict], list[dict]]:
    """Bare and kit one after the other, the order alternating round by round."""
    bare, kit = [], []
    for i in range(n):
        for what in (("bare", "kit") if i % 2 == 0 else ("kit", "bare")):
            if what == "bare":
                r = run_bare(nb, tmp / f"bare{i}", env, meter)
                bare.append(r)
            else:
                r = run_kit(sub, tmp / f"kit{i}", home, meter)
                kit.append(r)
            _show(log, i, what, r)
    return bare, kit


def _figures(n: int, design: str, side_by_side: bool, bare: list[dict], kit: list[dict],
             aa: list[float]) -> dict:
    pair_ratios = [k["cpu"] / b["cpu"] for b, k in zip(bare, kit, strict=True)]
    # side by side, a round's two runs share their moment; interleaved, they follow each other
    cpu_ratios = pair_ratios if side_by_side else drift_corrected(bare, kit)
    wall_ratios = ([k["wall"] / b["wall"] for b, k in zip(bare, kit, strict=True)] if side_by_side
                   else drift_corrected(bare, kit, "wall"))
    return {"n": n, "design": design, "side_by_side": side_by_side, "aa_ratios": aa,
            "cpu_ratio_median": statistics.median(cpu_ratios),
            "wall_ratio_median": statistics.median(wall_ratios),
            "cpu_ratios": cpu_ratios, "wall_ratios": wall_ratios, "pair_ratios": pair_ratios,
            "pair_ratio_median": statistics.median(pair_ratios), "bare": bare, "kit": kit}


def _report(out: dict, log) -> None:
    """The table of medians per stage and the ratios, as ``bench --overhead`` prints them."""
    bare, kit, n, side_by_side = out["bare"], out["kit"], out["n"], out["side_by_side"]

    def med(rows: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    def stage(indent: int, label: str, rows: list[dict], key: str, cpu: bool = True) -> None:
        name = " " * indent + label
        cpu_text = f"{med(rows, key + '_cpu'):8.1f}" if cpu else " " * 8
        wall = med(rows, key + "_wall") if cpu else med(rows, key)
        log(f"  {name:40} {cpu_text} {wall:8.1f}")

    log(f"\n  {'':40} {'CPU s':>8} {'wall s':>8}   (medians of {n})")
    log(f"  {'bare execution (nbconvert --execute)':40} {med(bare, 'cpu'):8.1f} {med(bare, 'wall'):8.1f}")
    stage(2, "notebook cells", bare, "cells", cpu=False)
    stage(2, "nbconvert and kernel start", bare, "startup", cpu=False)
    log(f"  {'kit grading':40} {med(kit, 'cpu'):8.1f} {med(kit, 'wall'):8.1f}")
    stage(2, "prepare (unzip, copies, export cell)", kit, "prepare")
    stage(2, "otter stage (sandboxed worker)", kit, "otter")
    stage(4, "notebook cells", kit, "cells", cpu=False)
    stage(4, "export cell", kit, "export_cell", cpu=False)
    stage(4, "otter setup, kernel start, tests", kit, "otter_rest", cpu=False)
    stage(2, "replay (the grader's trainings, no cache)", kit, "replay")
    stage(2, "clean check (fresh process)", kit, "clean_check")
    log(f"  peak memory of the grading's process tree (otter stage, polled): "
        f"{max(k['peak_rss'] for k in kit) / 2**30:.2f} GiB")
    how = ("" if side_by_side else
           ", each kit run against the bare runs before and after it, interpolated at its moment")
    if out["aa_ratios"]:
        design = "side by side" if side_by_side else "interleaved, the same estimator"
        log(f"  A/A calibration, bare / bare {design}: {rounds(out['aa_ratios'])}")
    log(f"  CPU ratio kit / bare{how}: {rounds(out['cpu_ratios'])}")
    if not side_by_side:
        log(f"  CPU ratio kit / bare, each round alone (drift not corrected): {rounds(out['pair_ratios'])}")
    log(f"  wall ratio kit / bare: {rounds(out['wall_ratios'])}")


def _calibrate(n: int, nb: dict, tmp: Path, env: dict[str, str], meter: CpuMeter, log) -> list[float]:
    """``n`` rounds of the bare run against itself, side by side, each in its own cgroup."""
    from concurrent.futures import ThreadPoolExecutor

    ratios = []
    with CpuMeter("bare2", move_self=False) as other:
        for i in range(n):
            with ThreadPoolExecutor(2) as pool:
                fa = pool.submit(run_bare, nb, tmp / f"aa{i}", env, meter, True)
                fb = pool.submit(run_bare, nb, tmp / f"aa{i}-2", env, other, True)
                ra, rb = fa.result(), fb.result()
            ratios.append(rb["cpu"] / ra["cpu"])
            log(f"  A/A round {i + 1}: bare {ra['cpu']:6.1f} s, bare {rb['cpu']:6.1f} s of CPU: "
                f"ratio {ratios[-1]:.3f}")
    return ratios


def _calibrate_interleaved(n: int, nb: dict, tmp: Path, env: dict[str, str], meter: CpuMeter,
                           log) -> list[float]:
    """``n`` rounds of the bare run against itself, interleaved like the kit rounds (A/A).

    The ratios use the same estimator as the kit's (``drift_corrected``), so their spread is the
    design's own on this host at this time; the adjacent-pair ratios are printed beside them.
    """
    first: list[dict] = []
    second: list[dict] = []
    for i in range(n):
        for which in (("a", "b") if i % 2 == 0 else ("b", "a")):
            r = run_bare(nb, tmp / f"aa{i}{which}", env, meter)
            (first if which == "a" else second).append(r)
        log(f"  A/A round {i + 1}: bare {first[-1]['cpu']:6.1f} s, bare {second[-1]['cpu']:6.1f} s of CPU")
    pairs = [b["cpu"] / a["cpu"] for a, b in zip(first, second, strict=True)]
    log(f"  A/A, each round's two runs alone: {rounds(pairs)}")
    return drift_corrected(first, second)
