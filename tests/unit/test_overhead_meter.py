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
