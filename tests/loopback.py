"""The loopback Dask cluster of ``autograder.tools.loopback``, and the ``grade`` command as a process."""

from __future__ import annotations

import subprocess
import sys

from autograder.tools.loopback import ROOT, Loopback, Member  # noqa: F401  (the tests' imports)


def grade_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "autograder", "grade", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
