"""Publishing: the master notebook -> student notebook, solution notebook, autograder zip.

``otter assign`` does the splitting; this module makes its output reproducible (fixed cell ids,
no timestamps, a zip with fixed dates and sorted entries) so that the committed files can be
compared with a fresh build, and ships the public form checks (``autograder/forms.py``) beside
the student notebook as ``kit_checks.py`` so that ``grader.check`` works on Colab too.
"""

from __future__ import annotations

import contextlib
import filecmp
import io
import json
import shutil
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from autograder import paths
from autograder.errors import NotebookError, PublishError

SUPPORT_MODULE = "kit_checks.py"
_FIXED_DATE = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class Release:
    student: Path
    solution: Path
    autograder_zip: Path


def _read_json_notebook(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotebookError(
            f"cannot read notebook {path}: {exc}", hint="open it in Jupyter and save it again"
        ) from None


def normalise_notebook(path: Path) -> None:
    """Give cells stable ids and drop volatile metadata so that builds are byte-identical."""
    nb = _read_json_notebook(path)
    for i, cell in enumerate(nb.get("cells", [])):
        cell["id"] = f"cell-{i:03d}"
        cell.get("metadata", {}).pop("execution", None)
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
    path.write_text(json.dumps(nb, ensure_ascii=False, indent=1, sort_keys=True) + "\n", "utf-8")


def repack_zip(src: Path, dest: Path) -> None:
    """Rewrite a zip with sorted entries and fixed dates and modes (reproducible bytes)."""
    with zipfile.ZipFile(src) as zin:
        entries = sorted((info.filename, zin.read(info)) for info in zin.infolist()
                         if not info.is_dir())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, payload in entries:
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
            info.external_attr = (0o755 if name == "run_autograder" else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, payload)
    dest.write_bytes(buf.getvalue())


def build(slug: str, dest: Path, root: Path | None = None) -> Release:
    """Run otter assign on the master of ``slug`` and lay the result out under ``dest``."""
    from otter.assign import main as otter_assign

    master = paths.master_notebook(slug, root)
    nb = _read_json_notebook(master)
    if not any("ASSIGNMENT CONFIG" in "".join(c.get("source", "")) for c in nb.get("cells", [])):
        raise PublishError(
            f"{master} has no '# ASSIGNMENT CONFIG' cell, so it is not an Otter Assign master",
            hint="keep the raw config cell at the top of the master notebook",
        )
    with tempfile.TemporaryDirectory(prefix="fmnist-publish-") as tmp:
        work = Path(tmp) / "master"
        shutil.copytree(master.parent, work, ignore=shutil.ignore_patterns("*.png", ".*"))
        shutil.copy(Path(__file__).with_name("forms.py"), work / SUPPORT_MODULE)
        out = Path(tmp) / "dist"
        log = io.StringIO()
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
                otter_assign(str(work / master.name), str(out), no_pdfs=True, no_run_tests=True)
        except Exception as exc:  # otter raises plain exceptions for master-notebook mistakes
            raise PublishError(
                f"otter assign failed on {master}: {exc}",
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
    normalise_notebook(student / master.name)
    normalise_notebook(solution / master.name)
    return Release(student, solution, solution / "autograder.zip")


def publish(slug: str, root: Path | None = None) -> Release:
    """Build and replace ``student_template/<slug>`` and ``solutions/<slug>``."""
    with tempfile.TemporaryDirectory(prefix="fmnist-release-") as tmp:
        rel = build(slug, Path(tmp), root)
        targets = {rel.student: paths.student_dir(slug, root),
                   rel.solution: paths.solution_dir(slug, root)}
        for src, target in targets.items():
            if target.exists():
                shutil.rmtree(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(src, target)
    sol = paths.solution_dir(slug, root)
    return Release(paths.student_dir(slug, root), sol, sol / "autograder.zip")


def stale_files(slug: str, root: Path | None = None) -> list[str]:
    """The committed generated files that differ from a fresh build (empty when up to date)."""
    with tempfile.TemporaryDirectory(prefix="fmnist-stale-") as tmp:
        rel = build(slug, Path(tmp), root)
        diffs: list[str] = []
        for fresh, committed in ((rel.student, paths.student_dir(slug, root)),
                                 (rel.solution, paths.solution_dir(slug, root))):
            diffs += _tree_diff(fresh, committed)
        return diffs


def _tree_diff(fresh: Path, committed: Path) -> list[str]:
    names = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
    if committed.exists():
        names |= {p.relative_to(committed) for p in committed.rglob("*") if p.is_file()
                  and "__pycache__" not in p.parts and p.suffix != ".png"}
    out = []
    for rel in sorted(names):
        a, b = fresh / rel, committed / rel
        if not (a.is_file() and b.is_file() and filecmp.cmp(a, b, shallow=False)):
            out.append(str(committed / rel))
    return out
