"""Shared fixtures: the one real mixed batch that every end-to-end test reads (graded once)."""

from __future__ import annotations

import json
import time
import zipfile

import pandas as pd
import pytest
from e2e_samples import TIMEOUT, WORKERS, version_samples
from kit_constants import COURSE_SECRET, SLUG, VARIANT_VERSION, VERSION

from autograder import cli, data
from autograder.tools import demo, samples

#: A fixed test secret (so the two students' seeds, and so the outcome, are reproducible).


def _member(name: str, data_: bytes, when: tuple[int, ...]) -> tuple[zipfile.ZipInfo, bytes]:
    return zipfile.ZipInfo(name, date_time=when), data_


@pytest.fixture(scope="session")
def lms_batch(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("batch-e2e")
    nb = {name: json.dumps(fn(SLUG), ensure_ascii=False).encode()
          for name, fn in samples.VARIANTS.items()}
    nb.update(version_samples())
    loop_nb = demo.infinite_loop(SLUG)
    loop_nb["cells"][2]["source"] = "import time\nwhile True:\n    time.sleep(1)\n"
    loop = json.dumps(loop_nb).encode()
    day1, day2 = (2026, 6, 1, 10, 0, 0), (2026, 6, 2, 10, 0, 0)
    entries = [
        _member("s001_無限ループ_assignsubmission_file_/3-2-overfitting.ipynb", loop, day1),
        _member("s002_山田太郎_assignsubmission_file_/3-2-overfitting.ipynb", nb["solution"], day1),
        _member("s003_佐藤花子_assignsubmission_file_/3-2-overfitting.ipynb", nb["wrong-readings"], day1),
        _member("s004_鈴木一郎_assignsubmission_file_/3-2-overfitting.ipynb", nb["blank"][:500], day1),
        _member("s005_田中_assignsubmission_file_/レポート.pdf", b"%PDF-1.4 not a notebook", day1),
        _member("s006_高橋_assignsubmission_file_/最初.ipynb", nb["solution"], day1),
        _member("s006_高橋_assignsubmission_file_/最終.ipynb", nb["blank"], day2),
        _member("s007_伊藤_assignsubmission_file_/3-2-overfitting.ipynb", nb["wrong-architecture"], day1),
        # versions: per-student variants of 2027, a removed stamp, a version never published
        _member("s008_渡辺_assignsubmission_file_/3-2-overfitting.ipynb", nb["variant-s008"], day1),
        _member("s009_山本_assignsubmission_file_/3-2-overfitting.ipynb", nb["variant-s009"], day1),
        _member("s010_中村_assignsubmission_file_/3-2-overfitting.ipynb", nb["no-stamp"], day1),
        _member("s011_小林_assignsubmission_file_/3-2-overfitting.ipynb", nb["version-2025"], day1),
    ]
    bulk = tmp / "LMS一括ダウンロード.zip"
    with zipfile.ZipFile(bulk, "w") as zf:
        for info, raw in entries:
            zf.writestr(info, raw)
    out = tmp / "out"
    secret = tmp / "secret.txt"
    secret.write_bytes(COURSE_SECRET)
    data.provide_keras_cache()
    # before the deadline, as the quick start says: the trainings of both versions prepared ahead
    # (the per-student version's for its two students), in the session's cache of verified trainings
    roster = tmp / "roster-2027.csv"
    roster.write_text("student_id,name\ns008,渡辺\ns009,山本\n", encoding="utf-8")
    assert cli.main(["prepare", "--out", str(tmp / "prepare"), "--version", VERSION]) == 0
    assert cli.main(["prepare", "--out", str(tmp / "prepare"), "--version", VARIANT_VERSION, "--roster",
                     str(roster), "--secret-file", str(secret)]) == 0
    t0 = time.monotonic()
    code = cli.main(["grade", str(bulk), "--out", str(out), "--version", VERSION, "--version",
                     VARIANT_VERSION, "--secret-file", str(secret),
                     "--timeout", str(TIMEOUT), "--workers", str(WORKERS)])
    wall = time.monotonic() - t0
    assert code == 0
    return tmp, out, wall


@pytest.fixture(scope="session")
def sheet(lms_batch) -> pd.DataFrame:
    _, out, _ = lms_batch
    return pd.read_csv(out / "grades.csv", keep_default_na=False, dtype={"student_id": str})


