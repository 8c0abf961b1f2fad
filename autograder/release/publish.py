"""Publishing a version: master notebook + version file -> student handout, solution, autograder.

``build`` renders the master for the version (``render.render_master``), lets ``otter assign``
split it, and lays the result out reproducibly (fixed cell ids, no timestamps, zips with fixed
dates and sorted entries), so that building twice gives the same bytes:

- ``student_template/<slug>/<version>/``: the student notebook (stamped with the version in
  ``metadata.fmnist_kit`` and in its first cell's ``KIT_STAMP``, which Colab keeps), its public
  tests and ``kit_checks.py`` (the form checks the public tests import; the first cell carries
  both and writes them out, so the notebook works alone), ``README.md`` (Colab and local
  Jupyter, Japanese and English) and ``<slug>-<version>.zip`` with the notebook and the README:
  the one file handed out;
- ``solutions/<slug>/<version>/``: the solution notebook, ``autograder.zip`` (with the version's
  ``kit_params.json``) and ``manifest.json`` (version id, kit version, SHA-256 of the master,
  the parameters, the tests and every file, and the record of the gate it passed).

``publish`` builds in a temporary folder, runs the gate (``gate.py``) unless the manifest
already records a passed gate for exactly this content, and only then replaces the folders.
"""

from __future__ import annotations

import contextlib
import filecmp
import hashlib
import io
import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder import __version__, forms, paths
from autograder.catalog import MANIFEST, SUPPORT_MODULE, read_manifest
from autograder.errors import PublishError
from autograder.notebook import STAMP_KEY, dump_notebook, read_json_notebook
from autograder.params import PARAMS_FILE
from autograder.release import gate, render, versions
from autograder.release.handout import checks_payload, handout_readme, student_cells, write_zip


@dataclass(frozen=True)
class Release:
    version: str
    student: Path
    solution: Path

    @property
    def autograder_zip(self) -> Path:
        return self.solution / "autograder.zip"

    @property
    def manifest(self) -> Path:
        return self.solution / MANIFEST

    def notebook(self, which: str = "student") -> Path:
        folder = self.student if which == "student" else self.solution
        (nb,) = [p for p in folder.glob("*.ipynb")]
        return nb

    @property
    def student_zip(self) -> Path:
        (z,) = list(self.student.glob("*.zip"))
        return z


def normalise_notebook(path: Path, stamp: dict[str, Any] | None = None) -> None:
    """Give cells stable ids and drop volatile metadata so that builds are byte-identical."""
    nb = read_json_notebook(path)
    for i, cell in enumerate(nb.get("cells", [])):
        cell["id"] = f"cell-{i:03d}"
        cell.get("metadata", {}).pop("execution", None)
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    if stamp is not None:
        nb.setdefault("metadata", {})[STAMP_KEY] = stamp
    path.write_text(dump_notebook(nb), "utf-8")


def repack_zip(src: Path, dest: Path) -> None:
    """Rewrite otter's zip reproducibly (sorted entries, fixed dates and modes), made portable:
    the kit's requirements, its grading code and the clean-check plugin (``portable``)."""
    from autograder.release.portable import portable_entries

    with zipfile.ZipFile(src) as zin:
        entries = [(info.filename, zin.read(info)) for info in zin.infolist() if not info.is_dir()]
    write_zip(dest, portable_entries(entries), executable=("run_autograder", "setup.sh"))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tree_hash(folder: Path, pattern: str = "*") -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob(pattern)):
        if p.is_file():
            h.update(p.relative_to(folder).as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def build(slug: str, version: str, dest: Path, root: Path | None = None) -> Release:
    """Render ``version`` of ``slug`` and lay it out under ``dest`` (no gate, nothing replaced)."""
    from otter.assign import main as otter_assign

    ver = versions.load(slug, version, root)
    master = paths.master_notebook(slug, root)
    nb = read_json_notebook(master)
    if not any("ASSIGNMENT CONFIG" in "".join(c.get("source", "")) for c in nb.get("cells", [])):
        raise PublishError(
            f"{master} has no '# ASSIGNMENT CONFIG' cell, so it is not an Otter Assign master",
            hint="keep the raw config cell at the top of the master notebook",
        )
    rendered = render.render_master(nb, ver)
    params_text = versions.params_json(ver)
    with tempfile.TemporaryDirectory(prefix="fmnist-publish-") as tmp:
        work = Path(tmp) / "master"
        shutil.copytree(master.parent, work,
                        ignore=shutil.ignore_patterns("*.png", ".*", "versions", "*.md"))
        (work / master.name).write_text(dump_notebook(rendered), encoding="utf-8")
        (work / PARAMS_FILE).write_text(params_text, encoding="utf-8")
        shutil.copy(forms.__file__, work / SUPPORT_MODULE)
        out = Path(tmp) / "dist"
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                otter_assign(str(work / master.name), str(out), no_pdfs=True, no_run_tests=True)
        except Exception as exc:  # otter raises plain exceptions for master-notebook mistakes
            raise PublishError(
                f"otter assign failed on {master} (version {version}): {exc}",
                hint="fix the master notebook; otter's output was:\n" + log.getvalue()[-2000:],
            ) from None

        student = dest / "student"
        solution = dest / "solution"
        for d in (student, solution):
            if d.exists():
                shutil.rmtree(d)
        shutil.copytree(out / "student", student)
        solution.mkdir(parents=True)
        shutil.copy(out / "autograder" / master.name, solution / master.name)
        (zip_src,) = (out / "autograder").glob("*.zip")
        repack_zip(zip_src, solution / "autograder.zip")
    stamp = {"assignment": slug, "version": version}
    payload = checks_payload(student)
    for nb_path in (student / master.name, solution / master.name):
        normalise_notebook(nb_path, stamp)
        student_cells(nb_path, stamp, payload, english_only=ver["language"] == "en")
    rel = Release(version, student, solution)
    _write_handout(rel, slug, ver)
    _write_manifest(rel, slug, ver, master, params_text)
    return rel


def _write_handout(rel: Release, slug: str, ver: versions.Version) -> None:
    """README with instructions, then the zip handed out: the notebook (which carries its checks)
    and the README."""
    name = f"{slug}-{ver.id}"
    (rel.student / "README.md").write_text(handout_readme(slug, ver), encoding="utf-8")
    entries = [(f"{name}/{p.name}", p.read_bytes())
               for p in (rel.notebook("student"), rel.student / "README.md")]
    write_zip(rel.student / f"{name}.zip", entries)


def content_hashes(rel: Release, master: Path, params_text: str) -> dict[str, str]:
    with zipfile.ZipFile(rel.autograder_zip) as zf:
        tests = hashlib.sha256()
        for n in sorted(n for n in zf.namelist() if n.startswith("tests/")):
            tests.update(n.encode() + b"\0" + zf.read(n) + b"\0")
    return {
        "master": sha256(master.read_bytes()),
        "params": sha256(params_text.encode("utf-8")),
        "tests": tests.hexdigest(),
        "autograder_zip": sha256(rel.autograder_zip.read_bytes()),
        "solution_notebook": sha256(rel.notebook("solution").read_bytes()),
        "student_notebook": sha256(rel.notebook("student").read_bytes()),
        "student_folder": _tree_hash(rel.student, "[!.]*"),
    }


def gate_key(hashes: dict[str, str]) -> str:
    """What a gate result is valid for: the autograder and both notebooks, and the kit version."""
    parts = [__version__, hashes["autograder_zip"], hashes["solution_notebook"], hashes["student_notebook"]]
    return sha256("\n".join(parts).encode())


def _write_manifest(rel: Release, slug: str, ver: versions.Version, master: Path,
                    params_text: str, gate: dict[str, Any] | None = None) -> None:
    from importlib.metadata import version as dist_version

    hashes = content_hashes(rel, master, params_text)
    manifest = {
        "assignment": slug,
        "version": ver.id,
        "description": ver["description"],
        "kit_version": __version__,
        "otter_grader": dist_version("otter-grader"),
        "params": versions.render_params(ver),
        "sha256": hashes,
        "gate_key": gate_key(hashes),
        "gate": gate,
    }
    rel.manifest.write_text(json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                            encoding="utf-8")


def publish(slug: str, version: str, root: Path | None = None, *, regate: bool = False,
            workers: int | None = None, log=print) -> Release:
    """Build, gate and replace ``student_template/<slug>/<version>`` and ``solutions/...``."""
    target = Release(version, paths.student_dir(slug, version, root),
                     paths.solution_dir(slug, version, root))
    with tempfile.TemporaryDirectory(prefix="fmnist-release-") as tmp:
        rel = build(slug, version, Path(tmp), root)
        fresh = read_manifest(rel.manifest)
        previous = read_manifest(target.manifest) if target.manifest.is_file() else {}
        record = previous.get("gate")
        if (not regate and record and record.get("passed")
                and previous.get("gate_key") == fresh["gate_key"]):
            log(f"gate: passed before for exactly this content (seeds {record.get('seeds')}); "
                "not run again (--regate runs it)")
        else:
            record = gate.run(slug, rel, versions.load(slug, version, root), workers=workers, log=log)
            if not record["passed"]:
                raise PublishError(
                    f"version {version} is refused by the gate; nothing was published:\n  "
                    + "\n  ".join(record["failures"]),
                    hint=f"change {versions.versions_dir(slug, root) / (version + '.toml')} "
                         "(or the master) and publish again")
        fresh["gate"] = record
        rel.manifest.write_text(json.dumps(fresh, ensure_ascii=False, indent=1, sort_keys=True) + "\n",
                                encoding="utf-8")
        for src, dst in ((rel.student, target.student), (rel.solution, target.solution)):
            if dst.exists():
                shutil.rmtree(dst)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(src, dst)
    return target


def stale_files(slug: str, version: str, root: Path | None = None) -> list[str]:
    """Committed files that differ from a fresh build, or a gate record for other content."""
    with tempfile.TemporaryDirectory(prefix="fmnist-stale-") as tmp:
        rel = build(slug, version, Path(tmp), root)
        committed = Release(version, paths.student_dir(slug, version, root),
                            paths.solution_dir(slug, version, root))
        diffs: list[str] = []
        for fresh, old in ((rel.student, committed.student), (rel.solution, committed.solution)):
            diffs += _tree_diff(fresh, old, skip={MANIFEST})
        if not committed.manifest.is_file():
            return diffs + [str(committed.manifest)]
        new, old = read_manifest(rel.manifest), read_manifest(committed.manifest)
        gate_rec = old.pop("gate", None)
        new.pop("gate", None)
        if new != old:
            diffs.append(str(committed.manifest))
        elif not (gate_rec and gate_rec.get("passed")):
            diffs.append(f"{committed.manifest} (no passed gate recorded)")
        return diffs


def _tree_diff(fresh: Path, committed: Path, skip: set[str] = frozenset()) -> list[str]:
    names = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
    if committed.exists():
        names |= {p.relative_to(committed) for p in committed.rglob("*") if p.is_file()
                  and "__pycache__" not in p.parts and p.suffix != ".png"}
    out = []
    for rel in sorted(names):
        if str(rel) in skip:
            continue
        a, b = fresh / rel, committed / rel
        if not (a.is_file() and b.is_file() and filecmp.cmp(a, b, shallow=False)):
            out.append(str(committed / rel))
    return out
