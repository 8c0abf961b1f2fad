"""Grading one submission with otter-grader, without Docker, in two stages.

The submission is checked (is it a notebook at all? of this assignment?) and copied into a
fresh folder with otter's layout, the public tests only and the kit's export cell appended.
Stage A: ``autograder.grading.worker`` runs otter's autograder on it in the bubblewrap sandbox with the
kit's registered kernel and the offline Fashion-MNIST cache; the export cell writes the tested
values as plain data. Stage B: ``autograder.grading.clean_check`` rebuilds those values in a fresh process
that runs no student code and runs all tests, hidden ones included: that is the score. Both
stages are supervised (``supervise``: time limit, memory limit on the whole process tree,
Ctrl-C); every process carries ``FMNIST_KIT_WORKDIR`` so the whole tree can be found and
killed. The curves the submitted notebook recorded are kept for stage B (``recorded``). Logs and
results live in ``private_dir(workdir)``, which the sandbox cannot see; nothing the student's
code wrote is unpickled or followed through a symlink.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import threading
import time
import zipfile
from pathlib import Path

from autograder import data, paths
from autograder.errors import GradingError
from autograder.grading import export, recorded
from autograder.grading.otter_plugin import CLEAN_CHECK_ENV, add_plugin
from autograder.grading.supervise import WORKDIR_MARKER, run_stage
from autograder.model import EMPTY, ERROR, GRADED, INTERRUPTED, INVALID, TIMEOUT, GradeResult, QuestionResult
from autograder.notebook import recorded_curves
from autograder.params import ENV_VAR, PARAMS_FILE


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
    except UnicodeDecodeError as exc:
        if exc.end >= len(raw) - 1:  # a multi-byte character cut off: the upload was truncated
            return None, INVALID, "not a notebook: the file ends in the middle of a character (cut off)"
        return None, INVALID, "not a notebook: the file is not UTF-8 text"
    except json.JSONDecodeError as exc:
        text = exc.doc.rstrip()
        if exc.msg.startswith("Unterminated string") or exc.pos >= len(text):
            # the JSON stops before the notebook does: an interrupted upload or copy
            return None, INVALID, (f"not a notebook: the file ends before the notebook does, at line "
                                   f"{exc.lineno} (cut off)")
        return None, INVALID, f"not a notebook: broken JSON at line {exc.lineno} ({exc.msg})"
    if isinstance(nb, dict) and "nbformat" in nb and nb.get("nbformat") != 4:
        return None, INVALID, (
            f"notebook format {nb.get('nbformat')!r} is not supported: open and save it in a "
            "current Jupyter (format 4)"
        )
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return None, INVALID, "not a Jupyter notebook: no list of cells"
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
        TF_CPP_MIN_LOG_LEVEL="3",
        # The notebook pins these itself; measured: oneDNN on/off (and thread counts) change the
        # curves of the 512-unit network, so the grader's run must match the student's.
        TF_ENABLE_ONEDNN_OPTS="0",
        CUDA_VISIBLE_DEVICES="-1",
        PYTHONHASHSEED="0",
        PYTHONDONTWRITEBYTECODE="1",
    )
    return env


def private_dir(workdir: Path) -> Path:
    """The kit's folder beside a submission's work folder: full tests, parameters, clean result.

    It is a sibling, never inside the work folder, so the sandbox of the submission cannot see
    or change it.
    """
    return workdir.with_name(workdir.name + ".kit")


def prepare(submission: Path, nb: dict, autograder_zip: Path, workdir: Path,
            seed: int | None = None) -> Path:
    """Lay out otter's folder for one submission (public tests only); return the folder.

    The full tests, the release's parameters and the curves recorded in the submitted notebook
    go to ``private_dir(workdir)``; the notebook gets the kit's export cell appended after the
    student's cells.
    """
    private = private_dir(workdir)
    for d in (workdir, private):
        if d.exists():
            shutil.rmtree(d)
    for sub in ("source", "submission", "results"):
        (workdir / sub).mkdir(parents=True)
    private.mkdir(parents=True)
    (workdir / "submission_metadata.json").write_text("{}", encoding="utf-8")
    with zipfile.ZipFile(autograder_zip) as zf:
        zf.extractall(private / "source")
    shutil.copytree(private / "source", workdir / "source", dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("tests"))
    export.public_tests(private / "source" / "tests", workdir / "source" / "tests")
    shutil.copytree(private / "source" / "tests", private / "tests")
    kit_params = private / "source" / "files" / PARAMS_FILE
    if kit_params.is_file():
        shutil.copy(kit_params, private / PARAMS_FILE)
    # what the student's notebook showed them, read before anything of theirs runs
    (private / recorded.STUDENT_CURVES).write_text(json.dumps(recorded_curves(nb)), encoding="utf-8")
    add_plugin(workdir / "source" / "otter_config.json", seed)
    name_assignment(nb, private / "source" / "otter_config.json")
    nb.setdefault("metadata", {})["kernelspec"] = {
        "name": paths.KERNEL_NAME, "display_name": "Python 3 (fmnist-kit)", "language": "python"}
    cells = [c for c in nb.get("cells", []) if isinstance(c, dict)]
    cells.append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                  "source": export.export_cell(export.required_names(private / "tests"))})
    nb["cells"] = cells
    (workdir / "submission" / "submission.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    return workdir


def name_assignment(nb: dict, otter_config: Path) -> None:
    """Give the notebook otter's ``metadata.otter.assignment_name`` where it lacks it.

    otter refuses a notebook without it ("Received submission for assignment 'None'"), and
    Google Colab may drop metadata it does not know from the notebook a student downloads. The
    kit has already decided that the notebook is this assignment's (``check_assignment``: its
    stamp, or the questions it checks), so the name is the autograder's own.
    """
    try:
        name = json.loads(otter_config.read_text(encoding="utf-8")).get("assignment_name")
    except (OSError, ValueError):
        return
    meta = nb.setdefault("metadata", {})
    if not name or not isinstance(meta, dict):
        return
    if not isinstance(meta.get("otter"), dict):
        meta["otter"] = {}
    meta["otter"].setdefault("assignment_name", name)


def parse_results(results_json: Path) -> list[QuestionResult]:
    out = json.loads(results_json.read_text(encoding="utf-8"))
    questions = []
    for t in out.get("tests", []):
        if "max_score" not in t:
            continue
        name = str(t.get("name", "?")).split(" - ")[0]
        questions.append(QuestionResult(name=name, score=float(t.get("score", 0.0)),
                                        possible=float(t["max_score"]), output=str(t.get("output", ""))))
    return questions


def grade_one(
    submission: Path,
    autograder_zip: Path,
    workdir: Path,
    *,
    timeout: float | None = None,
    keras_home: Path | None = None,
    memory_limit: int | None = None,
    stop: threading.Event | None = None,
    env: dict[str, str] | None = None,
    sandboxed: bool = True,
    seed: int | None = None,
    clock: StageClock | None = None,
) -> GradeResult:
    """Grade one notebook; never raises for a bad submission (the status says what happened).

    Two stages: the notebook runs in its own kernel with the public tests and exports the
    values the tests need (``clean_check``); then a fresh process runs all tests on those values.
    Both run in the bubblewrap sandbox unless ``sandboxed`` is false.

    ``memory_limit`` (bytes) caps the summed resident memory of the whole process tree (worker,
    kernel, anything the notebook starts): it is polled, and the tree is killed when over.
    ``RLIMIT_AS`` is not used: TensorFlow maps ~4 GB of address space before it does anything,
    and a per-process cap misses a notebook that forks. ``stop`` set by the caller (Ctrl-C)
    kills the tree and returns status ``interrupted``. ``seed`` replaces the autograder's seed
    (otter assigns ``SEED = <seed>`` before every cell): per-student variants and the gate.
    ``clock``, if given, records the wall and CPU seconds of each stage (the benchmark's).
    """
    clock = clock or StageClock(None)
    start = time.monotonic()
    workdir = Path(workdir).resolve()  # the worker runs with the folder as its cwd: no relative paths
    nb, status, reason = check_notebook(submission)
    if nb is None:
        return GradeResult(submission=str(submission), status=status, reason=reason)
    home = keras_home if keras_home is not None else data.provide_keras_cache()
    with clock("prepare"):
        prepare(submission, nb, autograder_zip, workdir, seed=seed)
    private = private_dir(workdir)
    run_env = grading_env(home)
    run_env.update(env or {})
    run_env[WORKDIR_MARKER] = str(workdir.resolve())
    readonly = [data.source_dir().resolve()]
    with clock("otter"):
        stage_a = run_stage(
            [sys.executable, "-m", "autograder.grading.worker", str(workdir)], workdir=workdir,
            log=private / "grading.log", env=run_env, readonly=readonly, timeout=timeout,
            memory_limit=memory_limit, stop=stop, sandboxed=sandboxed)
    rc, why, peak = stage_a.returncode, stage_a.killed, stage_a.peak_rss

    def res(status: str, reason: str = "", questions: list[QuestionResult] | None = None,
            flags: list[str] | None = None, notes: list[str] | None = None) -> GradeResult:
        return GradeResult(submission=str(submission), status=status, reason=reason,
                           questions=questions or [], seconds=time.monotonic() - start,
                           workdir=str(workdir), peak_rss=peak, flags=flags or [], notes=notes or [])

    if why == "timeout":
        return res(TIMEOUT, f"grading took longer than {timeout:.0f} s and was stopped")
    if why == "memory":
        return res(ERROR, f"memory: the notebook used more than {memory_limit / 2**30:.1f} GiB "
                          "and was stopped")
    if why == "stop":
        return res(INTERRUPTED, "the batch was interrupted")
    # Everything in the work folder was writable by the student's code: read only regular files
    # really inside it (no planted symlinks), and never write there again.
    kernel_json = workdir / "results" / "results.json"
    if rc != 0 or not own_file(workdir, kernel_json):
        return res(ERROR, f"the grader stopped ({_explain(rc, private / 'grading.log')})")

    # Stage B: the tests, hidden ones included, against the exported values, in a fresh process
    # that runs no student code.
    clean_env = dict(run_env, **CLEAN_CHECK_ENV, **{ENV_VAR: str(private / PARAMS_FILE)})
    clean_env[WORKDIR_MARKER] = str(private.resolve())
    artifacts = workdir / "submission" / export.ARTIFACTS
    if not own_dir(workdir, artifacts):
        artifacts = private / "no_artifacts"  # missing or planted: grade as "nothing exported"
        artifacts.mkdir(exist_ok=True)
    with clock("clean_check"):
        stage_b = run_stage(
            [sys.executable, "-m", "autograder.grading.clean_check", str(private), str(artifacts)],
            workdir=private, log=private / "clean_check.log", env=clean_env,
            readonly=[*readonly, artifacts.resolve()], timeout=CLEAN_TIMEOUT,
            memory_limit=memory_limit, stop=stop, sandboxed=sandboxed)
    rc, why = stage_b.returncode, stage_b.killed
    if why == "stop":
        return res(INTERRUPTED, "the batch was interrupted")
    clean_json = private / "clean.json"
    if rc != 0 or why or not clean_json.is_file():
        return res(ERROR, f"the clean check failed ({why or f'exit {rc}'}): "
                          f"{_read_tail(private / 'clean_check.log')}")
    try:
        questions = parse_results(clean_json)
        clean = json.loads(clean_json.read_text(encoding="utf-8"))
        kernel = parse_results(kernel_json)
    except (ValueError, KeyError, TypeError) as exc:
        return res(ERROR, f"a results file is unreadable: {exc}")
    if not questions:
        return res(ERROR, "the clean check reported no questions")
    flags = [str(p) for p in clean.get("problems", [])]
    flags += disagreements(kernel, clean)
    # What otter shows and a Gradescope upload reads is the clean result (in the kit's folder).
    (private / "results.json").write_text(json.dumps(clean.get("gradescope", {"tests": clean["tests"]}),
                                                     ensure_ascii=False, indent=1), encoding="utf-8")
    return res(GRADED, "", questions, flags, [str(n) for n in clean.get("notes", [])])


class StageClock:
    """Wall and CPU seconds of named stages, into ``into`` (nothing when it is None).

    ``cpu``: a clock of the CPU seconds the grading used so far; by default this process's and
    its reaped children's (``getrusage``), which misses what a sandbox's own init reaps: the
    benchmark passes the CPU usage of a control group instead (``tools.overhead``).
    """

    def __init__(self, into: dict[str, dict[str, float]] | None, cpu=None) -> None:
        self.into = into
        self.cpu = cpu or cpu_seconds

    @contextlib.contextmanager
    def __call__(self, name: str):
        if self.into is None:
            yield
            return
        t0, c0 = time.perf_counter(), self.cpu()
        try:
            yield
        finally:
            self.into[name] = {"wall": time.perf_counter() - t0, "cpu": self.cpu() - c0}


def cpu_seconds() -> float:
    """User + system CPU of this process and of its children that have been waited for."""
    import resource

    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        total += r.ru_utime + r.ru_stime
    return total


def own_file(workdir: Path, path: Path) -> bool:
    """A regular file really inside ``workdir`` (the sandboxed code may have planted links)."""
    return (path.is_file() and not path.is_symlink()
            and path.resolve().is_relative_to(workdir.resolve()))


def own_dir(workdir: Path, path: Path) -> bool:
    return (path.is_dir() and not path.is_symlink()
            and path.resolve().is_relative_to(workdir.resolve()))


def _explain(rc: int | None, log: Path) -> str:
    """Why the worker stopped, in words, from its exit code and the end of its log."""
    text = ""
    try:
        text = log.read_text(encoding="utf-8", errors="replace")[-20000:]
    except OSError:
        pass
    if "DeadKernelError" in text or "Kernel died" in text:
        return "the notebook's kernel died (for example os._exit, a crash, or a memory limit)"
    if "MemoryError" in text:
        return "out of memory (the notebook used more than its limit)"
    lines = text.strip().splitlines()
    return f"exit {rc}: {' | '.join(lines[-3:])[:300]}"


#: Seconds the clean check may take (it loads TensorFlow and evaluates the networks once).
CLEAN_TIMEOUT = 300.0


def disagreements(kernel: list[QuestionResult], clean: dict) -> list[str]:
    """Questions whose public checks passed in the student's kernel but fail in the clean check.

    The kernel runs only the public tests; a check that passes there and fails on the exported
    values means the kernel's view was altered (a patched checker, an object that lies).
    """
    public = {t["name"]: t.get("public_passed") for t in clean.get("tests", [])}
    out = []
    for q in kernel:
        passed_in_kernel = "failed" not in q.output.lower()
        if passed_in_kernel and public.get(q.name) is False:
            out.append(f"{q.name}: passed in the student's kernel but fails the clean check "
                       "(the clean check counts)")
    return out


def _read_tail(log: Path) -> str:
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(lines[-3:])[:300]
