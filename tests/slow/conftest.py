"""The tiny fake autograder the slow tests grade with (it grades in seconds, no TensorFlow)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

SCENARIO = Path(__file__).parent / "scenarios" / "tiny"


@pytest.fixture(scope="module")
def tiny_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ag") / "tiny-autograder.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for f in sorted(SCENARIO.rglob("*")):
            if f.is_file() and f.name != "README.md":
                zf.write(f, f.relative_to(SCENARIO).as_posix())
    return path
