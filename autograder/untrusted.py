"""JSON from the student's side, parsed with caps: the one loader for what the kit did not write.

A submitted notebook, the values the kernel exported, otter's results written in the sandbox:
any of them may be built to hurt the parser. Python's ``json.loads`` raises ``RecursionError``
on deeply nested arrays (not a ``ValueError``: it went through every ``except ValueError``) and a
``ValueError`` for an integer of more than 4,300 digits (the int-str conversion limit), and it
takes many times the file's size in memory. ``loads`` and ``read`` refuse a file over a byte cap
and a nesting deeper than ``MAX_DEPTH`` (measured without recursion, before parsing), and turn
every such refusal into ``JSONLimitError``, a ``ValueError`` whose message says what was wrong.

Imports nothing from the kit (it ships in the published autograder zip) and nothing heavy.
"""

from __future__ import annotations

import json
import re
from itertools import accumulate
from pathlib import Path
from typing import Any

#: Deepest nesting of arrays and objects accepted (a notebook is about 6 levels deep; a widget's
#: state or a plot's JSON in an output a few dozen).
MAX_DEPTH = 100
#: Largest notebook read (the intake's cap on a handed-in file, ``inputs.MAX_MEMBER_BYTES``).
MAX_NOTEBOOK_BYTES = 100 * 2**20

#: A JSON string (escapes included), whose brackets do not count.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class JSONLimitError(ValueError):
    """Untrusted JSON refused: too large, nested too deeply, or a number too long to read."""


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text`` (brackets inside strings do not
    count), counted without recursion."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    return max(accumulate(map(_STEP.__getitem__, brackets)), default=0)


def loads(raw: bytes | str, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` of untrusted data, refusing what would hurt the parser.

    Raises ``UnicodeDecodeError`` (bytes that are not UTF-8) and ``json.JSONDecodeError`` (broken
    JSON) as ``json`` does, and ``JSONLimitError`` for data over ``max_bytes`` or nested deeper
    than ``max_depth``, or a number Python refuses to convert: all three are ``ValueError``.
    """
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", errors="surrogatepass"))
    if size > max_bytes:
        raise JSONLimitError(f"it is larger than {_size(max_bytes)}")
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    depth = nesting_depth(text)
    if depth > max_depth:
        raise JSONLimitError(f"its JSON is nested {depth} levels deep (at most {max_depth} are read)")
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except RecursionError:  # a safety net: the depth was checked above
        raise JSONLimitError(f"its JSON is nested too deeply (at most {max_depth} levels are read)") from None
    except ValueError as exc:  # int-str conversion limit: "Exceeds the limit (4300 digits) ..."
        raise JSONLimitError(f"it holds a number too long to read ({_first_sentence(exc)})") from None


def read_capped(path: Path, max_bytes: int) -> bytes:
    """The bytes of ``path``, reading at most ``max_bytes`` + 1 of them (``JSONLimitError`` when
    the file is larger; ``OSError`` when it cannot be read)."""
    with open(path, "rb") as f:
        raw = f.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise JSONLimitError(f"it is larger than {_size(max_bytes)}")
    return raw


def read(path: Path, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> Any:
    """``loads`` of the file at ``path``, never reading more than ``max_bytes`` + 1 bytes of it."""
    return loads(read_capped(path, max_bytes), max_bytes=max_bytes, max_depth=max_depth)


def _size(n: int) -> str:
    return f"{n / 2**20:g} MiB" if n >= 2**20 else f"{n} bytes"


def _first_sentence(exc: BaseException) -> str:
    return str(exc).split(";")[0][:120]
