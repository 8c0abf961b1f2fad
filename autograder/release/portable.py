"""The autograder zip stands on its own: what ``otter run`` or Gradescope needs beside otter's files.

``otter assign`` writes a zip whose ``environment.yml`` installs otter alone; its hidden tests
import the kit. ``portable_entries`` adds, reproducibly:

- ``requirements.txt``: the kit's pinned libraries (TensorFlow CPU, Keras, numpy, pandas,
  matplotlib and its Japanese font, otter-grader, the Jupyter kernel);
- ``kit/``: the kit's own package (``autograder``: checks, readings, the clean check, the otter
  plugin) with a ``pyproject.toml``, installed by ``pip install ./kit``;
- ``otter_config.json`` naming the plugin ``CleanCheck``: otter then grades in two stages (the
  kernel exports the values, a fresh process scores them), so the score does not come from the
  student's kernel under plain ``otter run`` or on Gradescope either;
- ``environment.yml`` (Python 3.11, the requirements and the kit) and a ``setup.sh`` that also
  downloads Fashion-MNIST into the Keras cache when the image is built (Gradescope images have
  the network while they are built, not while they grade).
"""

from __future__ import annotations

import json
from pathlib import Path

from autograder.grading.execution.otter_plugin import CLEAN_PLUGIN

#: What only the batch grader needs (Dask and the job queues: a zip grades one submission).
COORDINATOR_ONLY = ("distributed", "dask-jobqueue", "cryptography")
#: The kit's pins (pyproject.toml) but ``COORDINATOR_ONLY``, with TensorFlow's CPU-only wheel (no
#: CUDA libraries).
REQUIREMENTS = (
    "tensorflow-cpu==2.21.0",
    "keras==3.15.1",
    "otter-grader==7.0.0",
    "numpy==2.4.6",
    "pandas==3.1.1",
    "matplotlib==3.11.2",
    "matplotlib-fontja==1.1.0",
    "ipykernel==7.4.0",
    "nbformat==5.11.1",
    "nbclient==0.11.0",
    "psutil==7.2.2",
)

KIT_PYPROJECT = """[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "fmnist-kit-grading"
version = "{version}"
description = "The checks and the clean check of the fmnist overfitting kit, shipped in its autograder zip"
requires-python = ">=3.11,<3.14"

[tool.setuptools]
packages = {packages}
"""

ENVIRONMENT_YML = """name: otter-env
channels:
  - conda-forge
dependencies:
  - python=3.11
  - pip
  - pip:
      - -r /autograder/source/requirements.txt
      - /autograder/source/kit
"""

#: Appended to otter's setup.sh: fetch Fashion-MNIST while the image is built; the kit verifies
#: the four files' SHA-256 from the Keras cache when it grades (``data.source_dir``).
SETUP_DATA = """
# fmnist-kit: Fashion-MNIST into the Keras cache (~/.keras/datasets/fashion-mnist), verified at grading
mamba run -n otter-env python -c "import keras; keras.datasets.fashion_mnist.load_data()"
"""


#: The kit's modules the zip ships: the hidden tests' API and the clean check with all they
#: import (a unit test checks the list is closed under imports), nothing of batch grading,
#: publishing or reports, so a change there does not change the published zips.
MODULES = (
    "autograder", "autograder.checks", "autograder.curves", "autograder.data", "autograder.errors",
    "autograder.forms", "autograder.notebook", "autograder.params", "autograder.readings",
    "autograder.untrusted",
    "autograder.grading",
    "autograder.grading.execution", "autograder.grading.execution.otter_plugin",
    "autograder.grading.execution.pipeline", "autograder.grading.execution.sandbox",
    "autograder.grading.verify", "autograder.grading.verify.artifacts",
    "autograder.grading.verify.clean_check",
    "autograder.grading.verify.curve_summary", "autograder.grading.verify.kernel_export",
    "autograder.grading.verify.numpy_net", "autograder.grading.verify.recorded",
    "autograder.grading.verify.replay", "autograder.grading.verify.trusted",
    "autograder.grading.verify.served", "autograder.grading.verify.trainings",
)


def module_path(module: str) -> Path:
    import autograder

    root = Path(autograder.__file__).resolve().parent.parent
    path = root / (module.replace(".", "/") + ".py")
    return path if path.is_file() else root / module.replace(".", "/") / "__init__.py"


def kit_sources() -> list[tuple[str, bytes]]:
    """``kit/autograder/...``: the modules in ``MODULES`` as they are here, sorted."""
    import autograder

    root = Path(autograder.__file__).resolve().parent.parent
    return sorted((f"kit/{module_path(m).relative_to(root).as_posix()}", module_path(m).read_bytes())
                  for m in MODULES)


def portable_entries(entries: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """otter's zip entries made portable (see the module); the others are kept as they are."""
    from autograder import __version__

    by_name = dict(entries)
    config = json.loads(by_name.get("otter_config.json", b"{}"))
    plugins = [p for p in config.get("plugins", []) if p != CLEAN_PLUGIN]
    config["plugins"] = [*plugins, CLEAN_PLUGIN]
    # otter refuses a notebook whose metadata lacks this name (a download from Colab may);
    # the clean check plugin decides instead (the kit's stamp, else the questions)
    config.pop("assignment_name", None)
    by_name["otter_config.json"] = (json.dumps(config, indent=2) + "\n").encode()
    by_name["requirements.txt"] = ("\n".join(REQUIREMENTS) + "\n").encode()
    by_name["environment.yml"] = ENVIRONMENT_YML.encode()
    setup = by_name.get("setup.sh", b"#!/usr/bin/env bash\nset -e\n").decode()
    if SETUP_DATA not in setup:
        setup += SETUP_DATA
    by_name["setup.sh"] = setup.encode()
    sources = kit_sources()
    packages = sorted({str(Path(n).parent.relative_to("kit")).replace("/", ".") for n, _ in sources})
    by_name["kit/pyproject.toml"] = KIT_PYPROJECT.format(version=__version__,
                                                         packages=json.dumps(packages)).encode()
    by_name.update(sources)
    return sorted(by_name.items())
