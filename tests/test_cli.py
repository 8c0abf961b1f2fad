"""The command line: user mistakes become one clear message and an exit code, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder import cli


def test_missing_submission_is_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Does grading a file that does not exist print what is wrong, without a traceback?"""
    code = cli.main(["grade", str(tmp_path / "nope.ipynb"), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code != 0
    assert "nope.ipynb" in err and "Traceback" not in err


def test_unknown_assignment_lists_known_ones(capsys: pytest.CaptureFixture[str]):
    """Does publishing an unknown assignment name the ones that exist?"""
    code = cli.main(["publish", "no-such-assignment"])
    err = capsys.readouterr().err
    assert code == 2
    assert "no-such-assignment" in err and "3-2-overfitting" in err


def test_missing_data_exit_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]):
    """Does missing Fashion-MNIST exit with the data error code and the apt hint?"""
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "empty"))
    code = cli.main(["data", "--keras-home", str(tmp_path / "k")])
    err = capsys.readouterr().err
    assert code == 3
    assert "apt-get install dataset-fashion-mnist" in err


def test_missing_autograder_zip(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Does a missing autograder zip say how to make it?"""
    nb = tmp_path / "a.ipynb"
    nb.write_text("{}")
    code = cli.main(["grade", str(nb), "--autograder", str(tmp_path / "ag.zip"),
                     "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 7 and "publish" in err
