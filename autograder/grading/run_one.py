"""Grading one submission with otter-grader, without Docker, in two stages.

The submission is checked (is it a notebook at all? of this assignment?) and copied into a
fresh folder with otter's layout, the public tests only and the kit's export cell appended.
Stage A: ``autograder.grading.worker`` runs otter's autograder on it in the bubblewrap sandbox with the
kit's registered kernel and the offline Fashion-MNIST cache; the export cell writes the tested
values as plain data. Stage B: ``autograder.grading.clean_check`` rebuilds those values in a fresh process
that runs no student code and runs all tests, hidden ones included: that is the score. Both
stages are supervised (time limit, memory limit on the whole process tree, Ctrl-C); every
process carries ``FMNIST_KIT_WORKDIR`` so the whole tree can be found and killed. Logs and
results live in ``private_dir(workdir)``, which the sandbox cannot see; nothing the student's
code wrote is unpickled or followed through a symlink.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from autograder import data, paths
from autograder.errors import GradingError

#: A submission's status in the grade sheet.
GRADED, ERROR, TIMEOUT, INVALID, EMPTY = "graded", "error", "timeout", "invalid", "empty"
WRONG_VERSION = "wrong-version"
#: Not a grade: the batch was stopped (Ctrl-C) while this submission ran; it is never recorded.
INTERRUPTED = "interrupted"
STATUSES = (GRADED, TIMEOUT, ERROR, INVALID, WRONG_VERSION, EMPTY)

#: Set in the environment of every process grading one submission (worker, kernel, their
#: children), so the whole tree can be found and killed even when the kernel runs in its own
#: session, or when a previous grader was killed with ``kill -9``.
WORKDIR_MARKER = "FMNIST_KIT_WORKDIR"
#: Written by ``SaveExecutedNotebook`` (an otter plugin run by otter, not by student code).
EXECUTED_NOTEBOOK = "executed.ipynb"


class Scored:
    """Total and possible points of something that holds ``questions``."""

    questions: list

    @property
    def total(self) -> float:
        return sum(q.score for q in self.questions)

    @property
    def possible(self) -> float:
        return sum(q.possible for q in self.questions)


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
class GradeResult(Scored):
    submission: str
    status: str
    reason: str = ""
    questions: list[QuestionResult] = field(default_factory=list)
    seconds: float = 0.0
    workdir: str = ""
    peak_rss: int = 0
    #: Things a TA should look at although the score stands (the clean check overruled the
    #: kernel, a history did not match its network, a value could not be read back).
    flags: list[str] = field(default_factory=list)

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
        TF_CPP_MIN_LOG_LEVEL="2",
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

    The full tests and the release's parameters go to ``private_dir(workdir)``; the notebook
    gets the kit's export cell appended after the student's cells.
    """
    from autograder import params
    from autograder.grading import clean_check

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
    clean_check.public_tests(private / "source" / "tests", workdir / "source" / "tests")
    shutil.copytree(private / "source" / "tests", private / "tests")
    kit_params = private / "source" / "files" / params.PARAMS_FILE
    if kit_params.is_file():
        shutil.copy(kit_params, private / params.PARAMS_FILE)
    _add_plugin(workdir / "source" / "otter_config.json", seed)
    nb.setdefault("metadata", {})["kernelspec"] = {
        "name": paths.KERNEL_NAME, "display_name": "Python 3 (fmnist-kit)", "language": "python"}
    cells = [c for c in nb.get("cells", []) if isinstance(c, dict)]
    cells.append({"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
                  "source": clean_check.export_cell(clean_check.required_names(private / "tests"))})
    nb["cells"] = cells
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
    memory_limit: int | None = None,
    stop: threading.Event | None = None,
    env: dict[str, str] | None = None,
    sandboxed: bool = True,
    seed: int | None = None,
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
    """
    start = time.monotonic()
    workdir = Path(workdir).resolve()  # the worker runs with the folder as its cwd: no relative paths
    nb, status, reason = check_notebook(submission)
    if nb is None:
        return GradeResult(str(submission), status, reason)
    home = keras_home if keras_home is not None else data.provide_keras_cache()
    prepare(submission, nb, autograder_zip, workdir, seed=seed)
    private = private_dir(workdir)
    run_env = grading_env(home)
    run_env.update(env or {})
    run_env[WORKDIR_MARKER] = str(workdir.resolve())
    readonly = [data.source_dir().resolve()]
    rc, why, peak = _run_stage(
        [sys.executable, "-m", "autograder.grading.worker", str(workdir)], workdir, private / "grading.log",
        run_env, readonly, timeout, memory_limit, stop, sandboxed)

    def res(status: str, reason: str = "", questions: list[QuestionResult] | None = None,
            flags: list[str] | None = None) -> GradeResult:
        return GradeResult(str(submission), status, reason, questions or [],
                           seconds=time.monotonic() - start, workdir=str(workdir), peak_rss=peak,
                           flags=flags or [])

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
    clean_env = dict(run_env, FMNIST_KIT_PARAMS=str(private / "kit_params.json"))
    clean_env[WORKDIR_MARKER] = str(private.resolve())
    artifacts = workdir / "submission" / "kit_artifacts"
    if not own_dir(workdir, artifacts):
        artifacts = private / "no_artifacts"  # missing or planted: grade as "nothing exported"
        artifacts.mkdir(exist_ok=True)
    rc, why, _ = _run_stage(
        [sys.executable, "-m", "autograder.grading.clean_check", str(private), str(artifacts)], private,
        private / "clean_check.log", clean_env, [*readonly, artifacts.resolve()], CLEAN_TIMEOUT,
        memory_limit, stop, sandboxed)
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
    return res(GRADED, "", questions, flags)


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


def _run_stage(
    argv: list[str],
    workdir: Path,
    log: Path,
    env: dict[str, str],
    readonly: list[Path],
    timeout: float | None,
    memory_limit: int | None,
    stop: threading.Event | None,
    sandboxed: bool,
) -> tuple[int | None, str, int]:
    """Run one stage in a child process (in the sandbox unless told otherwise), supervised."""
    if sandboxed:
        from autograder.grading import sandbox

        argv = sandbox.command(argv, workdir=workdir, readonly=readonly, env=env)
    with open(log, "wb") as logf:
        proc = subprocess.Popen(
            argv, stdout=logf, stderr=subprocess.STDOUT, env=env,
            cwd=workdir, start_new_session=True, preexec_fn=_die_with_parent,
        )
        try:
            return _supervise(proc, workdir, timeout, memory_limit, stop)
        finally:
            if proc.poll() is None:  # an exception in the supervisor: leave nothing behind
                _kill_tree(proc, workdir)


def _supervise(
    proc: subprocess.Popen,
    workdir: Path,
    timeout: float | None,
    memory_limit: int | None,
    stop: threading.Event | None,
    poll: float = 0.25,
) -> tuple[int | None, str, int]:
    """Wait for the worker; (exit code, why it was killed or "", peak tree RSS in bytes)."""
    import psutil

    deadline = None if timeout is None else time.monotonic() + timeout
    peak = 0
    while True:
        try:
            return proc.wait(timeout=poll), "", peak
        except subprocess.TimeoutExpired:
            pass
        rss = _tree_rss(proc.pid, workdir, psutil)
        peak = max(peak, rss)
        why = ""
        if stop is not None and stop.is_set():
            why = "stop"
        elif deadline is not None and time.monotonic() > deadline:
            why = "timeout"
        elif memory_limit is not None and rss > memory_limit:
            why = "memory"
        if why:
            _kill_tree(proc, workdir)
            return proc.returncode, why, peak


def _tree_processes(pid: int, workdir: Path, psutil) -> list:
    """The worker, its descendants, and any process carrying this workdir's marker."""
    procs = {}
    try:
        parent = psutil.Process(pid)
        for p in [parent, *parent.children(recursive=True)]:
            procs[p.pid] = p
    except psutil.NoSuchProcess:
        pass
    for p in marked_processes(str(workdir.resolve()), psutil):
        procs.setdefault(p.pid, p)
    return list(procs.values())


def marked_processes(workdir_prefix: str, psutil=None) -> list:
    """Processes whose ``FMNIST_KIT_WORKDIR`` lies under ``workdir_prefix`` (strays included)."""
    if psutil is None:
        import psutil
    found = []
    me = os.getpid()
    for p in psutil.process_iter():
        if p.pid == me:
            continue
        try:
            marker = p.environ().get(WORKDIR_MARKER)
        except (psutil.Error, OSError):
            continue
        if marker and (marker == workdir_prefix or marker.startswith(workdir_prefix.rstrip("/") + "/")):
            found.append(p)
    return found


def _tree_rss(pid: int, workdir: Path, psutil) -> int:
    total = 0
    try:
        parent = psutil.Process(pid)
        tree = [parent, *parent.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for p in tree:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _libc():
    import ctypes

    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


_LIBC = _libc()  # loaded in the parent: the child after fork() only makes one system call


def _die_with_parent() -> None:
    """In the child: get SIGKILL when the grader dies (even by ``kill -9``); Linux only."""
    if _LIBC is not None and sys.platform.startswith("linux"):
        _LIBC.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL


def _kill_tree(proc: subprocess.Popen, workdir: Path | None = None) -> None:
    """Stop the worker and everything it started (kernel, its children), marker included."""
    import signal

    import psutil

    procs = _tree_processes(proc.pid, workdir, psutil) if workdir is not None else []
    if workdir is None:
        try:
            parent = psutil.Process(proc.pid)
            procs = [*parent.children(recursive=True), parent]
        except psutil.NoSuchProcess:
            procs = []
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    kill_processes(procs)
    proc.wait()


def kill_processes(procs: list) -> int:
    """SIGKILL each process (already gone is fine); return how many were signalled."""
    import psutil

    n = 0
    for p in procs:
        try:
            p.kill()
            n += 1
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)
    return n


def _add_plugin(config_path: Path, seed: int | None = None) -> None:
    """Ask otter to run ``SaveExecutedNotebook`` after grading (the kit's own, trusted code);
    set the seed otter assigns before every cell when ``seed`` is given."""
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    if seed is not None:
        config["seed"] = int(seed)
        config.setdefault("seed_variable", "SEED")
    plugins = list(config.get("plugins", []))
    name = f"{__name__}.SaveExecutedNotebook"
    if name not in plugins:
        plugins.append(name)
    config["plugins"] = plugins
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")


def __getattr__(name: str):
    """``SaveExecutedNotebook`` is built on first use, so importing this module stays light."""
    if name == "SaveExecutedNotebook":
        return _save_executed_plugin()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _save_executed_plugin() -> type:
    from otter.plugins import AbstractOtterPlugin

    class SaveExecutedNotebook(AbstractOtterPlugin):
        """Otter plugin: write the notebook as executed in the grading run to ``results/``.

        The notebook is JSON produced by otter's executor (outputs included), so the kit can read
        facts the grading run printed (test accuracy); nothing is unpickled.
        """

        def after_grading(self, results) -> None:
            import nbformat

            nb = getattr(results, "notebook", None)
            if nb is None:
                return
            out = Path(self.submission_path).resolve().parent.parent / "results" / EXECUTED_NOTEBOOK
            try:  # a notebook that printed a gigabyte must not take the grading down with it
                nbformat.write(nb, str(out))
            except (MemoryError, OSError, ValueError):
                pass

    return SaveExecutedNotebook


@dataclass(frozen=True)
class AutograderInfo:
    """What the autograder zip says about its assignment (read once per batch)."""

    path: Path
    sha256: str
    assignment_name: str
    questions: tuple[str, ...]
    points: tuple[float, ...] = ()  # per question, as the test files declare
    version: str = ""  # from the release's kit_params.json ("" for an unversioned autograder)
    variants: bool = False  # per-student seeds (the course secret is needed to grade)

    def possible(self) -> dict[str, float]:
        return dict(zip(self.questions, self.points, strict=False))


def autograder_info(autograder_zip: Path) -> AutograderInfo:
    import hashlib

    raw = autograder_zip.read_bytes()
    with zipfile.ZipFile(autograder_zip) as zf:
        names = zf.namelist()
        config = json.loads(zf.read("otter_config.json")) if "otter_config.json" in names else {}
        tests = sorted(n for n in names if n.startswith("tests/") and n.endswith(".py"))
        points = []
        for n in tests:
            m = re.search(r"^points\s*=\s*([0-9.]+)", zf.read(n).decode("utf-8", "replace"), re.M)
            points.append(float(m.group(1)) if m else 0.0)
        try:
            kit = json.loads(zf.read("files/kit_params.json")) if "files/kit_params.json" in names else {}
        except ValueError:
            kit = {}
    return AutograderInfo(autograder_zip, hashlib.sha256(raw).hexdigest(),
                          str(config.get("assignment_name", "")),
                          tuple(Path(n).stem for n in tests), tuple(points),
                          version=str(kit.get("version", "")), variants=bool(kit.get("variants", False)))


def check_assignment(nb: dict, info: AutograderInfo) -> tuple[str, str]:
    """(status, reason): is this notebook one of ``info``'s assignment, not another exercise?

    Otter writes ``metadata.otter.assignment_name`` into every notebook it publishes; a notebook
    that names another assignment is ``wrong-version``. Without that metadata, the notebook must
    mention at least half of the assignment's questions (``grader.check("q1_model")`` cells).
    """
    meta = nb.get("metadata") if isinstance(nb.get("metadata"), dict) else {}
    otter_meta = meta.get("otter") if isinstance(meta.get("otter"), dict) else {}
    name = otter_meta.get("assignment_name")
    if name and info.assignment_name and name != info.assignment_name:
        return WRONG_VERSION, (f"this notebook is for assignment {name!r}, not "
                               f"{info.assignment_name!r}")
    if name or not info.questions:
        return GRADED, ""
    text = "\n".join("".join(c.get("source", "")) for c in nb.get("cells", []) if isinstance(c, dict))
    seen = [q for q in info.questions if q in text]
    if 2 * len(seen) < len(info.questions):
        return WRONG_VERSION, (
            f"this does not look like assignment {info.assignment_name or '?'}: only {len(seen)} of "
            f"its {len(info.questions)} questions ({', '.join(info.questions[:3])}, ...) appear in it")
    return GRADED, ""
