"""The architecture drawing (the README's, or docs/dev/architecture.md's once it moves there) is
the package as it is: every module named, none invented."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def drawing() -> str:
    """The first fenced block that draws ``autograder/``, in the architecture page or the README."""
    for path in (ROOT / "docs" / "dev" / "architecture.md", ROOT / "README.md"):
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, re.S | re.M):
            if re.search(r"^autograder/", block, re.M):
                return block
    return ""


def drawn_modules() -> set[str]:
    """The ``autograder/`` paths the drawing names (``grading/run_one.py``)."""
    block = drawing()
    found: set[str] = set()
    folders: list[tuple[int, str]] = []
    for line in block.splitlines():
        name = re.split(r"\s{2,}", line.strip(), maxsplit=1)[0]
        if not name or line.startswith(" " * 28):  # a description's second line
            continue
        indent = len(line) - len(line.lstrip())
        folders = [(i, f) for i, f in folders if i < indent]
        if name.endswith("/") and " " not in name:
            folders.append((indent, name))
            continue
        where = "".join(f for _, f in folders)
        for part in name.split(", "):
            if part.endswith(".py"):
                found.add(where + part)
    return {p[len("autograder/"):] for p in found if p.startswith("autograder/")}


def test_the_architecture_drawing_names_every_module_and_no_other():
    """Does the README's layout name each module of ``autograder/`` (but ``__init__``), and only those?"""
    package = ROOT / "autograder"
    modules = {p.relative_to(package).as_posix() for p in package.rglob("*.py") if p.name != "__init__.py"}
    drawn = drawn_modules()
    assert drawn, "no drawing of autograder/ found"
    assert sorted(modules - drawn) == [], "modules missing from the drawing"
    assert sorted(drawn - modules) == [], "drawn, but not in the code"
