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


def test_a_folder_the_notebook_made_unwritable_is_removed_all_the_same(tmp_path):
    """A grading folder in which student code ran ``chmod 000`` on a subfolder (with files in
    it): remove_tree removes it whole (as a non-root grader plain rmtree fails there; here the
    failure is forced, so the test means the same as root)."""
    import shutil
    from unittest import mock

    from autograder.grading.execution import supervise

    locked = tmp_path / "work" / "submission" / "locked"
    locked.mkdir(parents=True)
    (locked / "f.txt").write_text("x")
    locked.chmod(0o000)
    real = shutil.rmtree
    calls = []

    def rmtree(path, onerror=None):  # the first unlink inside the locked folder fails, as for a user
        def failing_once(p, *a, **k):
            if not calls:
                calls.append(p)
                raise PermissionError(13, "Permission denied", p)
            return orig_unlink(p, *a, **k)
        import os
        orig_unlink = os.unlink
        with mock.patch("os.unlink", failing_once):
            return real(path, onerror=onerror)

    with mock.patch.object(supervise.shutil, "rmtree", rmtree):
        supervise.remove_tree(tmp_path / "work")
    assert calls and not (tmp_path / "work").exists()
