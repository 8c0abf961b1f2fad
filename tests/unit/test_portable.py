"""The autograder zip's own requirements and kit code (``release.portable``)."""

from __future__ import annotations

import ast
import json
import tomllib
from pathlib import Path

from autograder.grading.otter_plugin import CLEAN_PLUGIN
from autograder.release import portable

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_modules_are_closed_under_imports():
    """Does every kit module the zip ships import only kit modules the zip ships too?"""
    shipped = set(portable.MODULES)
    for module in portable.MODULES:
        tree = ast.parse(portable.module_path(module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("autograder"):
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names
                                         if portable.module_path(f"{node.module}.{a.name}").is_file()]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("autograder")]
            for name in names:
                assert name in shipped, f"{module} imports {name}, which the zip does not ship"


def test_requirements_pin_what_the_kit_pins():
    """Are the zip's requirements the kit's own pins (TensorFlow as its CPU wheel)?"""
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    kit = {d.replace("tensorflow==", "tensorflow-cpu==") for d in deps}
    assert set(portable.REQUIREMENTS) == kit


def test_entries_name_the_clean_check_plugin_and_ship_the_kit():
    """Does the made-portable zip name the clean-check plugin once and carry the kit's code?"""
    entries = [("otter_config.json", json.dumps({"plugins": [CLEAN_PLUGIN]}).encode()),
               ("setup.sh", b"#!/usr/bin/env bash\n"), ("tests/q1.py", b"")]
    out = dict(portable.portable_entries(entries))
    assert json.loads(out["otter_config.json"])["plugins"] == [CLEAN_PLUGIN]
    assert "kit/autograder/grading/clean_check.py" in out and "kit/pyproject.toml" in out
    assert b"fashion_mnist.load_data()" in out["setup.sh"]
    assert out["tests/q1.py"] == b""
    assert portable.portable_entries(sorted(out.items())) == sorted(out.items())  # idempotent
