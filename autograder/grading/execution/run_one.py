"""Grading one submission with otter-grader, without Docker, in two stages (``pipeline``).

The submission is checked (is it a notebook at all?) and laid out in a fresh folder with otter's
layout; ``pipeline.PREPARE`` keeps the full tests, the release's parameters and the curves the
notebook recorded in ``private_dir(workdir)``, which the sandbox cannot see, and the kit's export
cell is appended. Stage A: ``autograder.grading.execution.otter_stage`` runs otter's autograder on it in the
bubblewrap sandbox with the kit's registered kernel and the offline Fashion-MNIST cache; the export
cell writes the tested values as plain data. Stage B: ``autograder.grading.verify.clean_check`` rebuilds
those values in a fresh process that runs no student code and runs all tests, hidden ones
included: that is the score. Both stages are supervised (``supervise``: time limit, memory limit
on the whole process tree, Ctrl-C); every process carries ``FMNIST_KIT_WORKDIR`` so the whole tree
can be found and killed. ``grade_one`` returns the whole ``Record`` (scores, figures, log tail,
curves); nothing the student's code wrote is unpickled or followed through a symlink.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from autograder import __version__ as KIT_VERSION
from autograder import data, paths, untrusted
from autograder.grading.execution import pipeline
from autograder.grading.execution.notebook_check import check_notebook
from autograder.grading.execution.otter_plugin import add_plugin
from autograder.grading.execution.pipeline import CLEAN_TIMEOUT, own_file
from autograder.grading.execution.preflight import ensure_kernel
from autograder.grading.execution.supervise import (
    WORKDIR_MARKER,
    StageClock,
    cpu_seconds,
    explain_exit,
    log_tail,
    read_text,
    remove_tree,
    run_stage,
)
from autograder.grading.verify import kernel_export, served
from autograder.grading.verify.trainings import TrainingCache
from autograder.results import QuestionResult, Record, Status

#: The figures a graded notebook draws, kept with its result for the feedback page.
FIGURES = ("curves_part2_networks.png", "curves_part3_prevention.png")
#: Largest figure kept (a larger file is not a figure the notebook drew).
MAX_FIGURE_BYTES = 20 * 2**20
#: Largest ``results.json`` of the kernel stage read back (written in the sandbox, where a file
#: may reach 512 MiB; a real one is tens of kB). Only the public checks' outcome is read from it.
MAX_KERNEL_RESULTS_BYTES = 4 * 2**20
__all__ = ["CLEAN_TIMEOUT", "FIGURES", "StageClock", "check_notebook", "cpu_seconds", "ensure_kernel",
           "grade_one", "prepare", "private_dir"]


def grading_env(keras_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        KERAS_HOME=str(keras_home),
        MPLBACKEND="Agg",
        TF_CPP_MIN_LOG_LEVEL="3",
        # The grader's own setting (the notebook trains in float64, so oneDNN on or off and the
        # thread count leave its curves the same within 1e-8: MEASUREMENTS.md, "The same curves
        # on every computer"); fixed so that a grading never depends on the host's default.
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


#: One ``prepare`` at a time in this process: it parses the tests with ``ast``, and CPython 3.11
#: can raise ``SystemError: AST constructor recursion depth mismatch`` when two threads build ASTs
#: at once (python/cpython#106905, fixed in later releases; seen here as an "internal error of the
#: grader" on the embedded cluster's two grading threads, Python 3.11.7). It takes milliseconds.
_PREPARE_LOCK = threading.Lock()


def prepare(submission: Path, nb: dict, autograder_zip: Path, workdir: Path,
            seed: int | None = None, serve: bool = False) -> Path:
    with _PREPARE_LOCK:
        return _prepare(submission, nb, autograder_zip, workdir, seed, serve)


def _prepare(submission: Path, nb: dict, autograder_zip: Path, workdir: Path, seed: int | None,
             serve: bool) -> Path:
    """Lay out otter's folder for one submission (public tests only); return the folder.

    ``pipeline.PREPARE`` keeps the full tests, the release's parameters and the curves recorded
    in the submitted notebook in ``private_dir(workdir)``; the notebook gets the kit's export cell
    appended after the student's cells.
    """
    private = private_dir(workdir)
    for d in (workdir, private, pipeline.replay_dir(workdir), pipeline.served_dir(workdir)):
        if d.exists():
            remove_tree(d)
    for sub in ("source", "submission", "results"):
        (workdir / sub).mkdir(parents=True)
    (workdir / "submission_metadata.json").write_text("{}", encoding="utf-8")
    source = workdir / "source"
    with zipfile.ZipFile(autograder_zip) as zf:
        zf.extractall(source)
    pipeline.prepare(pipeline.Layout(tests=source / "tests", files=source / "files", private=private,
                                     notebook=nb))
    name_assignment(nb, source / "otter_config.json")
    add_plugin(source / "otter_config.json", seed)
    nb.setdefault("metadata", {})["kernelspec"] = {
        "name": paths.KERNEL_NAME, "display_name": "Python 3 (fmnist-kit)", "language": "python"}
    nb["cells"] = pipeline.kernel_cells([c for c in nb.get("cells", []) if isinstance(c, dict)], private,
                                        pipeline.served_dir(workdir) if serve else None)
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


def parse_results(results: dict) -> list[QuestionResult]:
    """The questions of an otter (Gradescope-format) or clean-check result."""
    questions = []
    for t in results.get("tests", []):
        if "max_score" not in t:
            continue
        name = str(t.get("name", "?")).split(" - ")[0]
        questions.append(QuestionResult(name=name, score=float(t.get("score", 0.0)),
                                        possible=float(t["max_score"]), output=str(t.get("output", ""))))
    return questions


@dataclass
class _Grading:
    """One grading under way: its folders, environment and limits."""

    workdir: Path
    env: dict[str, str]
    timeout: float | None
    memory_limit: int | None
    stop: threading.Event | None
    sandboxed: bool
    start: float
    seed: int | None = None  # the grader's seed: the autograder's own, or the caller's
    training_cache: Path | None = None
    peak_rss: int = 0
    #: otter's own results of the kernel stage are there to compare (``kernel_disagreements``).
    kernel_results: bool = True
    #: What the grading noted on its way (kept with the record).
    notes: list[str] = field(default_factory=list)

    @property
    def private(self) -> Path:
        return private_dir(self.workdir)

    @property
    def readonly(self) -> list[Path]:
        """What the kernel's sandbox shows read-only: the data set, the trainings served to it."""
        serve = pipeline.served_dir(self.workdir)
        return [data.source_dir().resolve(), *([serve] if serve.is_dir() else [])]

    def record(self, status: Status, reason: str = "", **kw) -> Record:
        """The grading's ``Record``; the figures the notebook drew are kept whatever the status
        (a notebook stopped at its time limit shows how far it got)."""
        kw.setdefault("figures", figures_of(self.workdir))
        return Record(status=status, reason=reason[:2000], seconds=round(time.monotonic() - self.start, 2),
                      peak_rss=self.peak_rss, finished_at=time.time(), kit=KIT_VERSION,
                      log_tail=read_text(self.private / "grading.log")[-20000:], **kw)


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
    training_cache: Path | None = None,
) -> Record:
    """Grade one notebook; never raises for a bad submission (the status says what happened).

    The steps of ``pipeline``: prepare, the kernel stage (the notebook runs in its own kernel
    with the public tests and exports the values the tests need), the clean check (a fresh process
    runs all tests on those values), the result. Both stages run in the bubblewrap sandbox unless
    ``sandboxed`` is false. The ``Record`` lacks only its keys (``sub_sha``, ``ag_sha``) and
    ``time_limit``, which the caller knows.

    ``memory_limit`` (bytes) caps the summed resident memory of the whole process tree (worker,
    kernel, anything the notebook starts): it is polled, and the tree is killed when over.
    ``RLIMIT_AS`` is not used: TensorFlow maps ~4 GB of address space before it does anything,
    and a per-process cap misses a notebook that forks. ``stop`` set by the caller (Ctrl-C)
    kills the tree and returns status ``interrupted``. ``seed`` replaces the autograder's seed
    (otter assigns ``SEED = <seed>`` before every cell): per-student variants and the gate.
    ``clock``, if given, records the wall and CPU seconds of each stage (the benchmark's).
    ``training_cache``: the folder of verified trainings the replay stage reads and fills (the
    class folder's); None trains every graded network again.
    """
    clock = clock or StageClock(None)
    start = time.monotonic()
    workdir = Path(workdir).resolve()  # the worker runs with the folder as its cwd: no relative paths
    nb, status, reason = check_notebook(submission)
    if nb is None:
        return Record(status=status, reason=reason, kit=KIT_VERSION, finished_at=time.time())
    home = keras_home if keras_home is not None else data.provide_keras_cache()
    run_env = grading_env(home)
    run_env.update(env or {})
    g = _Grading(workdir, run_env, timeout, memory_limit, stop, sandboxed, start,
                 training_cache=Path(training_cache).resolve() if training_cache else None)
    with clock("prepare"):
        prepare(submission, nb, autograder_zip, workdir, seed=seed, serve=g.training_cache is not None)
        g.seed = seed if seed is not None else pipeline.autograder_seed(workdir / "source")
        if g.training_cache is not None and g.seed is not None:  # what its kernel need not train
            served.build(TrainingCache(g.training_cache), g.seed, pipeline.served_dir(workdir))
    with clock("otter"):
        ended = kernel_stage(g)
    if ended is not None:
        return ended
    with clock("replay"):
        ended = replay_stage(g)
    if ended is not None:
        return ended
    with clock("clean_check"):
        ended = clean_stage(g)
    return ended if ended is not None else read_result(g)


def kernel_stage(g: _Grading) -> Record | None:
    """Stage A: otter runs the notebook with the public tests; a ``Record`` when it ends the grading."""
    env = dict(g.env, **{WORKDIR_MARKER: str(g.workdir)})
    done = run_stage(
        [sys.executable, "-m", "autograder.grading.execution.otter_stage", str(g.workdir)], workdir=g.workdir,
        log=g.private / "grading.log", env=env, readonly=g.readonly, timeout=g.timeout,
        memory_limit=g.memory_limit, stop=g.stop, sandboxed=g.sandboxed)
    g.peak_rss = done.peak_rss
    if done.killed == "timeout":
        return g.record(Status.TIMEOUT, f"grading took longer than {g.timeout:.0f} s and was stopped")
    if done.killed == "memory":
        return g.record(Status.ERROR, f"memory: the notebook used more than {g.memory_limit / 2**30:.1f} "
                                      "GiB and was stopped")
    if done.killed == "stop":
        return g.record(Status.INTERRUPTED, "the batch was interrupted")
    # Everything in the work folder was writable by the student's code: read only regular files
    # really inside it (no planted symlinks), and never write there again.
    if done.returncode == 0 and own_file(g.workdir, g.workdir / "results" / "results.json"):
        return None
    why = explain_exit(done.returncode, g.private / "grading.log")
    if not own_file(g.workdir, g.workdir / "submission" / kernel_export.ARTIFACTS / kernel_export.ENV_FILE):
        return g.record(Status.ERROR, f"the grader stopped ({why})")
    # otter's process ended badly after the export cell ran (the notebook may have planted a
    # pickle that otter's process loads): the clean check grades the exported values as always
    g.kernel_results = False
    g.notes.append(f"otter's run in the sandbox ended abnormally ({why}) after the notebook exported "
                   "its values: graded from them by the clean check, without the kernel's own results")
    return None


def replay_stage(g: _Grading) -> Record | None:
    """The grader trains each graded network itself (``replay``: no student code, no student
    binary), from the exported architectures and the grader's seed; a ``Record`` when it ends
    the grading."""
    out = pipeline.replay_dir(g.workdir)
    if g.seed is None:  # an autograder without a seed: nothing can be replayed, nothing believed
        out.mkdir(exist_ok=True)
        return None
    artifacts = pipeline.artifacts_of(g.workdir / "submission", g.workdir, g.private)
    argv, env = pipeline.replay_command(g.private, artifacts, g.seed, out, g.training_cache, g.env)
    env[WORKDIR_MARKER] = str(out)
    done = run_stage(argv, workdir=out, log=g.private / "replay.log", env=env, readonly=[],
                     timeout=g.timeout, memory_limit=g.memory_limit, stop=g.stop, sandboxed=False)
    if done.killed == "stop":
        return g.record(Status.INTERRUPTED, "the batch was interrupted")
    if done.returncode != 0 or done.killed:
        why = done.killed or f"exit {done.returncode}"
        return g.record(Status.ERROR, f"the grader's own training failed ({why}): "
                                      f"{log_tail(g.private / 'replay.log')}")
    return None


def clean_stage(g: _Grading) -> Record | None:
    """Stage B: the tests, hidden ones included, against the exported values, in a fresh process
    that runs no student code; a ``Record`` when it ends the grading."""
    private = g.private
    artifacts = pipeline.artifacts_of(g.workdir / "submission", g.workdir, private)
    argv, env, readonly = pipeline.clean_check_command(private, artifacts, g.env,
                                                       replays=pipeline.replay_dir(g.workdir))
    out = pipeline.clean_output(private)  # the only folder it may write (the tests are read-only)
    env[WORKDIR_MARKER] = str(out.resolve())
    done = run_stage(argv, workdir=out, log=private / "clean_check.log", env=env,
                     readonly=[*g.readonly, *readonly], timeout=CLEAN_TIMEOUT,
                     memory_limit=g.memory_limit, stop=g.stop, sandboxed=g.sandboxed)
    if done.killed == "stop":
        return g.record(Status.INTERRUPTED, "the batch was interrupted")
    if done.returncode != 0 or done.killed or not (out / pipeline.CLEAN_RESULT).is_file():
        return g.record(Status.ERROR, f"the clean check failed ({done.killed or f'exit {done.returncode}'}): "
                                      f"{log_tail(private / 'clean_check.log')}")
    return None


def read_result(g: _Grading) -> Record:
    """The graded ``Record``: the clean check's scores, flags, curves and test accuracy, the
    figures the notebook drew, and where the kernel's own checks disagreed with the clean ones."""
    try:
        clean = pipeline.read_clean(g.private)
        questions = parse_results(clean)
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        return g.record(Status.ERROR, f"the clean check's result is unreadable: {exc}")
    if not questions:
        return g.record(Status.ERROR, "the clean check reported no questions")
    flags = [str(p) for p in clean.get("problems", [])] + kernel_disagreements(g, clean)
    results_json = json.dumps(clean.get("gradescope", {"tests": clean["tests"]}), ensure_ascii=False,
                              indent=1)
    # What otter shows and a Gradescope upload reads is the clean result (in the kit's folder).
    (g.private / "results.json").write_text(results_json, encoding="utf-8")
    acc = clean.get("test_accuracy")
    return g.record(Status.GRADED, "flagged: " + " | ".join(flags) if flags else "", questions=questions,
                    flags=flags, notes=[*g.notes, *(str(n) for n in clean.get("notes", []))],
                    results_json=results_json,
                    test_accuracy=float(acc) if isinstance(acc, int | float) else None,
                    curves=clean.get("curves") or {}, figures=figures_of(g.workdir))


def kernel_disagreements(g: _Grading, clean: dict) -> list[str]:
    """``disagreements`` of the kernel's own results (otter's ``results.json``, written in the
    sandbox) with the clean check's; a note instead when they cannot be read: the clean check's
    result is the grade either way, and the file is read with caps (``MAX_KERNEL_RESULTS_BYTES``)."""
    if not g.kernel_results:
        return []
    try:
        kernel = parse_results(untrusted.read(g.workdir / "results" / "results.json",
                                              max_bytes=MAX_KERNEL_RESULTS_BYTES))
    except (ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        g.notes.append(f"the kernel's own results (results.json) were not read ({str(exc)[:200]}): "
                       "graded from the clean check alone")
        return []
    return disagreements(kernel, clean)


def figures_of(workdir: Path) -> dict[str, bytes]:
    """The learning-curve figures the notebook drew (PNG files really in its folder)."""
    out = {}
    for name in FIGURES:
        png = workdir / "submission" / name
        try:
            if own_file(workdir, png) and png.stat().st_size < MAX_FIGURE_BYTES:
                raw = untrusted.read_capped(png, MAX_FIGURE_BYTES)
                if raw[:8] == b"\x89PNG\r\n\x1a\n":
                    out[name] = raw
        except (OSError, ValueError):  # made unreadable by the notebook: no figure
            continue
    return out


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
