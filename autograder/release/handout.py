"""What the student is handed: the notebook's own first and hand-in cells, the README, the zip.

``student_cells`` replaces otter's first cell, hand-in note and hand-in cell by the kit's, which
work on Google Colab as on Jupyter: the first cell carries the version stamp (``KIT_STAMP``) and
the public checks (``checks_payload``: the notebook alone is all a student needs); the hand-in
cell downloads the notebook on Colab and exports a zip elsewhere. ``handout_readme`` is the
README (Japanese first unless the version is English-only), ``write_zip`` the reproducible zip
(sorted entries, fixed dates and modes) that ``publish`` and ``variants`` write.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

from autograder.catalog import SUPPORT_MODULE
from autograder.errors import PublishError
from autograder.notebook import dump_notebook, read_json_notebook, stamp_line
from autograder.release import render, versions

_FIXED_DATE = (1980, 1, 1, 0, 0, 0)


INIT_CELL = """# 最初に実行するセル / run this cell first
# otter-grader を準備し、答えの形式を確かめるテストを書き出す / set up otter-grader, write out the form checks
{stamp_line}  # 採点に使います。変えないでください / used for grading: do not change it
NOTEBOOK = {name}
ON_COLAB = "google.colab" in str(get_ipython())  # Google Colab で動いているか / running on Google Colab?
try:
    import otter
except ImportError:  # Colab などでは一度インストールする / installed once where missing, e.g. on Colab
    %pip install -q otter-grader==7.0.0
    try:
        import otter
    except ImportError:
        raise ImportError(
            "otter-grader をインストールできませんでした。インターネットにつながっているか"
            "確かめ、ランタイム（カーネル）を再起動してこのセルをもう一度実行してください。"
            "それでも失敗するときは、上の表示を添えて TA に連絡してください"
            " / otter-grader could not be installed: check the internet connection, restart the"
            " runtime (kernel) and run this cell again; if it still fails, send what is shown"
            " above to your TA") from None
import base64, io, os, zipfile
KIT_CHECKS = "{payload}"
if not getattr(otter.Notebook, "_grading_mode", False):  # 採点中は書き出さない / not while being graded
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(KIT_CHECKS))) as checks:
        checks.extractall()
grader = otter.Notebook(NOTEBOOK if os.path.isfile(NOTEBOOK) else None)
"""

HAND_IN_MARKDOWN = """## 提出 / Hand-in

**すべてのセルを上から順に実行し、保存してから**、次のセルを実行します。
/ **Run all cells in order and save the notebook first**, then run the next cell.

- **Google Colab**: このノートブック（`{nb}`）がダウンロードされます。
  そのファイルを提出します。ダウンロードされないときは、メニューの
  「ファイル」→「ダウンロード」→「.ipynb をダウンロード」で保存します。
  / This notebook (`{nb}`) is downloaded: hand in that file. If no download starts, use the
  menu File -> Download -> Download .ipynb.
- **Jupyter**（自分のパソコン / your own computer）: zip ファイルが作られ、リンクが表示されます。
  その zip を提出します。/ A zip file is made and a link to it is shown: hand in that zip.
"""

HAND_IN_CELL = """# 提出用のファイルを作る（保存してから実行） / make the file to hand in (save first)
if ON_COLAB:  # Google Colab: ノートブック（.ipynb）をダウンロードする / downloads the notebook (.ipynb)
    from kit_checks import download_notebook
    download_notebook(NOTEBOOK)
else:  # Jupyter: 提出用の zip を作る / makes the zip to hand in
    grader.export(pdf=False, run_tests=False)
"""


def checks_payload(student: Path) -> str:
    """The public tests and ``kit_checks.py`` of a student folder as one base64 zip (fixed bytes),
    which the notebook's first cell writes out: the notebook alone is all a student needs."""
    entries = [(p.relative_to(student).as_posix(), p.read_bytes())
               for p in sorted((student / "tests").glob("*.py"))]
    entries.append((SUPPORT_MODULE, (student / SUPPORT_MODULE).read_bytes()))
    buf = io.BytesIO()
    write_zip(buf, entries)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _one_cell(nb: dict, path: Path, what: str, test: Callable[[dict], bool], hint: str) -> dict:
    cells = [c for c in nb.get("cells", []) if test(c)]
    if len(cells) != 1:
        raise PublishError(f"{path}: {what} not found once (found {len(cells)})", hint=hint)
    return cells[0]


def student_cells(path: Path, stamp: dict[str, str], payload: str, english_only: bool = False) -> None:
    """Replace otter's first cell, hand-in note and hand-in cell by the kit's, which work on
    Google Colab as on Jupyter: the first cell carries the version stamp (``KIT_STAMP``) and the
    public checks, the hand-in cell downloads the notebook on Colab and exports a zip elsewhere."""
    nb = read_json_notebook(path)
    hint = "keep `init_cell: true` and `export_cell:` in the master's ASSIGNMENT CONFIG"
    init = _one_cell(nb, path, "otter's init cell ('# Initialize Otter')",
                     lambda c: c.get("cell_type") == "code"
                     and "".join(c.get("source", "")).startswith("# Initialize Otter"), hint)
    export = _one_cell(nb, path, "otter's export cell ('grader.export(')",
                       lambda c: c.get("cell_type") == "code"
                       and "grader.export(" in "".join(c.get("source", "")), hint)
    note = _one_cell(nb, path, "otter's hand-in note ('## Submission')",
                     lambda c: c.get("cell_type") == "markdown"
                     and "".join(c.get("source", "")).startswith("## Submission"), hint)
    init_src = INIT_CELL.format(stamp_line=stamp_line(stamp), name=json.dumps(path.name), payload=payload)
    note_src = HAND_IN_MARKDOWN.format(nb=path.name)
    cell_src = HAND_IN_CELL
    if english_only:
        init_src, cell_src = render.english_code(init_src), render.english_code(cell_src)
        note_src = render.english_markdown(note_src)
    init["source"] = init_src.splitlines(keepends=True)
    note["source"] = note_src.splitlines(keepends=True)
    export["source"] = cell_src.splitlines(keepends=True)
    path.write_text(dump_notebook(nb), "utf-8")


def write_zip(dest: Path | io.BytesIO, entries: list[tuple[str, bytes]],
              executable: tuple[str, ...] = ()) -> None:
    """A zip with sorted entries and fixed dates and modes (reproducible bytes), to a file or buffer."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for name, payload in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_FIXED_DATE)
            info.external_attr = (0o755 if name in executable else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zout.writestr(info, payload)
    if isinstance(dest, io.BytesIO):
        dest.write(buf.getvalue())
    else:
        dest.write_bytes(buf.getvalue())



#: The Jupyter install line: the TensorFlow the kit supports (pyproject.toml; the same curves were
#: measured on 2.19-2.21), otter as the first cell installs it, and JupyterLab to open the notebook.
_PIP = "pip install otter-grader==7.0.0 tensorflow==2.21.0 matplotlib pandas jupyterlab"

#: The times a student is told, rounded from the solution notebook run on the kit's machine (2 CPU
#: cores; measurements/cell_times.py, MEASUREMENTS.md "The student's wait"): the notebook's cells
#: and docs/student.md state the same figures (tests/unit/test_student_text.py).
TIMES = {"whole_minutes": 1, "part1_seconds": 15, "part2_seconds": 15, "part3_seconds": 30}

_README_JA = """# {slug}（{version_ja}）
{who}
必要なのはノートブック `{nb}` ひとつだけです。答えの形式を確かめるテスト（`tests/` と `kit_checks.py`）は、
最初のセルを実行するとノートブック自身が書き出します。
問1〜問6 と問11 はコードを書く問題、問7〜問10 と問12 はグラフと表を読み取って答える問題です。

**かかる時間**: ノートブック全体で約 {whole_minutes} 分です
（CPU 2 コアのパソコンでの測定。Google Colab では速さが違うことがあります）。
長いのは学習のセルで、問3 の学習が約 {part1_seconds} 秒、3 つのネットワークが約 {part2_seconds} 秒、
過学習を緩和する 3 つの方法が約 {part3_seconds} 秒です。途中でセルを止めないでください。

## Google Colab で使う

1. ノートブックを開きます。先生が共有した Colab のリンクを開くか、この zip を展開して
   Colab のメニュー「ファイル」→「ノートブックをアップロード」で `{nb}` を選びます。
2. 共有リンクから開いたときは、**最初に**メニュー「ファイル」→「ドライブにコピーを保存」を選び、
   開いたコピーで作業します。共有されたノートブックのままでは、書いた答えが保存されません。
3. メニュー「ランタイム」→「すべてのセルを実行」で、上から順にすべてのセルを実行します。
   最初のセルが otter-grader をインストールし、テストを書き出します。
4. `...` を自分のコードや答えに書きかえ、そのセルを実行します。
   `grader.check(...)` のセルで答えの形式（型・範囲）を確かめられます。正しいかどうかは提出後に採点されます。
5. 答えがそろったら、もう一度「すべてのセルを実行」し、終わったらメニュー「ファイル」→「保存」で保存します。
   それから最後のセル（提出）を実行すると `{nb}` がダウンロードされます。ダウンロードされないときは、
   メニューの「ファイル」→「ダウンロード」→「.ipynb をダウンロード」で保存します。
6. ダウンロードした `{nb}` を Moodle の課題のページから提出します。
7. ランタイムがリセットされたら（時間がたつと起こります）、最初のセルから実行し直します。

## 自分のパソコン（Jupyter）で使う

1. この zip を展開したフォルダで `{pip}` を実行します（この TensorFlow の版で確かめてあります）。
2. `jupyter lab {nb}` で開き、上から順にすべてのセルを実行します。
3. 保存してから最後のセル（提出）を実行すると zip ファイルが作られます。その zip を Moodle の課題のページから
   提出します（`{nb}` だけの提出でもかまいません）。

最初のセルの `KIT_STAMP`（版の情報）とノートブックのメタデータは変えないでください。採点に使います。

---

"""

_README_EN = """# {slug} (version {version})
{who}
All you need is the notebook `{nb}`. Its first cell writes out the checks of your answers' form
(`tests/` and `kit_checks.py`) itself.
Q1–Q6 and Q11 ask for code; Q7–Q10 and Q12 ask you to read the curves and tables.

**Time**: about {whole_minutes} {minutes} for the whole notebook (measured on a computer with 2 CPU
cores; on Google Colab the speed may differ). The long cells are the trainings: Q3's training
about {part1_seconds} seconds, the three networks about {part2_seconds} seconds, the three ways of
easing overfitting about {part3_seconds} seconds. Do not interrupt them.

## On Google Colab

1. Open the notebook: follow the Colab link your instructor shared, or unzip this file and
   choose `{nb}` in Colab's menu File -> Upload notebook.
2. If you opened a shared link, **first** choose File -> Save a copy in Drive and work in the copy
   that opens: in the shared notebook your answers are not saved.
3. Run all cells from top to bottom with Runtime -> Run all. The first cell installs otter-grader
   and writes out the checks.
4. Replace each `...` with your code or answer and run that cell. The `grader.check(...)` cells
   check the form of your answers (type, range); whether they are right is graded after you hand in.
5. When your answers are in, Run all once more; when it has finished, save (File -> Save), then
   run the last cell (hand-in): it downloads `{nb}`. If no download starts, use the menu
   File -> Download -> Download .ipynb.
6. Hand in the downloaded `{nb}` on the exercise's page in Moodle.
7. If the runtime was reset (it happens after a while), run again from the first cell.

## On your own computer (Jupyter)

1. In the unzipped folder run `{pip}` (the TensorFlow version the kit was checked with).
2. Open it with `jupyter lab {nb}` and run all cells from top to bottom.
3. Save, then run the last cell (hand-in): it makes a zip file. Hand in that zip on the exercise's
   page in Moodle (handing in `{nb}` alone is fine too).

Do not change `KIT_STAMP` in the first cell (the version) or the notebook's metadata: grading uses them.
"""


def handout_readme(slug: str, ver: versions.Version, student_id: str | None = None) -> str:
    """The handout's README: Colab and local Jupyter (Japanese first unless the version is en)."""
    version_ja = f"{ver.id} 年版" if ver.id.isdigit() else f"版 {ver.id}"  # 2026 年版, 版 2026-fall
    fields = {"slug": slug, "version": ver.id, "version_ja": version_ja, "nb": f"{slug}.ipynb", "pip": _PIP,
              "minutes": "minute" if TIMES["whole_minutes"] == 1 else "minutes", **TIMES}
    who_ja = (f"\nこのノートブックは学生 {student_id} 専用です（乱数のシードが一人ひとり違います）。\n"
              if student_id else "")
    who_en = (f"\nThis notebook is for student {student_id} only (every student has their own seed).\n"
              if student_id else "")
    en = _README_EN.format(who=who_en, **fields)
    return en if ver["language"] == "en" else _README_JA.format(who=who_ja, **fields) + en
