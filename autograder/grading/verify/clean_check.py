"""Scores the student cannot forge: artifacts exported from the kernel, tests run in a clean process.

otter runs its tests inside the student's kernel and reads back what that kernel wrote, so a
submission that monkeypatches a checker, returns an object whose ``__eq__`` is always true or
writes a forged results file can score points it did not earn. The kit grades differently:

1. the student's kernel runs with the *public* tests only (``export.public_tests``); the hidden
   tests are not in its sandbox;
2. a cell appended by the kit (``export.export_cell``) writes the values the tests need as plain data
   into ``kit_artifacts/``: JSON for numbers, strings and histories, ``.npy`` without pickles
   for arrays, Keras JSON config plus ``.weights.h5`` for models;
3. the grader trains every graded network itself (``replay``, a process that runs no student
   code), from the exported architecture and the seed the grader derives;
4. a fresh process that runs no student code (``grade_clean``) rebuilds an environment from
   the exported files (``artifacts.load_environment``), puts the grader's own trainings in place
   of every history and of Part 1's model (``trusted``: the curves recorded in the submitted
   notebook count when they lie within the release's band of the replay), and runs all of
   otter's test files, hidden ones included, against it.

Nothing the kernel wrote is believed about a training, and nothing it wrote is unpickled.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from autograder.grading.verify import recorded as recorded_mod
from autograder.grading.verify import trusted
from autograder.grading.verify.artifacts import (
    KERAS,
    NO_NETWORKS,
    NUMPY,
    ArraySummary,
    ExportedFunction,
    Unreadable,
    load_environment,
    load_environment_path,
)
from autograder.grading.verify.curve_summary import curve_summary
from autograder.params import PARAMS_FILE

__all__ = ["KERAS", "NO_NETWORKS", "NUMPY", "ArraySummary", "ExportedFunction",
           "Unreadable", "grade_clean", "load_environment", "load_environment_path",
           "main", "usable_histories"]

#: The clean check's output in the private folder (written by the kit, never by the student).
CLEAN_RESULT = "clean.json"
def _keras_model_type() -> tuple[type, ...]:
    """The rebuilt networks' types: ``numpy_net.NumpyModel``, and ``keras.Model`` if Keras was
    loaded (only ``_load_model`` imports it): a submission whose networks NumPy evaluates is
    checked without loading TensorFlow."""
    from autograder.grading.verify.numpy_net import NumpyModel

    keras = sys.modules.get("keras")
    return (NumpyModel,) if keras is None else (NumpyModel, keras.Model)


def measured_test_accuracy(env: dict[str, Any]) -> float | None:
    """The test accuracy of the exported Part 1 model on the real test set (for the report)."""
    model = env.get("model")
    if not isinstance(model, _keras_model_type()):
        return None
    try:
        from autograder.checks import real_test_set

        x, y = real_test_set()
        probs = np.asarray(model.predict(x, verbose=0, batch_size=1000))
        return float(np.mean(np.argmax(probs, axis=1) == y))
    except Exception:
        return None


def _takes_function(case: Any, env: dict[str, Any]) -> bool:
    """Does a test case take a notebook function (not comparable between kernel and clean run)?"""
    try:
        names = case._get_func_params()
    except Exception:
        return True
    return any(isinstance(env.get(n), ExportedFunction) for n in names)


def grade_clean(artifacts: Path, tests_dir: Path, params: dict[str, Any],
                recorded: dict[str, dict[str, list[float]]] | None = None, *,
                replays: Path | None = None, use_numpy: bool = True) -> dict[str, Any]:
    """Run every otter test file against the rebuilt environment; Gradescope-style result.

    ``replays``: the folder of the grader's own trainings (``replay``); what the tests see of
    each graded network's curves and of Part 1's model comes from there (``trusted``), compared
    with ``recorded``, the curves recorded in the submitted notebook (``recorded.STUDENT_CURVES``).
    The networks are evaluated with NumPy when all their layers are known (the tests then see
    ``numpy_net.keras_view`` as ``keras``), else with Keras; ``networks`` in the result says which.
    """
    from contextlib import nullcontext

    from autograder.grading.verify.numpy_net import keras_view

    ExceptionTestFile = otter_test_files().ExceptionTestFile  # noqa: N806 - otter's class

    env, problems, path, why = load_environment_path(artifacts, use_numpy=use_numpy)
    # no networks at all (a blank notebook): nothing needs TensorFlow either (~11 s of import)
    with keras_view() if path in (NUMPY, NO_NETWORKS) else nullcontext():
        result = _grade_env(env, problems, tests_dir, params, recorded, replays, ExceptionTestFile)
    result["networks"] = path
    if why:
        result["notes"].append(f"networks evaluated with Keras ({why})")
    return result


def believe_only_trainings(env: dict[str, Any], params: dict[str, Any],
                           recorded: dict[str, dict[str, list[float]]] | None,
                           replays: Path | None) -> tuple[list[str], list[str], dict[str, float | None]]:
    """Put the grader's own trainings in place of what the kernel said (``trusted``); return
    (flags, notes, each recorded curve's distance from its replay)."""
    band = float(params.get("curve_band", 0.0))
    trained, refused = trusted.load(replays)
    flags, notes, differences, matched = trusted.apply_histories(env, trained, refused, recorded or {}, band)
    part1_flags, part1_matched = trusted.apply_part1(env, trained, refused, band, _keras_model_type())
    notes += trusted.apply_summaries(env, part1_matched or matched > 0)
    return flags + part1_flags, notes, differences


def _grade_env(env: dict[str, Any], problems: list[str], tests_dir: Path, params: dict[str, Any],
               recorded: dict[str, dict[str, list[float]]] | None, replays: Path | None,
               test_file: type) -> dict[str, Any]:
    flags, notes, differences = believe_only_trainings(env, params, recorded, replays)
    problems += flags
    tests, gradescope = [], []
    for path in sorted(tests_dir.glob("*.py")):
        tf = test_file.from_file(str(path))
        # A public check that calls a notebook function (build_network(4)) ran in the kernel
        # already and carries no points; here it could only fail, so it is left out.
        tf.test_cases = [tc for tc in tf.test_cases
                         if tc.hidden or not _takes_function(tc.body, env)]
        tf.run(dict(env))
        public = [r.passed for r in tf.test_case_results if not r.test_case.hidden]
        tests.append({"name": tf.name, "score": tf.score, "max_score": tf.possible,
                      "output": tf.summary(), "public_passed": all(public) if public else None})
        gradescope.append({"name": tf.name, "score": tf.score, "max_score": tf.possible,
                           "visibility": "visible", "output": tf.summary()})
    total = sum(t["score"] for t in tests)
    return {"tests": tests, "problems": problems, "notes": notes,
            "test_accuracy": measured_test_accuracy(env),
            "curves": curve_summary(env, params, usable_histories(env), differences),
            "gradescope": {"score": total, "tests": gradescope}}


def otter_test_files():
    """What runs otter's test files (``ExceptionTestFile``, ``test_case``), loading only that.

    Importing any part of otter runs its package ``__init__`` (otter's whole API: nbconvert, the
    exporters, ...), and ``otter.test_files`` imports every test format (IPython, nbformat's
    validator, ...): together about 0.9 s of CPU the clean check does not need. When otter is not
    imported yet, ``otter`` and ``otter.test_files`` are registered bare (their paths, no
    ``__init__``) and only the two modules of the exception format load (standard library only);
    the test files' own ``from otter.test_files import test_case`` then finds it. Where otter is
    already imported, it is used as it is.
    """
    import importlib.machinery
    import importlib.util

    if "otter" in sys.modules:
        import otter.test_files

        return otter.test_files
    spec = importlib.util.find_spec("otter")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("otter-grader is not installed")
    for name, path in (("otter", list(spec.submodule_search_locations)),
                       ("otter.test_files", [str(Path(spec.submodule_search_locations[0]) / "test_files")])):
        bare = importlib.util.module_from_spec(importlib.machinery.ModuleSpec(name, None, is_package=True))
        bare.__path__ = path
        sys.modules[name] = bare
    import otter.test_files.exception_test as exception_test

    bare = sys.modules["otter.test_files"]
    bare.ExceptionTestFile, bare.test_case = exception_test.ExceptionTestFile, exception_test.test_case
    sys.modules["otter"].test_files = bare
    return bare


def usable_histories(env: dict[str, Any]) -> list[str]:
    """The ``hist_*`` variables the grader's trainings confirmed or replaced (``trusted``) and the
    curve analysis reads."""
    from autograder import curves

    out = []
    for name, h in sorted(env.items()):
        if not name.startswith("hist_") or isinstance(h, Unreadable | trusted.NotBelieved):
            continue
        try:
            curves.validated(h)
        except Exception:  # an unusable history: the readings tests report it
            continue
        out.append(name)
    return out


def read_recorded(private: Path) -> dict[str, dict[str, list[float]]]:
    """The student's recorded curves the grader wrote before the notebook ran (checked again)."""
    from autograder import untrusted
    from autograder.notebook import valid_curves

    path = private / recorded_mod.STUDENT_CURVES
    try:
        raw = untrusted.read(path, max_bytes=untrusted.MAX_NOTEBOOK_BYTES)
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    valid = {str(k): valid_curves(v) for k, v in raw.items() if isinstance(k, str) and k.isidentifier()}
    return {k: v for k, v in valid.items() if v is not None}


def main(argv: list[str] | None = None) -> int:
    """``python -m autograder.grading.verify.clean_check PRIVATE ARTIFACTS``: clean grading of one submission.

    PRIVATE holds ``tests/`` (all of them) and ``kit_params.json``; the result is written to
    ``PRIVATE/clean.json``, or to ``DIR/clean.json`` with ``--out DIR`` (the kit's sandbox shows
    PRIVATE read-only). ARTIFACTS is what the notebook's export cell wrote.
    """
    import os

    from autograder import params as params_mod

    args = sys.argv[1:] if argv is None else argv
    use_numpy = "--keras" not in args  # --keras: rebuild the networks with Keras (comparisons)
    args = [a for a in args if a != "--keras"]
    out = None
    if "--out" in args[:-1]:  # --out DIR: where clean.json goes (then PRIVATE may be read-only)
        i = args.index("--out")
        out, args = Path(args[i + 1]), args[:i] + args[i + 2:]
    replays = None
    if "--replay" in args[:-1]:  # --replay DIR: the grader's own trainings (``replay``)
        i = args.index("--replay")
        replays, args = Path(args[i + 1]), args[:i] + args[i + 2:]
    if len(args) != 2:
        print("usage: python -m autograder.grading.verify.clean_check [--keras] [--replay DIR] [--out DIR] "
              "PRIVATE ARTIFACTS", file=sys.stderr)
        return 2
    private, artifacts = Path(args[0]), Path(args[1])
    params_file = private / PARAMS_FILE
    os.environ[params_mod.ENV_VAR] = str(params_file)
    os.chdir(private)
    sys.path.insert(0, str(private / "source" / "files"))  # kit_checks.py, for the public tests
    params = params_mod.load(params_file) if params_file.is_file() else {}
    result = grade_clean(artifacts, private / "tests", params, read_recorded(private),
                         replays=replays, use_numpy=use_numpy)
    ((out or private) / CLEAN_RESULT).write_text(json.dumps(result, ensure_ascii=False, indent=1),
                                        encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
