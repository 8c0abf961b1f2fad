"""Stage A's process: runs otter's autograder on one prepared folder, in its own process.

Invoked as ``python -m autograder.grading.execution.otter_stage AG_DIR``. AG_DIR has otter's
layout (``source/`` with the unzipped autograder, ``submission/`` with one notebook,
``results/``); otter writes
``results/results.json`` there. Running it in a separate process means the kit's own process
never loads anything the submission's kernel wrote, and a crash or hang is contained.

``run`` is otter's ``run_autograder.main`` (otter 7.0.0) without its closing summary: otter prints
the score table through pandas, which it imports when its module loads; the kit reads
``results.json`` instead, so pandas is deferred here (``Deferred``) and never loaded (measured:
importing pandas is ≈0.4 s of CPU per grading, ≈1% of a grading's whole cost). Everything else (the
configuration, the runner, the zips option, ``results.pkl``, ``results.json`` written even when
otter stops with an error) is otter's own code, called in otter's order.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import types
from contextlib import nullcontext

#: Modules otter imports at load time and uses only in the summary the worker does not print.
DEFERRED_MODULES = ("pandas",)


class Deferred(types.ModuleType):
    """A stand-in in ``sys.modules`` that imports the real module on its first use.

    ``import pandas as pd`` binds the stand-in without running pandas (its ``__spec__`` is the
    real one, so the import system sees a loaded module); ``pd.DataFrame`` or a submodule import
    loads the real module then, puts it in ``sys.modules`` and answers from it.
    (``importlib.util.LazyLoader`` does not do here: on Python 3.11 the import statement's own
    look at ``__spec__`` already triggers the load.)
    """

    def __getattr__(self, attr: str):
        return getattr(load(self.__name__), attr)


def defer_import(name: str) -> None:
    """Put a ``Deferred`` stand-in for ``name`` in ``sys.modules`` (nothing if already imported)."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return  # not installed: the importer's own error says so
    stand_in = Deferred(name)
    stand_in.__spec__ = spec
    sys.modules[name] = stand_in


def load(name: str) -> types.ModuleType:
    """The real module ``name``, imported now if only its stand-in is there."""
    module = sys.modules.get(name)
    if isinstance(module, Deferred):
        del sys.modules[name]
        module = importlib.import_module(name)
    return module


def run(autograder_dir: str) -> None:
    """Grade the folder as ``otter.run.run_autograder.main(dir, otter_run=True, logo=False)``."""
    for name in DEFERRED_MODULES:
        defer_import(name)
    import zipfile
    from glob import glob

    import dill
    from otter import logging
    from otter.run.run_autograder import create_runner
    from otter.run.run_autograder.utils import OtterRuntimeError
    from otter.utils import OTTER_CONFIG_FILENAME, chdir

    config_fp = os.path.join(autograder_dir, "source", OTTER_CONFIG_FILENAME)
    config = {}
    if os.path.isfile(config_fp):
        with open(config_fp, encoding="utf-8") as f:
            config = json.load(f)
    runner = create_runner(config, autograder_dir=autograder_dir, logo=False, debug=False)
    runner.ag_config.otter_run = True
    ctx = nullcontext()
    if runner.ag_config.log_level is not None:
        ctx = logging.level_context(runner.ag_config.log_level)
    with ctx, chdir(os.path.abspath(runner.ag_config.autograder_dir)):
        output = None
        try:
            if runner.ag_config.zips:
                with chdir("./submission"):
                    zips = glob("*.zip")
                    if len(zips) > 1:
                        raise OtterRuntimeError(
                            "More than one zip file found in submission and 'zips' config is true")
                    with zipfile.ZipFile(zips[0]) as zf:
                        zf.extractall()
            runner.prepare_files()
            scores = runner.run()
            with open("results/results.pkl", "wb+") as f:
                dill.dump(scores, f)
            output = scores.to_gradescope_dict(runner.ag_config)
        except OtterRuntimeError as e:
            output = {"score": 0, "stdout_visibility": "hidden", "tests": [{
                "name": "Autograder Error",
                "output": f"Otter encountered an error when grading this submission:\n\n{e}"}]}
            raise
        finally:
            if output is not None:
                with open("./results/results.json", "w+") as f:
                    json.dump(output, f, indent=4)
    scored = [t for t in output.get("tests", []) if "score" in t]
    print(f"otter: {len(scored)} test(s) graded, "
          f"{sum(t['score'] for t in scored):g} / {sum(t.get('max_score', 0) for t in scored):g} points "
          "in the kernel (the clean check decides)")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m autograder.grading.execution.otter_stage AG_DIR", file=sys.stderr)
        return 2
    run(args[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
