"""The kit's otter plugin: keep the notebook as otter executed it, and the seed otter sets.

otter loads a plugin by the dotted name in ``otter_config.json`` (``add_plugin`` writes
``autograder.grading.execution.otter_plugin.SaveExecutedNotebook``): it imports this module and reads the
attribute, which the module ``__getattr__`` builds on first use, so importing this module does
not import otter.
"""

from __future__ import annotations

import json
from pathlib import Path

#: Written by ``SaveExecutedNotebook`` (run by otter after grading, not by student code).
EXECUTED_NOTEBOOK = "executed.ipynb"
PLUGIN = f"{__name__}.SaveExecutedNotebook"


def add_plugin(config_path: Path, seed: int | None = None) -> None:
    """Ask otter to run ``SaveExecutedNotebook`` after grading (the kit's own, trusted code),
    not the zip's ``CleanCheck`` (the kit runs the clean check as its own stage); set the seed
    otter assigns before every cell when ``seed`` is given."""
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    if seed is not None:
        config["seed"] = int(seed)
        config.setdefault("seed_variable", "SEED")
    # the kit's own grading runs the clean check itself, outside the sandbox of the kernel
    plugins = [p for p in config.get("plugins", []) if p not in (CLEAN_PLUGIN, *OLD_CLEAN_PLUGINS)]
    if PLUGIN not in plugins:
        plugins.append(PLUGIN)
    config["plugins"] = plugins
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")


def __getattr__(name: str):
    """``SaveExecutedNotebook`` is built on first use, so importing this module stays light."""
    if name == "SaveExecutedNotebook":
        return _save_executed_plugin()
    if name == "CleanCheck":
        return _clean_check_plugin()
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


# --------------------------------------------------------------------------- the zip's own plugin

#: The plugin the published autograder zip names in its ``otter_config.json``: under plain
#: ``otter run`` and on Gradescope the score comes from the kit's clean check, not the kernel.
CLEAN_PLUGIN = f"{__name__}.CleanCheck"
#: What zips published before ``grading/`` was split by stage name instead (each carries its own
#: kit, so it still grades on its own; the kit's ``grade`` takes it out of their config too).
OLD_CLEAN_PLUGINS = ("autograder.grading.otter_plugin.CleanCheck",)


def _clean_check_plugin() -> type:
    import shutil
    import tempfile

    from otter.plugins import AbstractOtterPlugin

    from autograder.grading.execution import pipeline
    from autograder.notebook import read_json_notebook
    from autograder.params import PARAMS_FILE

    class _CleanTest:
        """One test file's result as the clean check measured it (what otter reports)."""

        def __init__(self, t: dict) -> None:
            self.name, self.score, self.possible = str(t["name"]), float(t["score"]), float(t["max_score"])
            self._output = str(t.get("output", ""))
            self.all_public = False
            self.passed_all_public = bool(t.get("public_passed", True))

        def summary(self, public_only: bool = False) -> str:
            return "" if public_only else self._output

    class CleanCheck(AbstractOtterPlugin):
        """otter plugin: the kit's two-stage grading (``pipeline``) inside otter's own runner.

        ``before_grading``: the preparation steps (``pipeline.PREPARE``): the full tests move to a
        private folder, the kernel keeps the public ones. ``before_execution``: the kit's export
        cell is appended. ``after_grading``: the clean check runs in a fresh process (in
        bubblewrap where it works) on the exported values, and its scores replace the kernel's.
        """

        def before_grading(self, ag_config) -> None:
            sub = Path(self.submission_path).resolve()
            self.private = Path(tempfile.mkdtemp(prefix="fmnist-kit-clean-"))
            nb = read_json_notebook(sub)
            pipeline.prepare(pipeline.Layout(tests=sub.parent / "tests",
                                             files=sub.parent.parent / "source" / "files",
                                             private=self.private, notebook=nb))
            self.stamp_problem = release_problem(nb, self.private / PARAMS_FILE, self.private / "tests")
            seed = getattr(ag_config, "seed", None)  # the zip's seed: the version's
            self.seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else None

        def before_execution(self, nb):
            import nbformat

            nb.cells.append(nbformat.v4.new_code_cell(pipeline.export_cell_source(self.private)))
            return nb

        def after_grading(self, results) -> None:
            kernel_dir = Path(self.submission_path).resolve().parent
            artifacts = pipeline.artifacts_of(kernel_dir, kernel_dir, self.private)
            replays = run_replay(self.private, artifacts, self.seed)
            clean = run_clean_check(self.private, artifacts, replays)
            tests = [_CleanTest(t) for t in clean["tests"]]
            if self.stamp_problem:
                for t in tests:
                    t.score = 0.0
            results.results = {t.name: t for t in tests}
            lines = [self.stamp_problem] if self.stamp_problem else []
            lines += [f"flag: {p}" for p in clean.get("problems", [])]
            lines.append(f"fmnist-kit clean check: networks evaluated by {clean.get('networks', '?')}")
            results.set_output("\n".join(lines))
            shutil.rmtree(self.private, ignore_errors=True)
            shutil.rmtree(replays, ignore_errors=True)

    return CleanCheck


def release_problem(nb: dict, params_file: Path, tests: Path) -> str:
    """Why this autograder must not score ``nb`` ("" when it may): another assignment, or
    another version by the notebook's stamp.

    The zip's ``otter_config.json`` names no assignment (otter would refuse a notebook
    without ``metadata.otter.assignment_name``, which Google Colab may drop), so the check
    is here: the notebook's own name for itself, else its questions.
    """
    from autograder.notebook import assignment_problem, stamp_of

    try:
        release = json.loads(params_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    questions = sorted(p.stem for p in tests.glob("*.py"))
    problem = assignment_problem(nb, str(release.get("assignment", "")), questions)
    if problem:
        return f"wrong assignment: {problem}: score 0"
    want, got = str(release.get("version", "")), str(stamp_of(nb).get("version", ""))
    if want and got and got != want:
        return (f"wrong version: this notebook is version {got}, this autograder grades version "
                f"{want}: score 0 (grade it with the autograder of version {got})")
    return ""


def run_replay(private: Path, artifacts: Path, seed: int | None) -> Path:
    """The grader's own trainings of the graded networks (``replay``), in a fresh process that runs
    no student code; the folder they are in (empty without a seed: then nothing is believed)."""
    import os
    import subprocess

    from autograder.grading.execution import pipeline

    out = private.with_name(private.name + ".replay")
    out.mkdir(exist_ok=True)
    if seed is None:
        return out
    from autograder.grading.verify.replay import CACHE_ENV

    cache = Path(os.environ[CACHE_ENV]) if os.environ.get(CACHE_ENV) else None
    argv, env = pipeline.replay_command(private, artifacts, seed, out, cache, dict(os.environ))
    proc = subprocess.run(argv, cwd=out, env=env, capture_output=True, text=True,
                          timeout=4 * pipeline.CLEAN_TIMEOUT)
    if proc.returncode != 0:
        raise RuntimeError(f"the kit's own training failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return out


def run_clean_check(private: Path, artifacts: Path, replays: Path | None = None) -> dict:
    """The clean check on ``artifacts`` in a fresh process (in bubblewrap where it works)."""
    import os
    import subprocess

    from autograder.grading.execution import pipeline, sandbox
    argv, env, readonly = pipeline.clean_check_command(private, artifacts, dict(os.environ), replays=replays)
    if sandbox.probe().available:
        argv = sandbox.command(argv, workdir=pipeline.clean_output(private), readonly=readonly, env=env)
    # twice the kit's own limit: Gradescope's default container has half a CPU
    proc = subprocess.run(argv, cwd=pipeline.clean_output(private), env=env, capture_output=True, text=True,
                          timeout=2 * pipeline.CLEAN_TIMEOUT)
    if proc.returncode == 0:
        try:
            return pipeline.read_clean(private)
        except ValueError:
            pass
    raise RuntimeError(f"the kit's clean check failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
