"""The benchmark's CPU meter (``tools.overhead.CpuMeter``): a command run in its own cgroup."""

from __future__ import annotations

import subprocess
import sys

import pytest

from autograder.tools.overhead import CpuMeter

#: Burns about 0.3 s of CPU in a grandchild and prints the grandchild's own CPU seconds.
BURN = """
import subprocess, sys
code = ("import time\\nt = time.process_time()\\nwhile time.process_time() - t < 0.3: pass\\n"
        "print(time.process_time())")
print(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout)
"""


def test_wrapped_command_is_counted_in_its_own_group():
    """Side by side, each run's CPU must land in its own group, grandchildren included, and
    nothing of it in a second group created beside it."""
    with CpuMeter("unit-a", move_self=False) as a, CpuMeter("unit-b", move_self=False) as b:
        if a.group is None or b.group is None:
            pytest.skip("needs root and a cgroup file system (the side-by-side benchmark refuses too)")
        a0, b0 = a(), b()
        out = subprocess.run(a.wrap([sys.executable, "-c", BURN]), capture_output=True, text=True,
                             check=True)
        grandchild = float(out.stdout.split()[-1])
        used_a, used_b = a() - a0, b() - b0
        assert used_a >= grandchild >= 0.3
        assert used_b < 0.05
        group = a.group
    assert not group.exists()  # the group is removed on exit


def test_side_by_side_without_cgroups_is_a_clear_error(monkeypatch, tmp_path):
    """Where no group can be made (not root, no cgroup file system), side by side refuses at
    once, naming what it needs, instead of measuring two runs in one group."""
    from autograder.errors import ConfigError
    from autograder.tools import overhead

    monkeypatch.setattr(overhead.CpuMeter, "V1", tmp_path / "absent-v1")
    monkeypatch.setattr(overhead.CpuMeter, "V2", tmp_path / "absent-v2")
    with pytest.raises(ConfigError, match="control group"):
        overhead.bench_overhead(1, side_by_side=True)


def _runs(cpus: list[float], mids: list[float]) -> list[dict]:
    return [{"cpu": c, "mid": m} for c, m in zip(cpus, mids, strict=True)]


def _abba(n: int, overhead: float, speed) -> tuple[list[dict], list[dict]]:
    """The interleaved bench's order (bare, kit | kit, bare | ...), one run a minute; the host's
    ``speed(t)`` multiplies every run's CPU; the kit costs ``overhead`` more than bare."""
    bare, kit, t = [], [], 0.0
    for i in range(n):
        for what in (("bare", "kit") if i % 2 == 0 else ("kit", "bare")):
            t += 60
            base = 50.0 * speed(t)
            (bare if what == "bare" else kit).append({"cpu": base * (1 + overhead if what == "kit" else 1),
                                                      "mid": t})
    return bare, kit


def test_drift_corrected_ratio_recovers_the_overhead_under_a_steady_drift():
    """The host slows by 25% over the run (seen here: the bare run went 50 -> 63 s of CPU within
    one bench); the kit costs 3% more. Pairing each kit run with its round's bare run alone
    reports more (the median leans to the rounds whose bare run came first); interpolating the
    bare runs around each kit run gives 3% back."""
    import statistics

    from autograder.tools.overhead import drift_corrected

    bare, kit = _abba(5, 0.03, lambda t: 1 + 0.25 * t / 600)
    pairs = [k["cpu"] / b["cpu"] for b, k in zip(bare, kit, strict=True)]
    corrected = drift_corrected(bare, kit)
    assert statistics.median(pairs) > 1.045
    assert statistics.median(corrected) == pytest.approx(1.03, abs=0.003)
    # without drift, both estimators give the overhead exactly
    bare, kit = _abba(5, 0.03, lambda t: 1.0)
    assert drift_corrected(bare, kit) == pytest.approx([1.03] * 5)


def test_drift_corrected_ratio_uses_the_nearest_reference_at_the_ends():
    from autograder.tools.overhead import drift_corrected

    bare = _runs([100.0, 120.0], [10.0, 30.0])
    kit = _runs([105.0, 110.0, 126.0], [5.0, 20.0, 40.0])
    assert drift_corrected(bare, kit) == pytest.approx([1.05, 1.0, 1.05])


def test_interleaved_bench_reports_the_drift_corrected_median(monkeypatch, tmp_path):
    """The command's headline is the drift-corrected median, with the round-by-round ratios
    printed beside it (fake runs on a host slowing by 25%, the kit 3% dearer; no kernels)."""
    import io
    import json
    import statistics

    from autograder import data
    from autograder.grading.execution import run_one
    from autograder.tools import overhead, samples

    bare_runs, kit_runs = _abba(5, 0.03, lambda t: 1 + 0.25 * t / 600)
    stages = {"prepare_cpu": 0.0, "prepare_wall": 0.0, "otter_cpu": 1.0, "otter_wall": 1.0,
              "clean_check_cpu": 0.5, "clean_check_wall": 0.5, "replay_cpu": 2.0, "replay_wall": 2.0,
              "cells": 1.0, "export_cell": 0.2,
              "otter_rest": 0.1, "peak_rss": 2**30, "score": 24, "possible": 24, "networks": "numpy"}
    by_kind = {"bare": iter(bare_runs), "kit": iter(kit_runs)}

    def fake(kind):
        def run(*_args, **_kw):
            r = next(by_kind[kind])
            return {**stages, "startup": 0.1, **r, "wall": r["cpu"]}
        return run

    nb = tmp_path / "solution.ipynb"
    nb.write_text(json.dumps({"cells": [], "metadata": {}}), encoding="utf-8")
    monkeypatch.setattr(overhead, "run_bare", fake("bare"))
    monkeypatch.setattr(overhead, "run_kit", fake("kit"))
    monkeypatch.setattr(run_one, "ensure_kernel", lambda: None)
    monkeypatch.setattr(data, "provide_keras_cache", lambda: tmp_path)
    monkeypatch.setattr(samples, "write", lambda *a, **k: {"solution": nb})
    monkeypatch.setattr(overhead.CpuMeter, "V1", tmp_path / "absent-v1")
    monkeypatch.setattr(overhead.CpuMeter, "V2", tmp_path / "absent-v2")
    out = io.StringIO()
    res = overhead.bench_overhead(5, stream=out)
    assert res["cpu_ratio_median"] == pytest.approx(1.03, abs=0.003)
    assert res["pair_ratio_median"] > 1.045
    assert statistics.median(res["cpu_ratios"]) == res["cpu_ratio_median"]
    text = out.getvalue()
    assert f"interpolated at its moment: median {res['cpu_ratio_median']:.3f}" in text
    assert f"(drift not corrected): median {res['pair_ratio_median']:.3f}" in text
