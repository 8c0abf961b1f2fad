"""The steps of one grading, written once: the kit's ``grade`` and the otter plugin run the same.

A grading has four steps: **prepare** (``PREPARE``: each step takes the ``Layout`` of one
submission), **run the kernel stage** (otter runs the notebook with the public tests and the
kit's export cell), **run the clean check** (``clean_check_command``: a fresh process scores the
exported values with every test), **read the result** (``read_clean``). ``run_one.grade_one``
runs them under the kit's supervisor; ``otter_plugin.CleanCheck`` runs them inside otter's own
runner (plain ``otter run``, Gradescope). This module ships in the published zip.

Everything in the kernel's folder was writable by the student's code: ``own_file`` and
``own_dir`` are the one guard for what the kit reads back from there (a regular file or folder
really inside it, no planted symlink).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autograder import untrusted
from autograder.grading.verify import clean_check, kernel_export, replay, served
from autograder.grading.verify.clean_check import CLEAN_RESULT
from autograder.grading.verify.recorded import STUDENT_CURVES
from autograder.notebook import recorded_curves
from autograder.params import ENV_VAR, PARAMS_FILE

#: The clean check's environment beside the grading's: NumPy's BLAS on one thread (its products
#: are small; idle BLAS threads spinning cost CPU: user time 2.2 s -> 1.6 s on this machine).
CLEAN_CHECK_ENV = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
#: Seconds the clean check may take (it loads TensorFlow and evaluates the networks once).
CLEAN_TIMEOUT = 300.0
#: The module the clean check runs as (``python -m``).
CLEAN_CHECK_MODULE = clean_check.__name__
#: The clean check's only writable folder, inside the private one (``clean_output``): its result.
CLEAN_OUTPUT = "clean"
#: What of the private folder the clean check reads: read-only in its sandbox (the hidden tests).
CLEAN_INPUTS = ("tests", PARAMS_FILE, "source/files", STUDENT_CURVES)
#: Largest clean check result read (written in its sandbox, read with caps; a real one is ~20 kB).
MAX_CLEAN_BYTES = 16 * 2**20
#: The module the replay stage runs as: the grader's own trainings.
REPLAY_MODULE = replay.__name__


@dataclass(frozen=True)
class Layout:
    """Where one submission's grading keeps what: the kernel's side and the kit's private side."""

    #: The test folder otter gives the kernel (all tests before ``split_tests``, public after).
    tests: Path
    #: The autograder's ``files/`` (``kit_params.json``, ``kit_checks.py``).
    files: Path
    #: The kit's folder, which the kernel's sandbox cannot see: full tests, parameters, result.
    private: Path
    #: The submitted notebook as parsed (read before anything of the student's runs).
    notebook: dict


def split_tests(lay: Layout) -> None:
    """All tests to the private folder; the kernel keeps the public ones only."""
    shutil.copytree(lay.tests, lay.private / "tests")
    shutil.rmtree(lay.tests)
    kernel_export.public_tests(lay.private / "tests", lay.tests)


def keep_files(lay: Layout) -> None:
    """The release's parameters and ``files/`` (the public checks' module) for the clean check."""
    if (lay.files / PARAMS_FILE).is_file():
        shutil.copy(lay.files / PARAMS_FILE, lay.private / PARAMS_FILE)
    if lay.files.is_dir():
        shutil.copytree(lay.files, lay.private / "source" / "files", dirs_exist_ok=True)


def keep_recorded_curves(lay: Layout) -> None:
    """What the student's notebook showed them, kept before anything of theirs runs."""
    (lay.private / STUDENT_CURVES).write_text(json.dumps(recorded_curves(lay.notebook)), encoding="utf-8")


#: The preparation, in order; ``run_one.prepare`` and ``CleanCheck.before_grading`` run it.
PREPARE: tuple[Callable[[Layout], None], ...] = (split_tests, keep_files, keep_recorded_curves)


def prepare(lay: Layout) -> None:
    lay.private.mkdir(parents=True, exist_ok=True)
    for step in PREPARE:
        step(lay)


def export_cell_source(private: Path) -> str:
    """The cell appended after the student's: it exports every value a test takes."""
    return kernel_export.export_cell(kernel_export.required_names(private / "tests"))


def kernel_cells(cells: list[dict], private: Path, serve: Path | None) -> list[dict]:
    """The notebook's cells as the kernel runs them: the kit's serving cell first when verified
    trainings are served from ``serve`` (``served``), the student's, then the export cell."""
    def code(source: str) -> dict:
        return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}

    first = [code(served.cell_source(serve))] if serve is not None else []
    return [*first, *cells, code(export_cell_source(private))]


def served_dir(workdir: Path) -> Path:
    """Where the verified trainings served to the kernel of the grading in ``workdir`` are: a
    sibling of the work folder, shown read-only in its sandbox."""
    return workdir.with_name(workdir.name + served.SERVED_SUFFIX)


def own_file(root: Path, path: Path) -> bool:
    """A regular file really inside ``root`` (the sandboxed code may have planted links)."""
    return (path.is_file() and not path.is_symlink()
            and path.resolve().is_relative_to(root.resolve()))


def own_dir(root: Path, path: Path) -> bool:
    """A folder really inside ``root`` (not a planted link)."""
    return (path.is_dir() and not path.is_symlink()
            and path.resolve().is_relative_to(root.resolve()))


def artifacts_of(kernel_dir: Path, root: Path, private: Path) -> Path:
    """The values the kernel exported, or an empty folder when they are missing or planted."""
    artifacts = kernel_dir / kernel_export.ARTIFACTS
    if own_dir(root, artifacts):
        return artifacts
    empty = private / "no_artifacts"  # grade as "nothing exported"
    empty.mkdir(exist_ok=True)
    return empty


def autograder_seed(source: Path) -> int | None:
    """The seed the autograder's ``otter_config.json`` assigns (the version's)."""
    try:
        seed = json.loads((source / "otter_config.json").read_text(encoding="utf-8")).get("seed")
    except (OSError, ValueError, AttributeError):
        return None
    return int(seed) if isinstance(seed, int) and not isinstance(seed, bool) else None


def replay_dir(workdir: Path) -> Path:
    """Where the replay of the grading in ``workdir`` writes the grader's own trainings: a sibling
    of the work folder (the kernel's sandbox never sees it), read-only to the clean check."""
    return workdir.with_name(workdir.name + replay.RESULT_SUFFIX)


def replay_command(private: Path, artifacts: Path, seed: int, out: Path, cache: Path | None,
                   env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """(argv, environment) of the replay stage: the graded networks trained by the grader."""
    out.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", REPLAY_MODULE, str(artifacts), str(private / PARAMS_FILE), str(int(seed)),
            str(out)] + ([str(cache)] if cache is not None else [])
    return argv, dict(env, **{"MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3"})


def clean_check_command(private: Path, artifacts: Path, env: dict[str, str], *,
                        replays: Path | None = None) -> tuple[list[str], dict[str, str], list[Path]]:
    """(argv, environment, read-only paths) of the clean check of one submission.

    Its sandbox's work folder is ``clean_output(private)``, the only place it may write (its
    ``clean.json``); the private folder's ``CLEAN_INPUTS`` (the hidden tests among them) and the
    exported values are shown read-only.
    """
    from autograder import data

    run_env = dict(env, **CLEAN_CHECK_ENV, **{ENV_VAR: str(private / PARAMS_FILE)})
    run_env.setdefault("MPLBACKEND", "Agg")
    argv = [sys.executable, "-m", CLEAN_CHECK_MODULE, str(private), str(artifacts)]
    readonly = [artifacts.resolve()]
    out = clean_output(private)
    out.mkdir(parents=True, exist_ok=True)
    argv += ["--out", str(out.resolve())]
    readonly += [_readable(private / name) for name in CLEAN_INPUTS if (private / name).exists()]
    if replays is not None:
        argv[3:3] = ["--replay", str(replays.resolve())]
        readonly.append(replays.resolve())
    if run_env.get("KERAS_HOME"):
        readonly.append(Path(run_env["KERAS_HOME"]))
    try:
        readonly.append(data.source_dir().resolve())
    except Exception:  # no data set here: the clean check says what it misses itself
        pass
    return argv, run_env, [p for p in readonly if p.exists()]


def clean_output(private: Path) -> Path:
    """The clean check's writable folder (``CLEAN_OUTPUT``), where it writes ``clean.json``."""
    return private / CLEAN_OUTPUT


def _readable(path: Path) -> Path:
    """``path`` and what is in it readable by all: as root the sandboxed clean check runs as
    ``nobody`` and sees it through a read-only bind (a grader's strict umask must not hide it)."""
    for p in [path, *(path.rglob("*") if path.is_dir() else [])]:
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | (0o555 if p.is_dir() else 0o444))
    return path.resolve()


def read_clean(private: Path) -> dict:
    """The clean check's result (``ValueError`` when it is missing or unreadable)."""
    path = clean_output(private) / CLEAN_RESULT
    try:
        clean = untrusted.read(path, max_bytes=MAX_CLEAN_BYTES)  # ValueError: unreadable, too large, ...
    except OSError as exc:
        raise ValueError(f"no clean check result ({exc.strerror})") from None
    if not isinstance(clean, dict) or not isinstance(clean.get("tests"), list):
        raise ValueError("the clean check result is malformed")
    return clean
