"""Rendering the master notebook for one version (before ``otter assign`` splits it).

Three kinds of edits, all checked so that a master and a version cannot silently disagree:

- the upper-case constants of the master (``SEED = 2026``, ``UNITS_BIGGER = 512``, ...; see
  ``versions.CONSTANTS``) get the version's values; each must be assigned exactly once;
- ``{{key}}`` placeholders in Markdown cells become the version's values (an unknown key is an
  error); ``{{epoch_rule_ja}}``/``{{epoch_rule_en}}`` become the sentence that states the good-epoch
  tolerance ("within 0.01 of the lowest", or "exactly" when it is 0);
- the questions that state a grading rule must state the version's numbers: each parameter the
  grader uses for a question appears in its prompt, and no other decimal number does (a number
  typed into the master instead of a placeholder would otherwise go out stale);
- the seed of otter's ``ASSIGNMENT CONFIG`` becomes the version's seed;
- with ``language = "en"`` the Japanese half of every bilingual Markdown text and code comment
  is dropped (the master's convention: Japanese first, then the English after ``/``), and
  Markdown that would still hold Japanese is an error naming the cell.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from autograder.errors import PublishError
from autograder.notebook import cell_source
from autograder.release.versions import BY_KEY, CONSTANTS, Version

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_JAPANESE = re.compile(r"[\u3000-\u30ff\u3400-\u9fff\uff00-\uffef]")
_LIST_ITEM = re.compile(r"^(\s*(?:[-*]|\d+\.)\s+)")


def _set_source(cell: dict, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True)


def literal(value: Any) -> str:
    """How a value is written in Python and in Markdown."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return repr(value)


def render_master(nb: dict, version: Version) -> dict:
    """A copy of the master notebook with ``version``'s values in it."""
    nb = copy.deepcopy(nb)
    seen = {name: 0 for name in CONSTANTS}
    for i, cell in enumerate(nb.get("cells", [])):
        text = cell_source(cell)
        kind = cell.get("cell_type")
        if kind == "raw" and "ASSIGNMENT CONFIG" in text:
            text = re.sub(r"(?m)^(\s*(?:autograder_value|student_value):\s*)\S+",
                          lambda m: m.group(1) + str(version["seed"]), text)
        elif kind == "code":
            text = _constants(text, version, seen)
            if version["language"] == "en":
                text = english_code(text)
        elif kind == "markdown":
            text = _placeholders(text, version, i)
            if version["language"] == "en":
                text = english_markdown(text)
                left = _JAPANESE.search(text)
                if left:
                    line = next(ln for ln in text.splitlines() if _JAPANESE.search(ln))
                    raise PublishError(
                        f"master cell {i}: Japanese left in the English-only rendering: {line.strip()!r}",
                        hint="write bilingual Markdown as Japanese first, then '/ English' "
                             "(a line starting with '/ ', or 'ja / en' in headings and tables)")
        _set_source(cell, text)
    missing = [name for name, n in seen.items() if n != 1]
    if missing:
        raise PublishError(
            "the master notebook must assign each version constant exactly once; "
            + ", ".join(f"{name} ({seen[name]} times)" for name in missing),
            hint="keep lines like `UNITS_BIGGER = 512  # comment` in the master's code cells")
    check_rules_stated(nb, version)
    return nb


def _constants(text: str, version: Version, seen: dict[str, int]) -> str:
    def sub(m: re.Match[str]) -> str:
        name = m.group(2)
        seen[name] += 1
        return f"{m.group(1)}{name}{m.group(3)}{literal(version[CONSTANTS[name]])}"

    names = "|".join(sorted(CONSTANTS, key=len, reverse=True))
    return re.sub(rf"(?m)^(\s*)({names})(\s*=\s*)([^#\n]*?)(?=\s*(?:#|$))", sub, text)


def _placeholders(text: str, version: Version, cell: int) -> str:
    def sub(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in BY_KEY and key not in DERIVED:
            raise PublishError(f"master cell {cell}: unknown placeholder {m.group(0)}",
                               hint=f"placeholders name version parameters: {', '.join(BY_KEY)}")
        if key in DERIVED:
            return DERIVED[key](version)
        return literal(version[key])

    return _PLACEHOLDER.sub(sub, text)


_EXACT = {"ja": "検証の損失が最も小さいエポックちょうどだけが正解です。表 `hist_bigger` の `val_loss` 列で"
                "確かめられます。",
          "en": "Only exactly that epoch is accepted (check it in the `val_loss` column of the table "
                "`hist_bigger`)."}
_WITHIN = {"ja": "検証の損失が最小値から {tol} 以内のエポックも正解です。",
           "en": "Epochs whose validation loss is within {tol} of the lowest are accepted too."}


def _epoch_rule(lang: str) -> Callable[[Version], str]:
    def rule(version: Version) -> str:
        tol = version["epoch_tol"]
        return _EXACT[lang] if tol == 0 else _WITHIN[lang].format(tol=literal(tol))
    return rule


def val_acc_example(version: Version) -> str:
    """An example accuracy with as many decimals as ``val_acc_tol`` needs (0.83 for 0.02, 0.834 for
    0.001): a prompt that accepts ±0.001 does not show a two-decimal example."""
    decimals = len(literal(version["val_acc_tol"]).partition(".")[2].rstrip("0"))
    return _ACC_EXAMPLE[:2 + min(max(decimals, 2), 4)]


_ACC_EXAMPLE = "0.8347"

#: Placeholders computed from a version's parameters (sentences that depend on a value).
DERIVED: dict[str, Callable[[Version], str]] = {
    "epoch_rule_ja": _epoch_rule("ja"), "epoch_rule_en": _epoch_rule("en"),
    "val_acc_example": val_acc_example}

#: The prompt heading of each question that states a grading rule -> the parameters it must state
#: (with the decimal examples it may also show). ``epoch_tol`` 0 is stated as "exactly".
RULES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "7": (("epoch_tol",), ()),
    "8": (("val_acc_tol",), ("0.83", "0.834", "0.8347")),
    "9": (("overfit_yes_at", "overfit_no_below"), ()),
    "10": (("choice_tol", "gap_tol"), ()),
    "12": (("gap_tol", "choice_tol"), ("−0.02", "-0.02", "0.01", "0.02")),
}
_QUESTION = re.compile(r"^\s*###\s*(?:問|Q)(\d+)\b")
_DECIMAL = re.compile(r"[−-]?\d+\.\d+")


def check_rules_stated(nb: dict, version: Version) -> None:
    """Refuse a rendering whose rule prompts would state a number other than the version's."""
    found = set()
    for i, cell in enumerate(nb.get("cells", [])):
        if cell.get("cell_type") != "markdown":
            continue
        text = cell_source(cell)
        m = _QUESTION.match(text)
        if m is None or m.group(1) not in RULES:
            continue
        heading = f"Q{m.group(1)}"
        found.add(m.group(1))
        keys, examples = RULES[m.group(1)]
        values = {literal(version[k]) for k in keys}
        for key in keys:
            if key == "epoch_tol" and version[key] == 0:
                continue
            if literal(version[key]) not in text:
                raise PublishError(f"master cell {i} ({heading}): the prompt does not state {key} = "
                                   f"{literal(version[key])}",
                                   hint=f"write {{{{{key}}}}} where the prompt states the rule")
        stray = [n for n in _DECIMAL.findall(text) if n not in values and n not in examples]
        if stray:
            raise PublishError(f"master cell {i} ({heading}): the prompt states {', '.join(stray)}, which "
                               f"is not a grading parameter of version {version.id} ({', '.join(keys)})",
                               hint="write the number as a {{placeholder}} of the parameter it states")
    missing = sorted(set(RULES) - found, key=int)
    if missing:
        raise PublishError(f"the master has no prompt for {', '.join('Q' + q for q in missing)}",
                           hint="each question that states a grading rule keeps its heading")


def _en_inline(text: str) -> str:
    """'日本語 / English' -> 'English' (headings, bold labels, table cells); else unchanged."""
    if " / " in text:
        ja, en = text.split(" / ", 1)
        if _JAPANESE.search(ja):
            lead = re.match(r"^(\s*(?:#+\s*|\*\*|(?:[-*]|\d+\.)\s+)?(?:`[^`]*`:\s*)?)", ja).group(1)
            return lead + en
    return re.sub(r"（[^）]*）", "", text) if _JAPANESE.search(text) else text


def english_markdown(text: str) -> str:
    """Keep the English half of each bilingual block of a Markdown cell."""
    out_blocks = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.split("\n")
        if any(ln.lstrip().startswith("|") for ln in lines):  # a table: cell by cell
            out_blocks.append("\n".join(
                "|".join(_en_inline(c) for c in ln.split("|")) if ln.lstrip().startswith("|") else ln
                for ln in lines))
            continue
        items: list[list[str]] = []
        for ln in lines:
            if _LIST_ITEM.match(ln) or not items:
                items.append([ln])
            else:
                items[-1].append(ln)
        out_blocks.append("\n".join(_en_item(item) for item in items))
    return "\n\n".join(out_blocks)


def _en_item(lines: list[str]) -> str:
    """One paragraph or list item: Japanese lines, then '/ English' lines."""
    split = next((k for k, ln in enumerate(lines) if ln.lstrip().startswith("/ ")), None)
    if split is None:
        return "\n".join(_en_inline(ln) for ln in lines)
    first = lines[0]
    marker = _LIST_ITEM.match(first)
    prefix = marker.group(1) if marker else ""
    body = first[len(prefix):]
    label = re.match(r"^(\*\*[^*]+ / [^*]+\*\*:?\s*)", body)
    if label:
        prefix += _en_inline(label.group(1).rstrip(": ")) + (": " if ":" in label.group(1) else " ")
    term = re.match(r"^\*\*[^*]+\*\*（([^）]+)）(:?)\s*", body)  # **用語**（term）: -> **term**:
    if term and not label:
        prefix += f"**{term.group(1)}**{term.group(2)} "
    en = [lines[split].lstrip()[2:]] + [ln.strip() if prefix else ln for ln in lines[split + 1:]]
    indent = " " * len(marker.group(1)) if marker else ""
    return prefix + en[0] + "".join("\n" + indent + ln for ln in en[1:])


def english_code(text: str) -> str:
    """Comments and one-line docstrings '日本語 / English' keep their English half."""
    def english(m: re.Match[str]) -> str:
        body = m.group(2)
        ja, sep, en = body.partition(" / ")
        return m.group(1) + en + m.group(3) if sep and _JAPANESE.search(ja) else m.group(0)

    text = re.sub(r"(?m)(#\s*)([^\n'\"]*)()$", english, text)
    return re.sub(r'(?m)^(\s*""")([^"\n]*)(""")$', english, text)
