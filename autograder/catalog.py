"""What is published: the assignment, its released versions and their manifests.

Read by grading (which version a submission belongs to), by the CLI and the tools (the default
version of the demo and the bench); written only by ``release.publish``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from autograder import paths
from autograder.errors import KitError, PublishError

#: The one assignment this kit ships.
SLUG = "3-2-overfitting"
#: A release's record of itself, beside its ``autograder.zip``.
MANIFEST = "manifest.json"
#: The form checks as they ship to students and inside the autograder zip (``forms.py``).
SUPPORT_MODULE = "kit_checks.py"


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PublishError(f"cannot read the release manifest {path}: {exc}",
                           hint="publish the version again") from None
    if not isinstance(data, dict) or "version" not in data:
        raise PublishError(f"{path} is not a release manifest", hint="publish the version again")
    return data


def published(slug: str, root: Path | None = None) -> dict[str, dict[str, Any]]:
    """Version id -> manifest, for every published version of ``slug``."""
    base = (paths.repo_root() if root is None else root) / "solutions" / slug
    out = {}
    if base.is_dir():
        for d in sorted(base.iterdir()):
            if (d / MANIFEST).is_file() and (d / "autograder.zip").is_file():
                out[d.name] = read_manifest(d / MANIFEST)
    return out


def default_version(slug: str, root: Path | None = None) -> str:
    """The newest published version without per-student variants (the demo's and bench's)."""
    plain = [v for v, m in published(slug, root).items() if not m.get("params", {}).get("variants")]
    if not plain:
        raise KitError(f"no published version of {slug} without per-student variants",
                       hint=f"publish one: python -m autograder publish {slug} --version V")
    return plain[-1]
