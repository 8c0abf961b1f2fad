"""JSON from the student's side is read with caps (``autograder.untrusted``): a file built to break
the parser is ``invalid`` with a reason and the batch goes on (issue 33, hardening)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import corpus
import pytest
from kit_constants import SLUG

from autograder import cli, untrusted
from autograder.grading.execution import run_one
from autograder.notebook import recorded_curves
from autograder.results import Status

DEEP = "[" * 100_000 + "]" * 100_000


def test_deep_nesting_is_refused_before_the_parser_recurses():
    """Is JSON nested 100,000 deep a ``JSONLimitError`` (a ValueError) naming its depth, not a
    RecursionError, and JSON at the cap still read?"""
    with pytest.raises(untrusted.JSONLimitError, match="nested 100000 levels deep"):
        untrusted.loads(DEEP, max_bytes=10**6)
    at_cap = "[" * untrusted.MAX_DEPTH + "]" * untrusted.MAX_DEPTH
    assert untrusted.nesting_depth(at_cap) == untrusted.MAX_DEPTH
    assert json.dumps(untrusted.loads(at_cap, max_bytes=10**6)) == at_cap.replace("][", "], [")
    assert issubclass(untrusted.JSONLimitError, ValueError)


def test_brackets_inside_strings_do_not_count():
    """Do brackets in strings (escaped quotes and backslashes included) leave the depth alone?"""
    text = json.dumps({"source": ["x = [[[[" * 50, 'a \\" [[[[ " ' * 30, "\\" * 7 + "[" * 300]})
    assert untrusted.nesting_depth(text) == 2
    assert untrusted.loads(text, max_bytes=10**6) == json.loads(text)


def test_a_number_too_long_to_convert_is_refused():
    """Is a 5,000-digit integer (over Python's int-str conversion limit) a ``JSONLimitError``?"""
    with pytest.raises(untrusted.JSONLimitError, match="number too long"):
        untrusted.loads('{"x": ' + "9" * 5000 + "}", max_bytes=10**6)


def test_size_cap_reads_no_more_than_the_cap(tmp_path: Path):
    """Is a file over the cap refused having read at most cap + 1 bytes of it, and broken JSON
    or bytes that are not UTF-8 still the errors ``json`` gives?"""
    f = tmp_path / "big.json"
    f.write_bytes(b'{"pad": "' + b"x" * 5000 + b'"}')
    with pytest.raises(untrusted.JSONLimitError, match="larger than 1000 bytes"):
        untrusted.read(f, max_bytes=1000)
    assert untrusted.read(f, max_bytes=10**6) == {"pad": "x" * 5000}
    f.write_bytes(b'{"a": ')
    with pytest.raises(json.JSONDecodeError):
        untrusted.read(f, max_bytes=1000)
    f.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(UnicodeDecodeError):
        untrusted.read(f, max_bytes=1000)


def _corpus_file(tmp_path: Path, name: str) -> Path:
    case = corpus.CASES[name]
    ctx = corpus.Context(SLUG, tmp_path / "marker", tmp_path / "secret")
    f = tmp_path / f"{name}{case.suffix}"
    f.write_bytes(case.file_bytes(ctx))
    return f


@pytest.mark.parametrize("name", ["json-nested-100000-deep", "json-5000-digit-integer"])
def test_the_corpus_file_is_invalid_with_its_reason(tmp_path: Path, name: str):
    """Does ``check_notebook`` call the corpus case invalid with the reason the corpus expects
    (it raised RecursionError or ValueError, which stopped the batch), and does the recursion
    limit stay the interpreter's?"""
    limit = sys.getrecursionlimit()
    nb, status, reason = run_one.check_notebook(_corpus_file(tmp_path, name))
    assert nb is None and status == Status.INVALID == corpus.CASES[name].status
    assert corpus.CASES[name].reason in reason and reason.startswith("not a notebook: ")
    assert sys.getrecursionlimit() == limit


def test_a_batch_with_both_goes_on_and_records_them(tmp_path: Path, tiny_zip: Path, monkeypatch):
    """Does ``grade`` on a folder with both corpus files and a good notebook finish, every file in
    the grade sheet, the two as invalid with their reason (the intake, the variants check and the
    precheck all read them)?"""
    from tiny import notebook

    from autograder import cli_grading
    from autograder.grading.execution import preflight

    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("json-nested-100000-deep", "json-5000-digit-integer"):
        _corpus_file(folder, name)
    (folder / "ok.ipynb").write_text(notebook("x = 1"), encoding="utf-8")
    graded: list[str] = []

    def run_and_report(intake, cfg, info, roster=None):  # the precheck of every notebook, no kernel
        from autograder.grading.batch import engine

        for sub in intake.chosen:
            rec, _ = engine.precheck(sub, cfg)
            graded.append((sub.student_id, rec.status if rec else "to grade", rec.reason if rec else ""))
        return 0

    monkeypatch.setattr(preflight, "require", lambda unsafe: preflight.Ready(tmp_path, not unsafe))
    monkeypatch.setattr(cli_grading, "run_and_report", run_and_report)
    code = cli.main(["grade", str(folder), "--autograder", str(tiny_zip), "--out", str(tmp_path / "o"),
                     "--unsafe-no-sandbox"])
    assert code == 0
    got = {sid: (status, reason) for sid, status, reason in graded}
    assert got["ok"] == ("to grade", "")
    deep, long = got["json-nested-100000-deep"], got["json-5000-digit-integer"]
    assert deep[0] == long[0] == Status.INVALID
    assert "nested" in deep[1] and "number too long" in long[1]


def test_a_malformed_notebook_shape_is_invalid_not_a_crash(tmp_path: Path):
    """Is a notebook whose cells are not mappings, whose source is not text or whose metadata is
    not a mapping ``invalid`` with a reason (it raised AttributeError or TypeError)?"""
    f = tmp_path / "nb.ipynb"
    for nb, why in (({"nbformat": 4, "cells": [1]}, "cell 1 is not a cell"),
                    ({"nbformat": 4, "cells": [{"cell_type": "code", "source": [1]}]}, "not text"),
                    ({"nbformat": 4, "metadata": [], "cells": [{"cell_type": "code", "source": "x"}]},
                     "metadata is not a mapping")):
        f.write_text(json.dumps(nb), encoding="utf-8")
        _, status, reason = run_one.check_notebook(f)
        assert status == Status.INVALID and why in reason


def test_a_recorded_curve_as_deep_text_is_skipped():
    """Is a curves record kept as text nested too deeply skipped (it raised RecursionError while
    the grading was prepared: an internal error)?"""
    from autograder.notebook import CURVES_MIME

    nb = {"cells": [{"cell_type": "code", "source": "", "outputs": [{"data": {CURVES_MIME: DEEP}}]}]}
    assert recorded_curves(nb) == {}
