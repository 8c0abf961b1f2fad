"""Fixtures the unit tests of version files and rendering share."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from kit_constants import SLUG

from autograder import paths


@pytest.fixture()
def kit(tmp_path: Path) -> Path:
    """A copy of the assignment folder to write version files into."""
    root = tmp_path / "kit"
    shutil.copytree(paths.repo_root() / "assignments" / SLUG, root / "assignments" / SLUG)
    return root
