"""The cgroup limits ``bench --gradescope`` grades under: do they limit, and does it read them?"""

from __future__ import annotations

import subprocess
import sys

import pytest

from autograder.tools import gradescope

pytestmark = pytest.mark.skipif(bool(gradescope.available()), reason=gradescope.available() or "")


def test_memory_limit_kills_and_is_reported():
    """Is a process that allocates past the memory limit killed, and is the kill counted?"""
    group = gradescope.Limits(1.0, 64)
    try:
        touch = "b = bytearray(256 * 2**20)\nfor i in range(0, len(b), 4096): b[i] = 1"
        proc = subprocess.run(group.argv([sys.executable, "-c", touch]), capture_output=True, timeout=60)
        assert proc.returncode != 0
        assert group.oom_kills() >= 1
        assert group.peak_bytes() <= 64 * 2**20 + 2**20
    finally:
        group.close()


def test_cpu_quota_limits_a_busy_loop_and_is_measured():
    """Does a busy loop of 1.5 s of wall under a quarter of a CPU use about 0.4 s of CPU, measured
    by the group's own counter (one whole CPU would use 1.5 s)?"""
    group = gradescope.Limits(0.25, 512)
    try:
        code = "import time\nt = time.monotonic()\nwhile time.monotonic() - t < 1.5: pass"
        subprocess.run(group.argv([sys.executable, "-c", code]), check=True, timeout=60)
        used = group.cpu_seconds()
        assert 0.2 < used < 0.75, used
        assert group.oom_kills() == 0
    finally:
        group.close()
