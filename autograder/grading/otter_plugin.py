"""The kit's otter plugin: keep the notebook as otter executed it, and the seed otter sets.

otter loads a plugin by the dotted name in ``otter_config.json`` (``add_plugin`` writes
``autograder.grading.otter_plugin.SaveExecutedNotebook``): it imports this module and reads the
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
    """Ask otter to run ``SaveExecutedNotebook`` after grading (the kit's own, trusted code);
    set the seed otter assigns before every cell when ``seed`` is given."""
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    if seed is not None:
        config["seed"] = int(seed)
        config.setdefault("seed_variable", "SEED")
    plugins = list(config.get("plugins", []))
    if PLUGIN not in plugins:
        plugins.append(PLUGIN)
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
