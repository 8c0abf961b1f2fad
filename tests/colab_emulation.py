"""Google Colab, emulated as far as it can be offline, for running a student notebook as Colab does.

What is emulated:

- **the interpreter otter-grader takes for Colab**: the kernel's shell is an instance of
  ``google.colab._shell.Shell`` (a subclass of ipykernel's shell, as on Colab), so
  ``str(get_ipython())`` names ``google.colab`` and otter 7 switches to its Colab mode (tests must
  be in ``./tests``, ``grader.export`` refuses to run);
- **a ``google.colab`` package**: ``files.download`` (the file is copied to the "browser's"
  downloads folder) and ``_message.blocking_request("get_ipynb")``, which returns the notebook as
  the page holds it, with Colab's own metadata only (the kit's is dropped: the worst case, since
  what Colab keeps of unknown metadata is not known here);
- **the working folder** ``/content``: a folder of its own that holds neither the notebook nor the
  tests nor ``kit_checks.py``; the cells are sent to the kernel one by one, as Colab's page does.

What is not: Colab's own Python packages and versions, its CPU (Intel, oneDNN on by default),
the install of otter-grader and matplotlib-fontja from PyPI (both are already in the kernel's
environment here), the download of Fashion-MNIST from Google's servers (the kit's verified copy
of the Debian package stands in), the browser and its download prompt.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from autograder import data, paths

_SHELL = """from ipykernel.zmqshell import ZMQInteractiveShell


class Shell(ZMQInteractiveShell):
    \"\"\"Colab's shell is ``google.colab._shell.Shell``; otter reads that name from str(shell).\"\"\"
"""

_FILES = """import os
import shutil


def download(filename):
    \"\"\"Colab sends the file to the browser; here the browser's downloads folder receives it.\"\"\"
    if not os.path.exists(filename):
        raise FileNotFoundError(f"Cannot find file: {filename}")
    shutil.copy(filename, os.environ["KIT_COLAB_DOWNLOADS"])
"""

_MESSAGE = """import json
import os


def blocking_request(request_type, request="", timeout_sec=5, parent=None):
    \"\"\"Colab asks its page; here the page's notebook is the file the emulating front end keeps.\"\"\"
    if request_type != "get_ipynb":
        raise ValueError(f"not emulated: {request_type}")
    with open(os.environ["KIT_COLAB_PAGE"], encoding="utf-8") as f:
        return {"ipynb": json.load(f)}
"""

_STARTUP = """import google.colab._shell

get_ipython().__class__ = google.colab._shell.Shell
"""

#: Python code that makes ``import otter`` fail in the kernel (a runtime where otter is missing
#: and cannot be installed), for the first cell's error path.
BLOCK_OTTER = """import sys


class _NoOtter:
    def find_spec(self, name, path=None, target=None):
        if name == "otter" or name.startswith("otter."):
            raise ImportError("No module named 'otter' (blocked by the Colab emulation)")
        return None


sys.meta_path.insert(0, _NoOtter())
"""


class Colab:
    """One emulated Colab runtime under ``root``: ``content`` (the working folder), ``downloads``."""

    def __init__(self, root: Path, *, extra_startup: str = "") -> None:
        self.root = root
        self.content = root / "content"
        self.downloads = root / "downloads"
        self.page = root / "page.ipynb"
        site = root / "site" / "google" / "colab"  # no google/__init__.py: a namespace, as protobuf's
        startup = root / "ipython" / "profile_default" / "startup"
        for d in (self.content, self.downloads, site, startup):
            d.mkdir(parents=True, exist_ok=True)
        (site / "__init__.py").write_text("", encoding="utf-8")
        (site / "_shell.py").write_text(_SHELL, encoding="utf-8")
        (site / "files.py").write_text(_FILES, encoding="utf-8")
        (site / "_message.py").write_text(_MESSAGE, encoding="utf-8")
        (startup / "00-colab.py").write_text(_STARTUP + extra_startup, encoding="utf-8")

    def env(self, threads: str = "default") -> dict[str, str]:
        env = dict(os.environ, KERAS_HOME=str(data.provide_keras_cache()),
                   PYTHONPATH=os.pathsep.join(filter(None, [str(self.root / "site"),
                                                            os.environ.get("PYTHONPATH")])),
                   IPYTHONDIR=str(self.root / "ipython"), KIT_COLAB_PAGE=str(self.page),
                   KIT_COLAB_DOWNLOADS=str(self.downloads))
        for key in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
                    "TF_ENABLE_ONEDNN_OPTS", "CUDA_VISIBLE_DEVICES", "TF_CPP_MIN_LOG_LEVEL"):
            env.pop(key, None)
        if threads != "default":
            env.update(TF_NUM_INTRAOP_THREADS=threads, TF_NUM_INTEROP_THREADS=threads)
        return env

    def run(self, nb: dict, *, threads: str = "default", only: list[int] | None = None,
            allow_errors: bool = False, timeout: int = 900) -> dict:
        """Send the code cells (all, or those indexed in ``only``) to a fresh kernel in order, the
        page keeping the notebook with its outputs; returns the executed notebook."""
        node = nbformat.reads(json.dumps(nb), as_version=4)
        if only is not None:
            keep = set(only)
            node.cells = [c for i, c in enumerate(node.cells) if i in keep]
        client = NotebookClient(node, kernel_name=paths.KERNEL_NAME, timeout=timeout,
                                allow_errors=allow_errors,
                                resources={"metadata": {"path": str(self.content)}})
        client.on_cell_start = lambda cell, cell_index: self._keep_page(client.nb)
        client.execute(env=self.env(threads))
        return json.loads(nbformat.writes(node))

    def _keep_page(self, node: nbformat.NotebookNode) -> None:
        self.page.write_text(json.dumps(colab_saved(json.loads(nbformat.writes(node)))),
                             encoding="utf-8")


def colab_saved(nb: dict) -> dict:
    """``nb`` as Colab's page would save it: Colab's metadata only, the kit's stamp dropped."""
    nb = copy.deepcopy(nb)
    nb["metadata"] = {"colab": {"provenance": []},
                      "kernelspec": {"name": "python3", "display_name": "Python 3"},
                      "language_info": {"name": "python"}}
    for cell in nb["cells"]:
        cell["metadata"] = {"id": cell.get("id", "")} if cell.get("id") else {}
    return nb
