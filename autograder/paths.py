"""Where the kit's folders are: the repository holding ``assignments/`` etc."""

from __future__ import annotations

import os
from pathlib import Path

from autograder.errors import KitError

ENV_ROOT = "FMNIST_KIT_ROOT"
KERNEL_NAME = "fmnist-kit"


def repo_root() -> Path:
    """The kit checkout: ``$FMNIST_KIT_ROOT``, else the folder above this package."""
    explicit = os.environ.get(ENV_ROOT)
    root = Path(explicit) if explicit else Path(__file__).resolve().parent.parent
    if not (root / "assignments").is_dir():
        raise KitError(
            f"no assignments/ folder in {root}",
            hint=f"run the kit from its checkout, or set {ENV_ROOT} to the checkout's path",
        )
    return root


def master_notebook(slug: str, root: Path | None = None) -> Path:
    root = repo_root() if root is None else root
    path = root / "assignments" / slug / f"{slug}.ipynb"
    if not path.is_file():
        known = sorted(p.name for p in (root / "assignments").iterdir() if p.is_dir())
        raise KitError(
            f"no master notebook for assignment {slug!r} (looked for {path})",
            hint=f"known assignments: {', '.join(known) or 'none'}",
        )
    return path


def student_dir(slug: str, version: str, root: Path | None = None) -> Path:
    """What is handed out for one version: ``student_template/<slug>/<version>/``."""
    return (repo_root() if root is None else root) / "student_template" / slug / version


def solution_dir(slug: str, version: str, root: Path | None = None) -> Path:
    """Solution, autograder and manifest of one version: ``solutions/<slug>/<version>/``."""
    return (repo_root() if root is None else root) / "solutions" / slug / version


def autograder_zip(slug: str, version: str, root: Path | None = None) -> Path:
    return solution_dir(slug, version, root) / "autograder.zip"
