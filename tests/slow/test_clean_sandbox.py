"""The clean check's sandbox, run for real: the hidden tests are read-only to it, its own output
folder is the one place it writes (issue 33, hardening 3). Seconds: bubblewrap and a Python that
probes, with the clean check's own mounts; no kernel, no TensorFlow."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.grading.execution import pipeline, sandbox
from autograder.grading.verify.recorded import STUDENT_CURVES
from autograder.params import PARAMS_FILE

PROBE = """import json, os, sys
private, out = sys.argv[1], sys.argv[2]
found = {}
for rel in ("tests/q1.py", "tests/new.py", "kit_params.json", "student_curves_probe", "source/files/k.py",
            "clean.json"):
    path = os.path.join(private, rel)
    try:
        with open(path, "a") as f:
            f.write("# changed")
        found[rel] = "written"
    except OSError as exc:
        found[rel] = type(exc).__name__
found["read tests"] = open(os.path.join(private, "tests", "q1.py")).read()
with open(os.path.join(out, "clean.json"), "w") as f:
    f.write("{}")
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def available() -> None:
    status = sandbox.probe()
    if not status.available:
        pytest.skip(status.reason)


def test_the_clean_check_cannot_write_the_hidden_tests(tmp_path: Path, available):
    """Run in the clean check's sandbox (its read-only inputs, its output folder as the work
    folder), can a process change the hidden tests, the parameters or ``files/``, or put a
    result in the private folder? It can read the tests and write its output folder only."""
    private = tmp_path / "w.kit"
    (private / "tests").mkdir(parents=True)
    (private / "tests" / "q1.py").write_text("hidden = True\n", encoding="utf-8")
    (private / "source" / "files").mkdir(parents=True)
    (private / "source" / "files" / "k.py").write_text("", encoding="utf-8")
    (private / PARAMS_FILE).write_text("{}", encoding="utf-8")
    (private / STUDENT_CURVES).write_text("{}", encoding="utf-8")
    (tmp_path / "artifacts").mkdir()
    _, env, readonly = pipeline.clean_check_command(private, tmp_path / "artifacts", {})
    out = pipeline.clean_output(private)
    argv = [sys.executable, "-c", PROBE, str(private), str(out)]
    cmd = sandbox.command(argv, workdir=out, readonly=readonly, env=env)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found.pop("read tests") == "hidden = True\n"
    assert "written" not in found.values(), found
    assert (private / "tests" / "q1.py").read_text(encoding="utf-8") == "hidden = True\n"
    assert sorted(p.name for p in (private / "tests").iterdir()) == ["q1.py"]
    assert not (private / "clean.json").exists() and (out / "clean.json").read_text() == "{}"
