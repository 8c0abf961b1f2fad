"""The README and docs/ against the code: the site builds strictly, the command reference is the
parser's, and every `fmnist-kit ...` line the docs show is a command the parser accepts."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOC_FILES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`([^`\n]+)`")
KIT = re.compile(r"(?<![\w/.-])(?:\.venv/bin/)?fmnist-kit[ \t]+([^\n]*)")
SHELL_END = re.compile(r"\s(?:#|\||>|&&|;|2>)|`")


def documented_commands(text: str) -> list[tuple[str, bool]]:
    """(the words after `fmnist-kit`, whole command?) for each use in code: fenced blocks give whole
    commands (backslash continuations joined), inline code gives fragments (`grade … --only ID`)."""
    found: list[tuple[str, bool]] = []
    blocks = FENCE.findall(text)
    for block in blocks:
        block = re.sub(r"(?m)(^|\s)#.*$", "", block)  # shell comments are prose
        for m in KIT.finditer(re.sub(r"\\\n\s*", " ", block)):
            found.append((SHELL_END.split(m.group(1), maxsplit=1)[0].strip(), True))
    prose = FENCE.sub("", text)
    for span in INLINE.findall(prose):
        for m in KIT.finditer(span):
            found.append((SHELL_END.split(m.group(1), maxsplit=1)[0].strip(), False))
    return found


def _subparsers(parser):
    import argparse

    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices


def command_problem(words: str, whole: bool, parser=None) -> str | None:
    """Why `fmnist-kit <words>` is not a command of the kit (None when it is)."""
    parser = parser or build_parser()
    try:
        argv = [w for w in shlex.split(words) if w not in ("…", "...")]  # placeholders in prose
    except ValueError as exc:
        return f"cannot split: {exc}"
    if not argv:
        return None if not whole else "no subcommand"
    subs = _subparsers(parser)
    if argv[0] not in subs:
        return f"no subcommand {argv[0]!r} (the kit has {', '.join(subs)})"
    known = set(subs[argv[0]]._option_string_actions)
    for word in argv[1:]:
        if word.startswith("-") and word not in ("-", "--") and not re.fullmatch(r"-\d.*", word):
            flag = word.split("=", 1)[0]
            if flag not in known:
                return f"{argv[0]} has no option {flag}"
    if whole:
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            try:
                parser.parse_args(argv)
            except SystemExit as exc:
                if exc.code:
                    return err.getvalue().strip().splitlines()[-1]
    return None


def test_every_documented_command_parses():
    """Does each `fmnist-kit …` in the README and docs name a real subcommand and real flags, and do
    the whole command lines of code blocks parse with the kit's own parser (no grading is run)?"""
    parser = build_parser()
    seen, bad = 0, []
    for path in DOC_FILES:
        for words, whole in documented_commands(path.read_text(encoding="utf-8")):
            seen += 1
            why = command_problem(words, whole, parser)
            if why:
                bad.append(f"{path.relative_to(ROOT)}: fmnist-kit {words}: {why}")
    assert seen >= 20, f"only {seen} documented commands found: is the extraction broken?"
    assert bad == []


@pytest.mark.parametrize("doc, why", [
    ("```sh\nfmnist-kit grade subs.zip --out o --secret secret.txt\n```", "grade has no option --secret"),
    ("Run `fmnist-kit export grading-out --to moodle --worksheets w.csv`.",
     "export has no option --worksheets"),
    ("```sh\nfmnist-kit grade \\\n    --out o\n```", "the following arguments are required: inputs"),
    ("```sh\nfmnist-kit regrade subs.zip\n```", "no subcommand 'regrade'"),
    ("```sh\nfmnist-kit grade subs.zip --retry crashed\n```", "invalid choice: 'crashed'"),
])
def test_a_renamed_or_wrong_flag_in_a_doc_line_is_caught(doc: str, why: str):
    """Would a doc line with a flag the parser does not know (or a bad value) fail the check above?"""
    found = documented_commands(doc)
    assert len(found) == 1
    problem = command_problem(*found[0])
    assert problem is not None and why in problem


def test_renaming_a_real_flag_makes_the_real_docs_fail():
    """If `grade --secret-file` were renamed in the code, would today's docs be caught naming the old flag?"""
    parser = build_parser()
    grade = _subparsers(parser)["grade"]
    action = grade._option_string_actions.pop("--secret-file")
    action.option_strings = ["--course-secret"]
    grade._option_string_actions["--course-secret"] = action
    uses = [found for path in DOC_FILES for found in documented_commands(path.read_text(encoding="utf-8"))]
    bad = [words for words, whole in uses
           if command_problem(words, whole, parser) == "grade has no option --secret-file"]
    assert bad, "no documented command uses grade --secret-file"


def test_docs_call_the_kit_one_way():
    """Do the README and docs call the kit as `fmnist-kit` only (never `python -m autograder <cmd>`)?"""
    other = re.compile(r"python3? -m autograder(?!\.)\b")
    # (a line starting with an absolute path quotes a generated script, e.g. Slurm's job script)
    # (docs/cli.md quotes the parser's own help texts as they are)
    bad = [f"{p.relative_to(ROOT)}:{i}: {line.strip()}" for p in DOC_FILES if p.name != "cli.md"
           for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
           if other.search(line) and not line.startswith("/")]
    assert bad == []


def test_every_flag_the_flags_page_lists_is_in_the_code():
    """Is each flag docs/ta/flags.md explains (first column) words the kit's code really writes?"""
    page = (ROOT / "docs" / "ta" / "flags.md").read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith("| `")]
    code = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "autograder").rglob("*.py"))
    fragments = [f for row in rows for f in re.findall(r"`([^`]+)`", row.split(" | ")[0])]
    assert len(fragments) >= 15
    assert [f for f in fragments if f not in code] == []


def _gen_cli():
    spec = importlib.util.spec_from_file_location("gen_cli", ROOT / "docs" / "gen_cli.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_command_reference_is_the_parsers():
    """Is docs/cli.md what docs/gen_cli.py writes from today's parser (run it after changing a flag)?"""
    expected = _gen_cli().render()
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == expected, (
        "docs/cli.md is stale: run .venv/bin/python docs/gen_cli.py")


def test_the_site_builds_strictly(tmp_path: Path):
    """Does `mkdocs build --strict` pass (no broken link or anchor, no page missing from the nav)?"""
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    assert mkdocs, "mkdocs is not installed: make setup (the dev extras) installs it"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # (Material's banner about its successor)
    run = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                         capture_output=True, text=True, timeout=120, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "site" / "student" / "index.html").is_file()


def test_the_readmes_links_and_picture_exist():
    """Does every relative link and image of the README (outside the MkDocs site) point at a file?"""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = [t.split("#", 1)[0] for t in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in t]
    assert "docs/img/learning-curves.png" in targets and len(targets) >= 10
    assert [t for t in targets if t and not (ROOT / t).exists()] == []


def test_readme_is_short():
    """Is the README a front page (at most 120 lines), the rest in docs/?"""
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) <= 120
