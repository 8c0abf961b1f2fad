"""Form checks of the answers a student reads off the curves (public tests).

This module is shipped beside the student notebook as ``kit_checks.py`` (see ``publish``), so
it imports nothing from the kit: the public checks must run on Google Colab too. They check the
*form* of an answer only and never compare it with the curves, so they cannot leak the answer.
Every failure is a :class:`ReadingError`, an ``AssertionError`` whose bilingual message
(Japanese first, then English) otter-grader shows as feedback.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NoReturn

import numpy as np


class ReadingError(AssertionError):
    """An answer of the wrong form or too far from the curves; the message is the feedback."""


def _fail(name: str, ja: str, en: str) -> NoReturn:
    """Raise one bilingual message, prefixed by the variable the student filled in."""
    raise ReadingError(f"{name}: {ja} / {en}")


def _shown(value: object) -> tuple[str, str]:
    """Describe ``value`` briefly in Japanese and English for a message."""
    if isinstance(value, str):
        text = value if len(value) <= 30 else value[:27] + "..."
        return f"文字列 {text!r}", f"the string {text!r}"
    if isinstance(value, int | float | np.number | np.bool_):
        text = repr(value.item() if isinstance(value, np.generic) else value)
        return text, text
    kind = type(value).__name__
    return f"{kind} 型の値", f"a value of type {kind}"


def _placeholder(value: object, name: str, what_ja: str, what_en: str) -> None:
    """Reject the values every reading shares as "not answered yet": ``...`` and ``None``."""
    if value is Ellipsis:
        _fail(name, f"... をあなたの答え、{what_ja}に書き換えてください",
              f"Replace ... with your answer ({what_en}).")
    if value is None:
        sep = " " if what_ja[-1].isascii() else ""
        _fail(name, f"答えが None です。{what_ja}{sep}で答えてください",
              f"The answer is None; write {what_en}.")


#: What an epoch or accuracy answer that is not a number is told, Japanese and English: for
#: True/False, for a string, for anything else; ``{}`` is the value as shown.
_NOT_A_NUMBER = {
    "epoch": (
        ("True や False ではなくエポック数を整数で答えてください（{}）",
         "True or False is not an epoch; write a whole number (got {})."),
        ("エポック数は文字列ではなく整数で答えてください。引用符を外してください（{}）",
         "The epoch count must be a whole number, not a string (got {}); remove the quotes."),
        ("エポック数は整数で答えてください（{}）",
         "The epoch count must be a whole number (got {})."),
    ),
    "accuracy": (
        ("True や False ではなく精度を 0 から 1 の小数で答えてください（{}）",
         "True or False is not an accuracy; write a fraction between 0 and 1 (got {})."),
        ("精度は文字列ではなく数値で答えてください。引用符を外してください（{}）",
         "The accuracy must be a number, not a string (got {}); remove the quotes."),
        ("精度は 0 から 1 の小数で答えてください（{}）",
         "The accuracy must be a number between 0 and 1 (got {})."),
    ),
}


def _worded(kind: str, which: int, value: object) -> tuple[str, str]:
    """Message ``which`` (0 True/False, 1 a string, 2 anything else) of ``kind`` for ``value``."""
    ja, en = _shown(value)
    words_ja, words_en = _NOT_A_NUMBER[kind][which]
    return words_ja.format(ja), words_en.format(en)


def _refuse_non_number(value: object, name: str, kind: str) -> None:
    """Refuse ``True``/``False`` (Python counts them as numbers, no student means them so), a
    string (say: remove the quotes) and anything else that is not a number."""
    if isinstance(value, bool | np.bool_):
        _fail(name, *_worded(kind, 0, value))
    if isinstance(value, str):
        _fail(name, *_worded(kind, 1, value))
    if not isinstance(value, int | float | np.integer | np.floating):
        _fail(name, *_worded(kind, 2, value))


def as_epoch(value: object, name: str, n_epochs: int) -> int:
    """Coerce an epoch answer to ``int`` in ``1..n_epochs``.

    Whole floats such as ``7.0`` are accepted because arithmetic in a notebook produces them;
    ``True`` is refused although Python counts it as 1, since it is never meant as an epoch.
    """
    what_ja = f"1 から {n_epochs} までの整数のエポック数"
    what_en = f"an epoch number, a whole number from 1 to {n_epochs}"
    _placeholder(value, name, what_ja, what_en)
    _refuse_non_number(value, name, "epoch")
    if isinstance(value, float | np.floating) and not (math.isfinite(float(value))
                                                       and float(value).is_integer()):
        _fail(name, *_worded("epoch", 2, value))
    epoch = int(value)  # type: ignore[call-overload]
    if not 1 <= epoch <= n_epochs:
        _fail(name, f"エポック数は 1 から {n_epochs} の範囲で答えてください（{epoch}）",
              f"The epoch must be between 1 and {n_epochs} (got {epoch}).")
    return epoch


def as_accuracy(value: object, name: str) -> float:
    """Coerce an accuracy answer to a ``float`` fraction in ``0..1``.

    A value in ``(1, 100]`` is almost surely a percentage, so the message says how to write it.
    """
    _placeholder(value, name, "0 から 1 の小数", "a fraction between 0 and 1")
    _refuse_non_number(value, name, "accuracy")
    acc = float(value)  # type: ignore[arg-type]
    if not math.isfinite(acc):
        _fail(name, f"精度は 0 から 1 の小数で答えてください（{acc}）",
              f"The accuracy must be a number between 0 and 1 (got {acc}).")
    if 1.0 < acc <= 100.0:
        _fail(name, (f"百分率のようです。{acc / 100:g} のように 0 から 1 の小数で書いてください"
                     f"（{acc:g} ではなく）"),
              f"This looks like a percentage; write {acc / 100:g}, not {acc:g}.")
    if not 0.0 <= acc <= 1.0:
        _fail(name, f"精度は 0 から 1 の範囲で答えてください（{acc:g}）",
              f"The accuracy must be between 0 and 1 (got {acc:g}).")
    return acc


def as_yes_no(value: object, name: str) -> bool:
    """Coerce a yes/no answer; only ``True`` and ``False`` count, so "no" cannot read as truthy."""
    _placeholder(value, name, "True または False", "True or False")
    if isinstance(value, bool | np.bool_):
        return bool(value)
    ja, en = _shown(value)
    quotes_ja = "引用符を付けずに" if isinstance(value, str) else ""
    quotes_en = " without quotes" if isinstance(value, str) else ""
    _fail(
        name,
        f"{quotes_ja} True または False で答えてください（{ja}）".strip(),
        f"Use True or False{quotes_en} (got {en}).",
    )


def _normal(text: str) -> str:
    """Case- and spacing-insensitive form of a choice."""
    return " ".join(text.split()).casefold()


def as_choice(value: object, name: str, choices: Sequence[str]) -> str:
    """Match ``value`` to ``choices`` ignoring case and spacing; return the listed spelling."""
    if not choices:
        raise ValueError("choices must not be empty")
    listed = ", ".join(repr(c) for c in choices)
    _placeholder(value, name, f"{listed} のいずれか", f"one of {listed}")
    ja, en = _shown(value)
    if isinstance(value, str):
        for choice in choices:
            if _normal(choice) == _normal(value):
                return choice
    _fail(name, f"次のいずれかを文字列で答えてください: {listed}（{ja}）",
          f"Answer with one of {listed}, as a string (got {en}).")


# --- public tests: form only -------------------------------------------------------------


def check_form_epoch(value: object, name: str, n_epochs: int) -> None:
    """Public test: is ``value`` a usable epoch? Says nothing about whether it is right."""
    as_epoch(value, name, n_epochs)


def check_form_accuracy(value: object, name: str) -> None:
    """Public test: is ``value`` a usable accuracy? Says nothing about whether it is right."""
    as_accuracy(value, name)


def check_form_yes_no(value: object, name: str) -> None:
    """Public test: is ``value`` ``True`` or ``False``? Says nothing about which is right."""
    as_yes_no(value, name)


def check_form_choice(value: object, name: str, choices: Sequence[str]) -> None:
    """Public test: is ``value`` one of ``choices``? Says nothing about which is right."""
    as_choice(value, name, choices)




# --- hand-in on Google Colab (the notebook's last cell) ---

_BY_HAND_JA = ("メニューの「ファイル」→「ダウンロード」→「.ipynb をダウンロード」で保存し、"
               "そのファイルを提出してください。")
_BY_HAND_EN = "use the menu File -> Download -> Download .ipynb and hand in that file."


def download_notebook(filename: str) -> str | None:
    """On Google Colab: save this notebook as it is now (cells and outputs) to ``filename`` and
    let the browser download it; returns the file written, or None after telling the student
    how to download it by hand (Colab's menu gives the same file).

    ``grader.export`` does not work on Colab (otter-grader refuses it there), and the notebook
    file is not in Colab's working folder, so the notebook is asked from Colab's page itself.
    """
    import json

    try:
        from google.colab import _message, files  # type: ignore[import-not-found]

        reply = _message.blocking_request("get_ipynb", request="", timeout_sec=120)
        nb = reply.get("ipynb") if isinstance(reply, dict) else None
        if not isinstance(nb, dict) or not nb.get("cells"):
            raise ValueError("Colab returned no notebook")
        with open(filename, "w", encoding="utf-8") as f:
            json.dump(nb, f, ensure_ascii=False, indent=1)
        files.download(filename)
    except Exception as exc:  # whatever failed, the student is told what to do instead
        print(f"ノートブックを自動でダウンロードできませんでした（{type(exc).__name__}）。{_BY_HAND_JA}\n"
              f"/ The notebook could not be downloaded automatically ({type(exc).__name__}): {_BY_HAND_EN}")
        return None
    print(f"{filename} をダウンロードしました。このファイルを提出してください。"
          f"ダウンロードが始まらないときは、{_BY_HAND_JA}\n"
          f"/ {filename} was downloaded: hand in this file. If no download started, {_BY_HAND_EN}")
    return filename
