"""The corpus of bad and adversarial submissions (``autograder.corpus``), graded as one batch.

Every case gets the status and exactly the score it honestly earns, nothing outside its folders
changes, nothing of the host reaches the outputs, and the batch goes on. The corpus is graded
once per session through the CLI (2 workers, 120 s time limit, work folders kept so the tests
can read what each probe found). A case the kit is known to get wrong carries ``known_gap`` and
is a strict xfail: it turns into a failure the day the gap is closed, so the mark gets removed.

The forged-score demonstration: a notebook that makes every otter test pass in its own kernel
scores full marks under plain ``otter run`` with otter's own zip (the published one without the
kit's ``CleanCheck`` plugin) and 0 with the kit and with the published zip itself.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import corpus
import pandas as pd
import pytest
from kit_constants import SLUG, VERSION

from autograder import cli, data, paths
from autograder.grading.execution import run_one, supervise
from autograder.grading.execution.otter_plugin import EXECUTED_NOTEBOOK
from autograder.grading.intake import inputs
from autograder.grading.intake.autograder_zip import autograder_info
from autograder.grading.verify.replay import CACHE_ENV, SEED_OFFSETS
from autograder.grading.verify.served import SERVED_LINE
from autograder.grading.verify.trainings import TrainingCache, read_record
from autograder.results import Status

TIMEOUT = 120
WORKERS = 2
SECRET_TOKEN = "KIT-HOST-SECRET-7f3a9c"
MARKER_TEXT = '{"owner": "the TA", "untouched": true}'


def _tree_digest(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            p = Path(dirpath) / name
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest() if not p.is_symlink() else "link"
    return out


def _watched() -> list[Path]:
    """Host paths no grading may change: the checkout's solutions, assignments and tests."""
    root = paths.repo_root()
    return [root / "solutions", root / "assignments", root / "tests", root / "student_template"]


@dataclass
class CorpusRun:
    tmp: Path
    out: Path
    ctx: corpus.Context
    files: dict[str, Path]
    sheet: pd.DataFrame  # one row per case, indexed by case name
    wall: float
    before: dict[str, str]
    after: dict[str, str]
    #: The cache entry a hostile hand rewrote before the batch: (its path, the history it planted).
    planted: tuple[Path, dict]

    def workdir(self, name: str) -> Path:
        return self.out / "work" / str(self.sheet.loc[name, "sha256"])[:20]

    def probes(self, name: str) -> list[dict]:
        executed = self.workdir(name) / "results" / EXECUTED_NOTEBOOK
        if not executed.is_file() or executed.is_symlink():
            return []
        return corpus.probe_results(json.loads(executed.read_text(encoding="utf-8")))


@pytest.fixture(scope="session")
def corpus_run(tmp_path_factory: pytest.TempPathFactory) -> CorpusRun:
    tmp = tmp_path_factory.mktemp("adversarial")
    host = tmp / "host"
    host.mkdir()
    marker = host / "marker.json"
    marker.write_text(MARKER_TEXT, encoding="utf-8")
    secret = host / "secret.png"  # looks like a PNG to the figure collector, holds a token
    secret.write_bytes(b"\x89PNG\r\n\x1a\n" + SECRET_TOKEN.encode() + b"\n")
    out = tmp / "out"
    ctx = corpus.Context(SLUG, marker, secret, forbidden=(
        str(paths.solution_dir(SLUG, VERSION)), str(out / "work" / "*.kit"), str(out / "staging"), str(host)))
    files = corpus.write_corpus(ctx, tmp / "in")
    # the deadline as a TA meets it: the class's trainings prepared ahead (the solution's fits are
    # served), and one of them rewritten in the cache folder by a hostile hand
    assert cli.main(["prepare", "--out", str(out), "--version", VERSION]) == 0
    planted = _plant_hostile_entry(Path(os.environ[CACHE_ENV]))
    ag_zip = tmp / "autograder.zip"
    ag_zip.write_bytes(paths.autograder_zip(SLUG, VERSION).read_bytes())
    data.provide_keras_cache()
    before = {p: h for w in _watched() for p, h in _tree_digest(w).items()}
    before[str(marker)] = hashlib.sha256(marker.read_bytes()).hexdigest()
    t0 = time.monotonic()
    code = cli.main(["grade", str(tmp / "in"), "--out", str(out), "--autograder", str(ag_zip),
                     "--timeout", str(TIMEOUT), "--workers", str(WORKERS), "--keep-work"])
    wall = time.monotonic() - t0
    assert code == 0
    after = {p: h for w in _watched() for p, h in _tree_digest(w).items()}
    after[str(marker)] = hashlib.sha256(marker.read_bytes()).hexdigest() if marker.is_file() else "gone"
    sheet = pd.read_csv(out / "grades.csv", keep_default_na=False, dtype={"student_id": str, "sha256": str})
    rows = sheet.iloc[1:].copy()
    by_id = {p.name.split("_", 1)[0]: name for name, p in files.items()}
    rows.index = [by_id[s] for s in rows["student_id"]]
    print(f"\ncorpus: {len(files)} cases graded in {wall:.0f} s")
    return CorpusRun(tmp, out, ctx, files, rows, wall, before, after, planted)


def _plant_hostile_entry(cache: Path) -> tuple[Path, dict]:
    """Rewrite the cached training of Bigger (the version's seed): a flat made-up validation loss,
    everything else as it was (the arrays' hash still right), the signature left as it was."""
    from autograder import catalog

    seed = int(catalog.published(SLUG)[VERSION]["params"]["seed"])
    for fp, record in TrainingCache(cache).records():
        spec = record.get("spec") or {}
        if spec.get("name") == "bigger" and spec.get("seed") == seed + SEED_OFFSETS["bigger"]:
            record["history"]["val_loss"] = [0.01] * len(record["history"]["val_loss"])
            path = cache / f"{fp}.json"
            path.write_text(json.dumps(record), encoding="utf-8")
            return path, record["history"]
    raise AssertionError("prepare left no training of Bigger in the cache")


def _xfail_known(name: str):
    gap = corpus.CASES[name].known_gap
    marks = [pytest.mark.e2e]
    if gap:
        marks.append(pytest.mark.xfail(strict=True, reason=f"known kit gap: {gap}"))
    return pytest.param(name, marks=marks, id=name)


QUESTION_COLUMNS = ("q1_accuracy", "q1_model", "q1_predict", "q1_scale", "q1_train", "q2_networks",
                    "q2a_epoch", "q2b_val_accuracy", "q2c_overfitting", "q2d_compare", "q3_dropout",
                    "q3_readings")


@pytest.mark.e2e
def test_fits_were_served_and_the_planted_cache_entry_was_never_believed(corpus_run: CorpusRun):
    """Were the solution's fits served to the kernel from the prepared cache (the case that edits a
    history after a served fit really had served fits), and was the entry a hostile hand rewrote
    discarded and trained again, never served nor believed (the cases graded from it score exactly)?"""
    executed = corpus_run.workdir("served-history-edited-after-the-fit") / "results" / EXECUTED_NOTEBOOK
    served_line = SERVED_LINE.split("(")[0]
    assert executed.read_text(encoding="utf-8").count(served_line) >= 6
    path, forged = corpus_run.planted
    record = read_record(path)
    assert record is None or record["history"]["val_loss"] != forged["val_loss"]


@pytest.mark.parametrize("name", [_xfail_known(n) for n in corpus.CASES])
def test_case_gets_its_status_and_exactly_its_honest_score(corpus_run: CorpusRun, name: str):
    """Does each case get the status it deserves, a reason when not graded, and exactly its score?"""
    case = corpus.CASES[name]
    row = corpus_run.sheet.loc[name]
    allowed = case.status if isinstance(case.status, tuple) else (case.status,)
    assert row["status"] in allowed, (row["status"], row["reason"])
    assert "internal error" not in row["reason"], row["reason"]
    if row["status"] != Status.GRADED:
        assert row["reason"], "a submission that was not graded needs a reason"
    if case.reason:
        assert case.reason in row["reason"], row["reason"]
    scores = {q: float(row[q] or 0) for q in QUESTION_COLUMNS}
    expected = {q: case.questions.get(q, 0.0) for q in QUESTION_COLUMNS}
    assert scores == expected
    assert float(row["total_points_earned"] or 0) == case.score


@pytest.mark.e2e
def test_the_batch_goes_on_with_one_row_per_case_and_only_the_hang_times_out(corpus_run: CorpusRun):
    """Is every case in the grade sheet, nothing left running, and did only the cases meant to
    hang reach the time limit (every other one was stopped by a limit or finished)?"""
    assert sorted(corpus_run.sheet.index) == sorted(corpus.CASES)
    assert supervise.marked_processes(str((corpus_run.out / "work").resolve())) == []
    timed_out = {n for n in corpus_run.sheet.index if corpus_run.sheet.loc[n, "status"] == Status.TIMEOUT}
    meant_to = {n for n, c in corpus.CASES.items()
                if Status.TIMEOUT in (c.status if isinstance(c.status, tuple) else (c.status,))}
    assert timed_out <= meant_to, timed_out - meant_to


@pytest.mark.e2e
def test_host_files_are_unchanged(corpus_run: CorpusRun):
    """Are the checkout's solutions, assignments and tests byte for byte what they were?"""
    watched = {p: h for p, h in corpus_run.before.items() if p != str(corpus_run.ctx.marker)}
    assert {p: corpus_run.after.get(p) for p in watched} == watched
    assert not (corpus_run.ctx.marker.parent / "escaped-by-zip.ipynb").exists()


@pytest.mark.e2e
def test_a_planted_symlink_cannot_make_the_grader_write_on_the_host(corpus_run: CorpusRun):
    """Is the host file a submission pointed results/kernel_results.json at left untouched?"""
    assert corpus_run.probes("host-symlinks-planted") == [
        {"../results/kernel_results.json": True, "../grading.log": True, "curves_part2_networks.png": True}]
    assert corpus_run.ctx.marker.read_text(encoding="utf-8") == MARKER_TEXT


@pytest.mark.e2e
def test_no_host_file_reaches_the_ledger_or_the_outputs(corpus_run: CorpusRun):
    """Does the content of a host file a submission linked to stay out of the ledger and outputs?"""
    leaked = []
    for dirpath, _dirs, names in os.walk(corpus_run.out):
        if Path(dirpath).is_relative_to(corpus_run.out / "work"):
            continue  # the kept work folders hold the planted links themselves
        for n in names:
            p = Path(dirpath) / n
            if not p.is_symlink() and SECRET_TOKEN.encode() in p.read_bytes():
                leaked.append(str(p.relative_to(corpus_run.out)))
    assert leaked == []


@pytest.mark.e2e
def test_hidden_tests_solutions_and_private_folders_are_not_visible(corpus_run: CorpusRun):
    """Does a notebook looking for the solution, the hidden tests or the kit's folder find nothing?"""
    [probe] = corpus_run.probes("read-solutions-and-hidden-tests")
    assert probe["hidden"] == {}
    bad = [p for p in probe["found"] if any(s in p for s in (
        "solutions", ".kit", "assignments", "/work/main/tests", "/work/shared", "/root", "shadow",
        "staging", str(corpus_run.ctx.marker.parent)))]
    assert bad == [], probe["found"]


@pytest.mark.e2e
def test_other_submissions_are_not_visible(corpus_run: CorpusRun):
    """Does a notebook looking for other students' notebooks, the ledger or the sheet find nothing?"""
    [probe] = corpus_run.probes("read-other-submissions")
    assert probe["found"] == []
    assert len(probe["pids"]) < 40  # its own pid namespace: the sandbox's processes only


@pytest.mark.e2e
def test_no_network(corpus_run: CorpusRun):
    """Does every connection, name lookup and download fail, with only a loopback interface?"""
    [probe] = corpus_run.probes("open-network-connections")
    assert probe.pop("interfaces") == ["lo"]
    assert not [k for k, v in probe.items() if v in ("connected", "resolved", "downloaded")], probe


@pytest.mark.e2e
def test_file_size_and_tmp_are_capped(corpus_run: CorpusRun):
    """Does writing 5 GB stop at the file-size limit in the folder and at the tmpfs size in /tmp?"""
    [probe] = corpus_run.probes("write-5-gb-file")
    for where, outcome in probe.items():
        assert outcome.startswith("OSError after "), (where, outcome)
        assert int(outcome.split()[2]) <= 512, (where, outcome)


@pytest.mark.e2e
def test_fork_bomb_and_memory_hog_are_stopped(corpus_run: CorpusRun):
    """Are the fork bomb and the 20 GB allocation stopped by the limits, not by the time limit?"""
    for name in ("fork-bomb", "allocate-20-gb", "print-1-gb"):
        row = corpus_run.sheet.loc[name]
        assert row["status"] != Status.TIMEOUT, (name, row["reason"])
        assert "longer than" not in row["reason"], (name, row["reason"])
        if row["status"] == Status.ERROR:
            assert row["reason"], name
    probes = corpus_run.probes("fork-bomb")
    assert probes in ([], [{"refused": True}])  # none: the tree was killed for its memory
    if corpus_run.sheet.loc["fork-bomb", "status"] == Status.ERROR:
        assert "memory" in corpus_run.sheet.loc["fork-bomb", "reason"]


# --------------------------------------------------------------------- the forged-score demo


@pytest.fixture(scope="session")
def forged_notebook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("forged") / f"{SLUG}.ipynb"
    path.write_text(json.dumps(corpus.forged_score_notebook(SLUG), ensure_ascii=False), encoding="utf-8")
    return path


def _without_clean_plugin(src: Path, dest: Path) -> Path:
    """The published zip as otter alone would grade with it: the kit's CleanCheck plugin removed."""
    import zipfile

    from autograder.grading.execution.otter_plugin import CLEAN_PLUGIN

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dest, "w") as zout:
        for info in zin.infolist():
            payload = zin.read(info)
            if info.filename == "otter_config.json":
                config = json.loads(payload)
                config["plugins"] = [p for p in config.get("plugins", []) if p != CLEAN_PLUGIN]
                payload = json.dumps(config).encode()
            zout.writestr(info, payload)
    return dest


@pytest.mark.e2e
def test_forged_score_fools_plain_otter_run(forged_notebook: Path):
    """Does the notebook that patches otter's checker score full marks under plain `otter run`
    with otter's own grading (the zip without the kit's plugin), and 0 with the published zip?

    Plain ``otter run`` runs the student's code on the host: done here only with this known notebook.
    """
    env = run_one.grading_env(data.provide_keras_cache())
    otter = Path(sys.executable).parent / "otter"
    published = paths.autograder_zip(SLUG, VERSION)
    scores = {}
    plain = _without_clean_plugin(published, forged_notebook.parent / "plain.zip")
    for name, ag_zip in (("otter alone", plain), ("published", published)):
        dest = forged_notebook.parent / name.replace(" ", "-")
        dest.mkdir()
        proc = subprocess.run([str(otter), "run", "-a", str(ag_zip), "-o", str(dest), str(forged_notebook)],
                              env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        results = json.loads((dest / "results.json").read_text(encoding="utf-8"))
        tests = [t for t in results["tests"] if "max_score" in t]
        assert len(tests) == 12 and sum(t["max_score"] for t in tests) == 24
        scores[name] = sum(t["score"] for t in tests)
    assert scores == {"otter alone": 24, "published": 0}


@pytest.mark.e2e
def test_forged_score_does_not_fool_the_kit(corpus_run: CorpusRun):
    """Does the same notebook (in the corpus batch) score 0 with the kit, flagged for the TA?"""
    name = "patch-otter-testfile-run"
    assert corpus.CASES[name].build(corpus_run.ctx) == corpus.forged_score_notebook(SLUG)
    row = corpus_run.sheet.loc[name]
    assert (row["status"], float(row["total_points_earned"])) == (Status.GRADED, 0.0)
    disagree = row["reason"].count("passed in the student's kernel but fails the clean check")
    assert disagree >= 8, row["reason"]  # every question whose public check the clean run fails


# --------------------------------------------------------------------- inputs, no notebook run


def _case_file(tmp_path: Path, name: str) -> Path:
    ctx = corpus.Context(SLUG, tmp_path / "marker.json", tmp_path / "secret.png",
                         forbidden=(str(paths.solution_dir(SLUG, VERSION)),))
    return corpus.write_corpus(ctx, tmp_path / "in", [name])[name]


HOSTILE_FILES = ("zip-bomb", "zip-bomb-lying-header", "zip-symlink-outside", "zip-dotdot-path", "nbformat-3",
                 "not-utf8-cp932", "not-utf8-utf16")


@pytest.mark.parametrize("name", HOSTILE_FILES)
def test_hostile_files_are_decided_before_grading(tmp_path: Path, name: str):
    """Is each hostile file or zip decided at intake or precheck, with nothing run or extracted?"""
    from autograder.grading.batch import engine
    case = corpus.CASES[name]
    path = _case_file(tmp_path, name)
    intake = inputs.collect([path.parent], tmp_path / "staging")
    [sub] = intake.chosen
    info = autograder_info(paths.autograder_zip(SLUG, VERSION))
    rec, _ = engine.precheck(sub, engine.BatchConfig(info, tmp_path / "out"))
    assert not (tmp_path / "out" / "work").exists()  # decided without running anything
    assert rec is not None and rec.status == case.status and case.reason in rec.reason, rec
    staged = list((tmp_path / "staging").iterdir())
    assert sum(p.stat().st_size for p in staged) < 2**20
    assert not (tmp_path / "escaped-by-zip.ipynb").exists()


def test_a_lying_zip_bomb_is_refused_with_little_memory(tmp_path: Path):
    """Does intake of a zip whose header under-states its size stay under 300 MB of memory?"""
    path = _case_file(tmp_path, "zip-bomb-lying-header")
    script = ("import sys\nfrom pathlib import Path\nfrom autograder.grading.intake import inputs\n"
              "[s] = inputs.collect([Path(sys.argv[1])], Path(sys.argv[2])).chosen\n"
              "assert s.status == 'invalid', s\n"
              # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec
              "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n")
    proc = subprocess.run([sys.executable, "-c", script, str(path.parent), str(tmp_path / "staging")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-1000:]
    assert int(proc.stdout.split()[-1]) < 300 * 1024  # KiB


def test_zip_bomb_really_inflates_to_gigabytes():
    """Is the zip bomb real (its stream inflates beyond the 100 MB member limit)?"""
    import zlib

    d = zlib.decompressobj(-15)
    raw = corpus.deflated_zeros(200)
    n = 0
    for i in range(0, len(raw), 4096):
        n += len(d.decompress(raw[i:i + 4096]))
    assert n == 200 * 2**20 > inputs.MAX_MEMBER_BYTES


def test_every_case_is_named_and_documented():
    """Is every case a documented function whose file name says what it does?"""
    assert len(corpus.CASES) >= 25
    for name, case in corpus.CASES.items():
        assert case.doc, name
        assert case.suffix in (".ipynb", ".zip")
        assert 0 <= case.score <= (24 if case.trains else sum(corpus.NO_TRAINING_CEILING.values()))
        assert case.score == sum(case.questions.values())
