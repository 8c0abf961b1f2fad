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


def test_versions_lists_published_versions_and_diffs(capsys: pytest.CaptureFixture[str]):
    """Does `versions` list both versions with their gate, and --diff show what changes?"""
    assert cli.main(["versions"]) == 0
    out = capsys.readouterr().out
    assert "2026: published, gate passed on seeds" in out and "2027: published, gate passed" in out
    assert "dropout_rate=0.5" in out and "dropout_rate=0.4" in out
    assert cli.main(["versions", "--diff", "2026", "2027"]) == 0
    out = capsys.readouterr().out
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines()[1:]}
    assert rows["dropout_rate"] == ["0.5", "0.4"] and rows["variants"] == ["false", "true"]
    assert rows["epoch_tol"] == ["0.01", "0.0"]
    assert "units_bigger" not in rows and "accuracy_threshold" not in rows
    assert cli.main(["versions", "--keys"]) == 0
    assert "units_bigger = 256" in capsys.readouterr().out


def test_grade_refuses_unknown_version_and_missing_secret(tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]):
    """Are an unpublished --version and a variants version without the secret clear errors?"""
    nb = tmp_path / "a.ipynb"
    nb.write_text("{}")
    code = cli.main(["grade", str(nb), "--version", "1999", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 7 and "1999" in err and "not published" in err and "2026, 2027" in err
    code = cli.main(["grade", str(nb), "--version", "2027", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 7 and "--secret-file" in err and "Traceback" not in err


def test_publish_variants_needs_all_its_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code = cli.main(["publish", "--version", "2027", "--roster", str(tmp_path / "r.csv")])
    err = capsys.readouterr().err
    assert code == 5 and "--secret-file" in err and "--out" in err


def test_one_autograder_and_versions_do_not_mix(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code = cli.main(["grade", str(tmp_path), "--autograder", str(tmp_path / "ag.zip"), "--version",
                     "2026", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 7 and "cannot be combined with --version" in err


def test_export_of_a_folder_without_a_sheet_says_how_to_make_one(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]):
    """Does exporting a folder nobody graded into name the missing sheet and the grade command?"""
    code = cli.main(["export", str(tmp_path / "empty"), "--to", "moodle"])
    err = capsys.readouterr().err
    assert code != 0 and "grades.csv" in err and "python -m autograder grade" in err
    assert "Traceback" not in err


def test_lms_names_and_scales():
    """Does a name with '_' stay one Moodle field, and is an LMS maximum other than the kit's points
    refused with both numbers instead of rescaled?"""
    from autograder.errors import ConfigError
    from autograder.report import lms

    assert lms.moodle_name("Mary_Ann O'Neil") == "Mary Ann O'Neil"
    assert lms.lms_maximum(24.0, points=24.0, sheet_max=None, where="moodle") == 24.0
    with pytest.raises(ConfigError, match=r"out of 24 points, but --points gives .* maximum grade as 100"):
        lms.lms_maximum(24.0, points=100.0, sheet_max=None, where="moodle")


@pytest.mark.parametrize("argv", [["--side-by-side"], ["--calibrate"], ["--fairness", "--calibrate"]])
def test_benchmark_design_flags_out_of_place_are_a_message(argv: list[str],
                                                           capsys: pytest.CaptureFixture[str]):
    """A design flag without the benchmark it belongs to is refused before anything runs,
    instead of being ignored (a run of minutes measuring something else)."""
    code = cli.main(["bench", *argv])
    err = capsys.readouterr().err
    assert code != 0 and "belong to --overhead N" in err and "Traceback" not in err


def test_grade_hands_the_batch_what_it_was_given(tmp_path: Path, tiny_zip: Path,
                                                 monkeypatch: pytest.MonkeyPatch):
    """Does `grade` pass its limits, workers, retry statuses and sandbox choice to the batch (the
    batch and this machine's preflight mocked: nothing is graded)?"""
    from tiny import notebook

    from autograder import cli_grading
    from autograder.grading.execution import preflight
    from autograder.results import Status

    seen: dict = {}
    monkeypatch.setattr(preflight, "require", lambda unsafe: preflight.Ready(tmp_path, not unsafe))
    monkeypatch.setattr(cli_grading, "run_and_report",
                        lambda intake, cfg, info, roster=None: seen.update(cfg=cfg, intake=intake) or 0)
    (tmp_path / "s1.ipynb").write_text(notebook("x = 1"), encoding="utf-8")
    code = cli.main(["grade", str(tmp_path / "s1.ipynb"), "--autograder", str(tiny_zip), "--out",
                     str(tmp_path / "o"), "--timeout", "42", "--memory", "1.5", "--retry", "failed",
                     "--workers", "3", "--unsafe-no-sandbox"])
    cfg = seen["cfg"]
    assert code == 0 and [s.student_id for s in seen["intake"].chosen] == ["s1"]
    assert (cfg.timeout, cfg.memory_limit, cfg.workers, cfg.sandboxed) == (42.0, int(1.5 * 2**30), 3, False)
    assert cfg.retry == {Status.TIMEOUT, Status.ERROR} and cfg.keras_home == tmp_path


def test_a_per_student_version_from_an_lms_download_needs_the_roster(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]):
    """A Moodle download names participant IDs: a per-student version's notebooks from it are refused
    before anything is graded, without a roster or when the roster ties none of them to a student,
    saying what to pass (the seed comes from the student ID, never from a participant ID)."""
    from autograder import paths

    folder = tmp_path / "dl" / "花子 佐藤_5_assignsubmission_file"
    folder.mkdir(parents=True)
    (folder / "3-2-overfitting.ipynb").write_bytes(
        (paths.student_dir("3-2-overfitting", "2027") / "3-2-overfitting.ipynb").read_bytes())
    secret = tmp_path / "secret.txt"
    secret.write_text("a course secret of the test, long enough\n")
    args = ["grade", str(tmp_path / "dl"), "--version", "2027", "--secret-file", str(secret)]
    code = cli.main([*args, "--out", str(tmp_path / "o1")])
    err = capsys.readouterr().err
    assert code == 7 and "--roster" in err and "participants (5)" in err and "no --roster" in err
    roster = tmp_path / "roster.csv"
    roster.write_text("student_id,name,lms_id\ns001,Taro Yamada,6\n", encoding="utf-8")
    code = cli.main([*args, "--out", str(tmp_path / "o2"), "--roster", str(roster)])
    err = capsys.readouterr().err
    assert code == 7 and "the roster matches none of them" in err and "lms_id" in err
    assert not (tmp_path / "o2" / "ledger.sqlite").exists()
