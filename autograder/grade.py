"""Grading one submission with otter-grader, without Docker.

The submission is checked (is it a notebook at all?), copied into a fresh folder with otter's
layout, its kernel is set to the kit's registered kernel, and ``autograder.worker`` runs otter's
autograder on it in a child process with the offline Fashion-MNIST cache. The result is read
back from otter's ``results.json`` (plain JSON; never a pickle written by student code).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder import data, paths
from autograder.errors import GradingError

#: A submission's status in the grade sheet.
GRADED, ERROR, TIMEOUT, INVALID, EMPTY = "graded", "error", "timeout", "invalid", "empty"


@dataclass
class QuestionResult:
    name: str
    score: float
    possible: float
    output: str = ""

    @property
    def passed(self) -> bool:
        return self.score >= self.possible


@dataclass
class GradeResult:
    submission: str
    status: str
    reason: str = ""
    questions: list[QuestionResult] = field(default_factory=list)
    seconds: float = 0.0
    workdir: str = ""

    @property
    def total(self) -> float:
        return sum(q.score for q in self.questions)

    @property
    def possible(self) -> float:
        return sum(q.possible for q in self.questions)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["total"], d["possible"] = self.total, self.possible
        return d


def check_notebook(path: Path) -> tuple[dict | None, str, str]:
    """(notebook, status, reason): is ``path`` a readable Jupyter notebook with code in it?"""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, INVALID, f"cannot read the file: {exc.strerror}"
    if not raw.strip():
        return None, EMPTY, "the file is empty"
    try:
        nb = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return None, INVALID, "not a notebook: the file is not UTF-8 text"
    except json.JSONDecodeError as exc:
        return None, INVALID, f"not a notebook: broken JSON at line {exc.lineno} ({exc.msg})"
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None, INVALID, "not a Jupyter notebook: no list of cells"
    if nb.get("nbformat") != 4:
        return None, INVALID, (
            f"notebook format {nb.get('nbformat')!r} is not supported: open and save it in a "
            "current Jupyter (format 4)"
        )
    if not any(c.get("cell_type") == "code" and "".join(c.get("source", "")).strip()
               for c in nb["cells"]):
        return None, EMPTY, "the notebook has no code"
    return nb, GRADED, ""


def ensure_kernel() -> None:
    from jupyter_client.kernelspec import KernelSpecManager

    if paths.KERNEL_NAME not in KernelSpecManager().find_kernel_specs():
        raise GradingError(
            f"the Jupyter kernel {paths.KERNEL_NAME!r} is not registered",
            hint="run `make setup` (or: python -m ipykernel install --sys-prefix "
            f"--name {paths.KERNEL_NAME})",
        )


def grading_env(keras_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KERAS_HOME=str(keras_home),
        MPLBACKEND="Agg",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONHASHSEED="0",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def prepare(submission: Path, nb: dict, autograder_zip: Path, workdir: Path) -> Path:
    """Lay out otter's folder for one submission; return the folder."""
    if workdir.exists():
        shutil.rmtree(workdir)
    for sub in ("source", "submission", "results"):
        (workdir / sub).mkdir(parents=True)
    (workdir / "submission_metadata.json").write_text("{}", encoding="utf-8")
    with zipfile.ZipFile(autograder_zip) as zf:
        zf.extractall(workdir / "source")
    nb.setdefault("metadata", {})["kernelspec"] = {
        "name": paths.KERNEL_NAME, "display_name": "Python 3 (fmnist-kit)", "language": "python"}
    (workdir / "submission" / "submission.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    return workdir


def parse_results(results_json: Path) -> list[QuestionResult]:
    out = json.loads(results_json.read_text(encoding="utf-8"))
    questions = []
    for t in out.get("tests", []):
        if "max_score" not in t:
            continue
        name = str(t.get("name", "?")).split(" - ")[0]
        questions.append(QuestionResult(name, float(t.get("score", 0.0)),
                                        float(t["max_score"]), str(t.get("output", ""))))
    return questions


def grade_one(
    submission: Path,
    autograder_zip: Path,
    workdir: Path,
    *,
    timeout: float | None = None,
    keras_home: Path | None = None,
) -> GradeResult:
    """Grade one notebook; never raises for a bad submission (the status says what happened)."""
    start = time.monotonic()
    nb, status, reason = check_notebook(submission)
    if nb is None:
        return GradeResult(str(submission), status, reason)
    home = keras_home if keras_home is not None else data.provide_keras_cache()
    prepare(submission, nb, autograder_zip, workdir)
    log = workdir / "grading.log"
    with open(log, "wb") as logf:
        proc = subprocess.Popen(
            [sys.executable, "-m", "autograder.worker", str(workdir)],
            stdout=logf, stderr=subprocess.STDOUT, env=grading_env(home),
            cwd=workdir, start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(proc)
            return GradeResult(str(submission), TIMEOUT,
                               f"grading took longer than {timeout:.0f} s and was stopped",
                               seconds=time.monotonic() - start, workdir=str(workdir))
    seconds = time.monotonic() - start
    results = workdir / "results" / "results.json"
    if rc != 0 or not results.is_file():
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        return GradeResult(str(submission), ERROR,
                           f"the grader stopped (exit {rc}): {' | '.join(tail)[:300]}",
                           seconds=seconds, workdir=str(workdir))
    return GradeResult(str(submission), GRADED, "", parse_results(results),
                       seconds=seconds, workdir=str(workdir))


def _kill_tree(proc: subprocess.Popen) -> None:
    """Stop the worker and everything it started (kernel, its children)."""
    import signal

    import psutil

    try:
        parent = psutil.Process(proc.pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.NoSuchProcess:
        procs = []
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for p in procs:
        try:
            p.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait()
