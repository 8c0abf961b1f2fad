"""Publishing versions: up to date, reproducible, stamped, leak nothing, differ only by parameters."""

from __future__ import annotations

import difflib
import filecmp
import json
import re
import shutil
import zipfile
from pathlib import Path

import pytest
from kit_constants import SLUG

from autograder import forms, paths
from autograder.catalog import SUPPORT_MODULE
from autograder.errors import NotebookError, PublishError
from autograder.grading.intake import targets
from autograder.grading.intake.autograder_zip import ZIP_PARAMS
from autograder.notebook import STAMP_KEY
from autograder.release import publish, render, variants, versions

VERSIONS = ("2026", "2027")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> dict[str, publish.Release]:
    return {v: publish.build(SLUG, v, tmp_path_factory.mktemp(f"build{v}")) for v in VERSIONS}


def _code(nb_path: Path) -> str:
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    return "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")


@pytest.mark.parametrize("version", VERSIONS)
def test_committed_files_are_up_to_date(version: str):
    """Are the committed release files what the master and the version file generate now, with a
    passed gate recorded for exactly this content?"""
    assert publish.stale_files(SLUG, version) == []


def test_build_is_byte_identical(fresh: dict[str, publish.Release], tmp_path: Path):
    """Does building twice give byte-identical files: notebooks, zips, manifest?"""
    first = fresh["2027"]
    again = publish.build(SLUG, "2027", tmp_path)
    for a, b in ((first.student, again.student), (first.solution, again.solution)):
        cmp = filecmp.dircmp(a, b)
        assert not cmp.diff_files and not cmp.left_only and not cmp.right_only
        assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    for name in ("autograder.zip", "manifest.json"):
        assert (first.solution / name).read_bytes() == (again.solution / name).read_bytes()
    assert first.student_zip.read_bytes() == again.student_zip.read_bytes()


def test_student_notebooks_differ_only_where_parameters_differ(fresh: dict[str, publish.Release]):
    """Is every line that differs between the 2026 and 2027 notebooks explained by a parameter
    that differs (its old value replaced by the new one gives the new line)?"""
    va, vb = (versions.load(SLUG, v) for v in VERSIONS)
    a, b = versions.render_params(va), versions.render_params(vb)
    # sentences derived from a parameter first (the epoch rule: "within 0.01" / "exactly"), then
    # the parameters' literals
    changed = [(rule(va), rule(vb)) for rule in render.DERIVED.values()]
    changed += [(render.literal(a[k]), render.literal(b[k])) for k, _, _ in versions.diff(a, b)
                if not isinstance(a[k], (list, str))]
    changed.append(('"2026"', '"2027"'))  # the version stamp
    old = fresh["2026"].notebook().read_text(encoding="utf-8").splitlines()
    new = fresh["2027"].notebook().read_text(encoding="utf-8").splitlines()
    sm = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    pairs = [(o, n) for tag, i1, i2, j1, j2 in sm.get_opcodes() if tag != "equal"
             for o, n in zip(old[i1:i2], new[j1:j2], strict=True)]
    print(len(pairs), "lines differ")
    assert len(pairs) >= 8  # seed, dropout (constant, prompt), tolerances (Q7, Q8 prompts), stamp
    for o, n in pairs:
        for was, now in changed:
            o = re.sub(rf"(?<![\w.]){re.escape(was)}(?![\w.])", now, o)
        assert o == n, (o, n)


@pytest.mark.parametrize("version", VERSIONS)
def test_student_notebook_has_no_solutions(fresh: dict[str, publish.Release], version: str):
    """Does the student notebook hold none of the solution code?"""
    rel = fresh[version]
    student, solution = _code(rel.notebook("student")), _code(rel.notebook("solution"))
    for line in ("keras.layers.Dense(128, activation='relu')", "/ 255.0", "model.fit(train_images",
                 "model.evaluate(test_images", "good_epoch_bigger = int(",
                 "keras.layers.Dropout(rate)",
                 "overfitting_bigger = True", 'most_overfit = "bigger"'):
        assert line in solution, line  # the check itself would be vacuous otherwise
        assert line not in student, line
    assert not re.search(r"BEGIN SOLUTION|END SOLUTION|# SOLUTION|BEGIN HIDDEN", student)


def test_student_folder_and_zip_have_no_hidden_tests(fresh: dict[str, publish.Release]):
    """Are hidden tests only in the autograder zip, never in the student's folder or its zip?"""
    rel = fresh["2026"]
    with zipfile.ZipFile(rel.autograder_zip) as zf:
        zipped = "\n".join(zf.read(n).decode() for n in zf.namelist() if n.startswith("tests/"))
    hidden_names = re.findall(r"@test_case\(points=\d+, hidden=True\)\ndef (\w+)", zipped)
    assert len(hidden_names) >= 12
    with zipfile.ZipFile(rel.student_zip) as zf:
        handed_out = "\n".join(zf.read(n).decode("utf-8") for n in zf.namelist())
    student_text = "\n".join(p.read_text(encoding="utf-8") for p in rel.student.rglob("*")
                             if p.is_file() and p.suffix != ".zip") + handed_out
    assert "hidden=True" not in student_text
    for name in hidden_names:
        assert f"def {name}(" not in student_text, name


def test_handout_zip_is_the_notebook_and_its_readme(fresh: dict[str, publish.Release]):
    """Does the zip handed out hold just the notebook and the Colab / local instructions, and does
    the notebook carry the public tests and kit_checks.py that its first cell writes out?"""
    rel = fresh["2027"]
    with zipfile.ZipFile(rel.student_zip) as zf:
        names = set(zf.namelist())
        readme = zf.read(f"{SLUG}-2027/README.md").decode()
    assert names == {f"{SLUG}-2027/{SLUG}.ipynb", f"{SLUG}-2027/README.md"}
    assert "ノートブックをアップロード" in readme and "Upload notebook" in readme
    assert "Download .ipynb" in readme and ".ipynb をダウンロード" in readme and "jupyter lab" in readme
    assert "Google Colab で使う" in readme and "KIT_STAMP" in readme  # Japanese with English
    carried = publish_payload(rel.notebook())
    assert carried[SUPPORT_MODULE] == Path(forms.__file__).read_bytes()
    assert b"from autograder" not in carried[SUPPORT_MODULE]
    public = {f"tests/{p.name}": p.read_bytes() for p in (rel.student / "tests").glob("*.py")}
    assert len(public) == 12 and {k: v for k, v in carried.items() if k.startswith("tests/")} == public


def publish_payload(nb_path: Path) -> dict[str, bytes]:
    """The files the first cell of a published notebook writes out (its ``KIT_CHECKS`` zip)."""
    import base64
    import io

    first = "".join(json.loads(nb_path.read_text(encoding="utf-8"))["cells"][0]["source"])
    (payload,) = re.findall(r'^KIT_CHECKS = "([A-Za-z0-9+/=]+)"$', first, re.M)
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(payload))) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def test_manifest_and_stamp(fresh: dict[str, publish.Release]):
    """Does the manifest name the version, the kit version and the hashes of what it describes,
    and is the version stamped into the student notebook?"""
    import hashlib

    from autograder import __version__

    rel = fresh["2027"]
    m = json.loads(rel.manifest.read_text(encoding="utf-8"))
    assert m["version"] == "2027" and m["kit_version"] == __version__ and m["assignment"] == SLUG
    assert m["params"]["units_bigger"] == 256 and m["params"]["variants"] is True
    assert m["sha256"]["master"] == hashlib.sha256(paths.master_notebook(SLUG).read_bytes()).hexdigest()
    assert m["sha256"]["autograder_zip"] == hashlib.sha256(rel.autograder_zip.read_bytes()).hexdigest()
    assert {"params", "tests", "student_notebook", "solution_notebook"} <= set(m["sha256"])
    with zipfile.ZipFile(rel.autograder_zip) as zf:
        assert json.loads(zf.read(ZIP_PARAMS)) == m["params"]
    nb = json.loads(rel.notebook().read_text(encoding="utf-8"))
    assert nb["metadata"][STAMP_KEY] == {"assignment": SLUG, "version": "2027"}


def test_handouts_never_contain_the_secret(tmp_path: Path):
    """With per-student variants, is the course secret in no file handed out (in any encoding),
    and does each handout differ from the common one only by its seed and stamp?"""
    import base64

    secret = b"course-secret-never-to-be-handed-out-42"
    (tmp_path / "secret.txt").write_bytes(secret + b"\n")
    (tmp_path / "roster.csv").write_text("student_id\ns001\ns002\n", encoding="utf-8")
    written = variants.write_handouts(SLUG, "2027", tmp_path / "roster.csv", tmp_path / "secret.txt",
                                      tmp_path / "out")
    forms = [secret, secret.hex().encode(), base64.b64encode(secret), secret.decode().encode("utf-16")]
    blobs = []
    for z in written.values():
        blobs.append(z.read_bytes())
        with zipfile.ZipFile(z) as zf:
            blobs += [zf.read(n) for n in zf.namelist()]
    blobs += [p.read_bytes() for d in (tmp_path / "out", paths.student_dir(SLUG, "2027"))
              for p in d.rglob("*") if p.is_file()]
    assert len(blobs) > 20
    for blob in blobs:
        for form in forms:
            assert form not in blob
    seeds = {}
    for sid, z in written.items():
        with zipfile.ZipFile(z) as zf:
            nb = json.loads(zf.read(f"{SLUG}-2027-{sid}/{SLUG}.ipynb"))
        assert nb["metadata"][STAMP_KEY]["student_id"] == sid
        code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
        seeds[sid] = int(re.search(r"^SEED = (\d+)", code, re.M).group(1))
        assert seeds[sid] == targets.derive_seed(secret, sid, "2027")
    assert seeds["s001"] != seeds["s002"]


def test_variants_of_a_plain_version_are_refused(tmp_path: Path):
    (tmp_path / "s").write_text("x" * 40)
    (tmp_path / "r.csv").write_text("s001\n")
    with pytest.raises(Exception, match="does not use per-student variants"):
        variants.write_handouts(SLUG, "2026", tmp_path / "r.csv", tmp_path / "s", tmp_path / "o")


def test_master_without_config_is_refused(tmp_path: Path):
    """Is a notebook that is not an Otter Assign master refused with a clear message?"""
    root = tmp_path / "kit"
    shutil.copytree(paths.repo_root() / "assignments" / SLUG / "versions",
                    root / "assignments" / "x" / "versions")
    (root / "assignments" / "x" / "x.ipynb").write_text(json.dumps(
        {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    with pytest.raises(PublishError, match="ASSIGNMENT CONFIG"):
        publish.build("x", "2026", tmp_path / "out", root)


def test_corrupt_master_is_a_notebook_error(tmp_path: Path):
    """Is a master with broken JSON reported as such, naming the file?"""
    root = tmp_path / "kit"
    shutil.copytree(paths.repo_root() / "assignments" / SLUG, root / "assignments" / SLUG)
    master = root / "assignments" / SLUG / f"{SLUG}.ipynb"
    master.write_text(master.read_text(encoding="utf-8")[:5000], encoding="utf-8")
    with pytest.raises(NotebookError, match=re.escape(str(master))):
        publish.build(SLUG, "2026", tmp_path / "out", root)


@pytest.mark.e2e
def test_a_version_its_own_solution_fails_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Is a version whose accuracy threshold its own solution cannot reach refused by the gate
    (real gradings), saying which check failed by how much, with nothing published?"""
    from autograder import data

    monkeypatch.setenv(data.ENV_KIT_HOME, str(tmp_path / "home"))  # the gate's own ledger
    root = tmp_path / "kit"
    shutil.copytree(paths.repo_root() / "assignments" / SLUG, root / "assignments" / SLUG)
    (root / "assignments" / SLUG / "versions" / "strict.toml").write_text(
        'description = "too strict"\naccuracy_threshold = 0.95\ngate_seeds = [2026, 1, 2]\n',
        encoding="utf-8")
    lines: list[str] = []
    with pytest.raises(PublishError) as exc:
        publish.publish(SLUG, "strict", root, log=lines.append)
    text = str(exc.value)
    assert "version strict is refused by the gate; nothing was published" in text
    m = re.search(r"seed 2026: the solution scored 21/24, not 100% \(lost: q1_accuracy 0/3\); its test "
                  r"accuracy (0\.\d{4}) is below the threshold 0\.95 by (0\.\d{4})", text)
    assert m, text
    assert float(m.group(2)) == pytest.approx(0.95 - float(m.group(1)), abs=1e-4)
    assert "stopped after the first round" in text and "strict.toml" in exc.value.hint
    assert not (root / "student_template").exists() and not (root / "solutions").exists()


def test_first_cell_installs_otter_and_stamps_the_version(fresh: dict[str, publish.Release]):
    """Does the student's first cell install otter-grader when it is missing (Colab), say what to
    do if that fails, carry the version stamp Colab keeps, and open the notebook only where it
    is beside it; does the intro say that the notebook is all a student needs?"""
    from autograder.notebook import cell_stamp

    for version, rel in fresh.items():
        nb = json.loads(rel.notebook().read_text(encoding="utf-8"))
        first = "".join(nb["cells"][0]["source"])
        assert "except ImportError:" in first and "%pip install -q otter-grader==7.0.0" in first
        assert "インストールできませんでした" in first and "could not be installed" in first
        assert 'grader = otter.Notebook(NOTEBOOK if os.path.isfile(NOTEBOOK) else None)' in first
        assert cell_stamp(nb) == nb["metadata"][STAMP_KEY] == {"assignment": SLUG, "version": version}
        intro = "".join(nb["cells"][1]["source"])
        assert "Google Colab" in intro and "all you need" in intro and "`tests`" not in intro


def test_hand_in_cell_downloads_on_colab_and_exports_elsewhere(fresh: dict[str, publish.Release]):
    """Is the hand-in cell the kit's: the notebook downloaded on Colab, otter's zip elsewhere (no
    second run of the whole notebook), with bilingual instructions above it?"""
    nb = json.loads(fresh["2026"].notebook().read_text(encoding="utf-8"))
    (cell,) = [c for c in nb["cells"] if "grader.export(" in "".join(c["source"])]
    src = "".join(cell["source"])
    assert "if ON_COLAB:" in src and "download_notebook(NOTEBOOK)" in src
    assert "grader.export(pdf=False, run_tests=False)" in src
    note = "".join(nb["cells"][nb["cells"].index(cell) - 1]["source"])
    assert note.startswith("## 提出 / Hand-in") and "保存してから" in note
    assert "save the notebook first" in note


def test_variant_handout_stamps_the_student_in_the_first_cell_too():
    """Does a per-student handout name its student in the first cell's stamp as in its metadata?"""
    from autograder.notebook import cell_stamp

    nb = json.loads((paths.student_dir(SLUG, "2027") / f"{SLUG}.ipynb").read_text(encoding="utf-8"))
    mine = variants.personalise(nb, "s001", 12345)
    assert cell_stamp(mine) == mine["metadata"][STAMP_KEY] == {"assignment": SLUG, "version": "2027",
                                                                "student_id": "s001"}
    assert cell_stamp(nb) == {"assignment": SLUG, "version": "2027"}  # the original untouched


def test_fairness_bench_runs_the_seed_it_is_given(tmp_path: Path):
    """Does the fairness benchmark's notebook carry the seed asked for (the one SEED line)?"""
    from autograder.tools import bench

    nb = json.loads((bench.solution_workdir(tmp_path, 7) / f"{SLUG}.ipynb").read_text(encoding="utf-8"))
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert re.findall(r"^SEED = (\d+)", code, re.M) == ["7"]
