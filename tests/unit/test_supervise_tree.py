"""The supervisor's view of a stage's process tree (``supervise._tree_rss``)."""

from __future__ import annotations

import subprocess
import time

import psutil

from autograder.grading.execution import supervise


def test_tree_memory_counts_grandchildren():
    """Does the tree read from /proc find a grandchild, and count the memory psutil counts?"""
    proc = subprocess.Popen(["sh", "-c", "sleep 30 & wait"])
    try:
        deadline = time.monotonic() + 10
        while not psutil.Process(proc.pid).children() and time.monotonic() < deadline:
            time.sleep(0.05)
        (grandchild,) = psutil.Process(proc.pid).children()
        pids = supervise._proc_descendants(proc.pid)
        assert pids is None or set(pids) == {proc.pid, grandchild.pid}
        want = sum(p.memory_info().rss for p in (psutil.Process(proc.pid), grandchild))
        assert abs(supervise._tree_rss(proc.pid, psutil) - want) <= 64 * 1024
    finally:
        supervise.kill_tree(proc)
