"""Test tiers by folder: ``unit/`` (seconds), ``slow/`` (real kernels, the sandbox, kill -9),
``e2e/`` (real notebooks with real TensorFlow training). A test may name a slower tier itself
(``@pytest.mark.e2e``); it then runs only in that tier."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from tiny import tiny_autograder

from autograder.grading.verify.replay import CACHE_ENV

TIERS = ("unit", "slow", "e2e")
_HERE = Path(__file__).parent


#: The fast tier turns every warning into an error (as pypa/build's suite does), but for these
#: known ones of third-party code the kit cannot change.
UNIT_WARNINGS = (
    "error",
    # otter's import of traitlets-based nbconvert classes (otter-grader 7.0.0)
    "ignore:Traits should be given as instances, not types:DeprecationWarning",
)


def pytest_configure(config: pytest.Config) -> None:
    """One cache of verified trainings for the whole session (``grade --trainings``' default):
    the suite grades the published solutions many times, and each distinct training (network,
    seed) is then done once, by the first grading that needs it, as a TA's class folder does."""
    if not os.environ.get(CACHE_ENV):
        os.environ[CACHE_ENV] = tempfile.mkdtemp(prefix="fmnist-kit-trainings-")
        config._kit_trainings = os.environ[CACHE_ENV]  # removed at the end of the session


def pytest_unconfigure(config: pytest.Config) -> None:
    own = getattr(config, "_kit_trainings", None)
    if own:
        shutil.rmtree(own, ignore_errors=True)
        os.environ.pop(CACHE_ENV, None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        own = [t for t in TIERS if item.get_closest_marker(t)]
        if not own:
            folder = Path(item.path).relative_to(_HERE).parts[0]
            if folder not in TIERS:
                raise pytest.UsageError(f"{item.nodeid}: a test lives in tests/unit, tests/slow or tests/e2e")
            item.add_marker(getattr(pytest.mark, folder))
            own = [folder]
        if own == ["unit"]:  # the farthest mark: a test's own filterwarnings still wins
            item.add_marker(pytest.mark.filterwarnings(*UNIT_WARNINGS), append=False)


@pytest.fixture(scope="module")
def tiny_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny otter assignment's autograder zip (it grades in seconds, no TensorFlow)."""
    return tiny_autograder(tmp_path_factory.mktemp("ag") / "tiny-autograder.zip")
