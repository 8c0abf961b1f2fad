"""Rendering a version into the master: constants, placeholders, rule prompts, English-only."""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
from kit_constants import SLUG

from autograder import paths
from autograder.errors import PublishError
from autograder.release import render, versions


def _master() -> dict:
    return json.loads(paths.master_notebook(SLUG).read_text(encoding="utf-8"))


def _code(nb: dict) -> str:
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


def test_render_sets_every_constant_and_the_otter_seed():
    """Does rendering put each version value into its master constant and otter's seed config?"""
    v = versions.load(SLUG, "2027")
    nb = render.render_master(_master(), v)
    code = _code(nb)
    for const, key in versions.CONSTANTS.items():
        assert re.search(rf"^{const} = {re.escape(render.literal(v[key]))}(\s|$)", code, re.M), const
    config = "".join(nb["cells"][0]["source"])
    assert "autograder_value: 2027" in config and "student_value: 2027" in config
    text = "".join("".join(c["source"]) for c in nb["cells"])
    assert "{{" not in text and "Bigger（256+256）" in text and "Bigger (256+256)" in text


def test_render_refuses_a_master_that_disagrees(kit: Path):
    """Are a missing constant and an unknown placeholder refused, naming what is wrong?"""
    v = versions.load(SLUG, "2026")
    nb = _master()
    for c in nb["cells"]:
        c["source"] = "".join(c["source"]).replace("UNITS_BIGGER = 256", "BIG = 256")
    with pytest.raises(PublishError, match=r"UNITS_BIGGER \(0 times\)"):
        render.render_master(nb, v)
    nb = _master()
    nb["cells"][1]["source"] = "Bigger has {{units_biggest}} units"
    with pytest.raises(PublishError, match=r"master cell 1: unknown placeholder \{\{units_biggest\}\}"):
        render.render_master(nb, v)


def _q9(nb: dict) -> dict:
    return next(c for c in nb["cells"] if "".join(c["source"]).startswith("### 問9"))


def test_render_refuses_a_rule_prompt_that_states_other_numbers():
    """Is a prompt that types a threshold (instead of its placeholder) refused when the version's
    value differs, and one that leaves the threshold out refused too?"""
    v = versions.load(SLUG, "2026")
    nb = _master()
    cell = _q9(nb)
    cell["source"] = "".join(cell["source"]) + "\n（目安は 0.07 / as a guide, 0.07）"
    with pytest.raises(PublishError, match=r"\(Q9\): the prompt states 0\.07, 0\.07, which is not a "
                                           r"grading parameter of version 2026"):
        render.render_master(nb, v)
    nb = _master()
    cell = _q9(nb)
    cell["source"] = "".join(cell["source"]).replace("{{overfit_yes_at}}", "0.05 ")
    assert render.render_master(nb, v)  # the right number typed in: stated
    cell["source"] = "".join(cell["source"]).replace("0.05 ", "0.07")
    with pytest.raises(PublishError, match=r"\(Q9\): the prompt does not state overfit_yes_at = 0\.05"):
        render.render_master(nb, v)
    exact = dataclasses.replace(v, values=dict(v.values, epoch_tol=0.0))
    q7 = "".join(next(c for c in render.render_master(_master(), exact)["cells"]
                      if "".join(c["source"]).startswith("### 問7"))["source"])
    assert "ちょうど" in q7 and "Only exactly that epoch" in q7 and "0.0" not in q7


def test_english_only_rendering_leaves_no_japanese_prompt():
    """With language = "en", is every Markdown cell English only, and the code unchanged in meaning?"""
    v = versions.load(SLUG, "2026")
    en = dataclasses.replace(v, values=dict(v.values, language="en"))
    nb = render.render_master(_master(), en)
    ja = render.render_master(_master(), v)
    md = [("".join(c["source"])) for c in nb["cells"] if c["cell_type"] == "markdown"]
    assert md and not any(render._JAPANESE.search(m) for m in md)
    assert any(m.startswith("## Build the model") for m in md)
    assert any("1. `Flatten`: turn a 28×28 image" in m for m in md)
    assert any("- **dropout**: randomly disabling connections" in m for m in md)
    strip = re.compile(r"#.*$|\"\"\".*\"\"\"", re.M)  # comments and one-line docstrings differ
    assert strip.sub("", _code(nb)) == strip.sub("", _code(ja))
