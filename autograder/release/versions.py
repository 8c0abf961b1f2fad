"""Assignment versions as data: ``assignments/<slug>/versions/<version>.toml``.

A version file sets the parameters a release may change (the seed, the data sizes, the epochs,
the units of the three networks, the dropout rate, the accuracy threshold, the grading
tolerances, the language of the prompts, per-student variants). Every parameter has a
description, a default and a validation rule (``SCHEMA``); a key that is not a parameter, a value
of the wrong type or out of range is refused with a message naming the file and the key.

The version id is the file's name without ``.toml``. ``render_params`` turns a version into the
``kit_params.json`` that ships in its autograder zip and that the hidden tests read.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder import curves, paths
from autograder.errors import ConfigError

VERSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")
LANGUAGES = ("ja+en", "en")


@dataclass(frozen=True)
class Param:
    key: str
    kind: type  # int, float, str, bool or list (of int)
    default: Any
    description: str
    check: Callable[[Any], str | None] = lambda v: None  # None if fine, else what is wrong
    #: The master notebook's constant set to this value (``SEED = 2026``), if any.
    constant: str = ""


def _range(lo: float, hi: float) -> Callable[[Any], str | None]:
    return lambda v: None if lo <= v <= hi else f"must lie in {lo}..{hi}"


def _seeds(v: list) -> str | None:
    if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s < 2**31 for s in v):
        return "must be a list of whole numbers in 0..2147483647"
    if len(set(v)) < 3:
        return "needs at least 3 different seeds (the gate runs the solution on each)"
    return None


SCHEMA: tuple[Param, ...] = (
    Param("description", str, "", "one line for people: what this version is for"),
    Param("language", str, "ja+en", "language of the prompts: 'ja+en' (Japanese with English) "
          "or 'en' (English only)", lambda v: None if v in LANGUAGES else f"must be one of {LANGUAGES}"),
    Param("seed", int, 2026, "random seed of the students' notebooks (and of the autograder)",
          _range(0, 2**31 - 1), constant="SEED"),
    Param("gate_seeds", list, [], "seeds on which the solution must score 100% before publishing "
          "(at least 3; empty = seed, seed+1, seed+2)",
          lambda v: None if not v else _seeds(v)),
    Param("epochs_part1", int, 5, "epochs of the Part 1 tutorial network", _range(1, 30),
          constant="EPOCHS_PART1"),
    # n_train <= 50000 and n_val <= 10000: the two never overlap in the 60,000 training images
    Param("n_train", int, 4000, "training images of Parts 2-3 (the first ones of the training set)",
          _range(1000, 50000), constant="N_TRAIN"),
    Param("n_val", int, 5000, "validation images of Parts 2-3 (the last ones of the training set)",
          _range(1000, 10000), constant="N_VAL"),
    Param("epochs", int, 15, "epochs of every network in Parts 2-3", _range(5, 60), constant="EPOCHS"),
    Param("batch_size", int, 32, "batch size of Parts 2-3", _range(16, 2048), constant="BATCH_SIZE"),
    Param("units_smaller", int, 12, "units per hidden layer of Smaller", _range(1, 4096),
          constant="UNITS_SMALLER"),
    Param("units_baseline", int, 32, "units per hidden layer of Baseline", _range(1, 4096),
          constant="UNITS_BASELINE"),
    Param("units_bigger", int, 256, "units per hidden layer of Bigger", _range(1, 4096),
          constant="UNITS_BIGGER"),
    Param("dropout_rate", float, 0.5, "dropout rate of Part 3", _range(0.05, 0.9),
          constant="DROPOUT_RATE"),
    Param("l2_factor", float, 1e-2, "L2 weight-regularisation factor of Part 3", _range(1e-6, 1.0),
          constant="L2_FACTOR"),
    Param("accuracy_threshold", float, 0.84, "Part 1 test accuracy needed for q1_accuracy",
          _range(0.1, 0.99)),
    # the readings' defaults have one home, autograder.curves (what a reading says nothing of)
    Param("epoch_tol", float, curves.EPOCH_TOL,
          "(a) an epoch is accepted when its validation loss is within this of the lowest (0: only the "
          "epoch of the lowest)", _range(0.0, 0.1)),
    Param("val_acc_tol", float, curves.VAL_ACC_TOL,
          "(b) accepted distance from the validation accuracy read", _range(0.0, 0.1)),
    Param("overfit_yes_at", float, curves.DEFAULT_THRESHOLDS.yes_at,
          "(c) rise of the validation loss, from its lowest to the last epoch, from which the answer "
          "must be 'overfits'", _range(0.0, 0.5)),
    Param("overfit_no_below", float, curves.DEFAULT_THRESHOLDS.no_below,
          "(c) rise below which the answer must be 'does not overfit' (between the two: either answer)",
          _range(0.0, 0.5)),
    Param("choice_tol", float, curves.CHOICE_TOL,
          "(d) rises, Q12 gaps this close to the largest/smallest are also accepted", _range(0.0, 0.2)),
    Param("gap_tol", float, curves.GAP_TOL,
          "'more units overfit more' (rises) and 'dropout shrinks the gap' (gaps): differences this "
          "small accept either answer", _range(0.0, 0.1)),
    # 1e-6: far above what the float64 notebook's histories differ by between computers, far below
    # what a reading shows (measured: bench --cross-machine, MEASUREMENTS.md "The same curves on
    # every computer")
    Param("curve_band", float, 1e-6, "largest difference between the curves recorded in a submitted "
          "notebook and the grader's own training for which the readings are graded against the student's "
          "own curves (beyond it: the grader's curves, and the row is flagged)", _range(0.0, 0.05)),
    Param("good_epoch_by", float, 0.6, "gate: on every gate seed, Bigger's lowest validation loss must "
          "come within this fraction of the epochs (a real minimum, then a rise)", _range(0.1, 1.0)),
    Param("smaller_min_val_acc", float, 0.75, "gate: on every gate seed, Smaller's last validation "
          "accuracy must be at least this (Smaller learns, it is not broken)", _range(0.0, 0.99)),
    Param("variants", bool, False, "per-student variants: each student's seed is derived from the "
          "course secret, the student ID and the version"),
)
BY_KEY = {p.key: p for p in SCHEMA}
#: Master constant -> parameter key.
CONSTANTS = {p.constant: p.key for p in SCHEMA if p.constant}


@dataclass(frozen=True)
class Version:
    slug: str
    id: str
    path: Path
    values: dict[str, Any]  # every parameter, defaults filled in

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def gate_seeds(self) -> list[int]:
        seeds = self.values["gate_seeds"]
        return list(seeds) if seeds else [self["seed"] + i for i in range(3)]


def versions_dir(slug: str, root: Path | None = None) -> Path:
    return paths.master_notebook(slug, root).parent / "versions"


def available(slug: str, root: Path | None = None) -> list[str]:
    """The version ids that have a file, sorted."""
    d = versions_dir(slug, root)
    return sorted(p.stem for p in d.glob("*.toml")) if d.is_dir() else []


def load(slug: str, version: str, root: Path | None = None) -> Version:
    """Read and validate ``assignments/<slug>/versions/<version>.toml``."""
    path = versions_dir(slug, root) / f"{version}.toml"
    if not VERSION_ID.match(version or ""):
        raise ConfigError(f"{version!r} is not a usable version id",
                          hint="letters, digits, '.', '_' and '-', at most 40, e.g. 2026 or 2026-fall")
    if not path.is_file():
        known = available(slug, root)
        raise ConfigError(f"no version file {path}",
                          hint=f"known versions: {', '.join(known) or 'none'}; create {path.name} "
                               "(see `python -m autograder versions --keys`)")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", hint="save it as UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}",
                          hint="write one `key = value` per line, e.g. units_bigger = 256") from None
    return Version(slug, version, path, validate(raw, path))


def validate(raw: dict[str, Any], where: Path | str) -> dict[str, Any]:
    """All parameters (defaults filled in); ``ConfigError`` naming ``where`` and the key otherwise."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        param = BY_KEY.get(key)
        if param is None:
            close = difflib.get_close_matches(key, BY_KEY, n=1)
            raise ConfigError(f"{where}: {key!r} is not a parameter of a version",
                              hint=(f"did you mean {close[0]!r}? " if close else "")
                              + f"parameters: {', '.join(BY_KEY)}")
        values[key] = _coerce(param, value, where)
    for p in SCHEMA:
        values.setdefault(p.key, p.default)
    pairs = [
        ("units_smaller", "units_baseline", lambda a, b: a < b, "Smaller must have fewer units than "
         "Baseline"),
        ("units_baseline", "units_bigger", lambda a, b: a < b, "Baseline must have fewer units than "
         "Bigger"),
        ("overfit_no_below", "overfit_yes_at", lambda a, b: a < b, "overfit_no_below must be below "
         "overfit_yes_at (the band between them accepts either answer)"),
    ]
    for a, b, ok, why in pairs:
        if not ok(values[a], values[b]):
            key = b if b in raw else a
            raise ConfigError(f"{where}: {key!r}: {why} (here {a} = {values[a]}, {b} = {values[b]})",
                              hint=f"change {a} or {b}")
    return values


def _coerce(param: Param, value: Any, where: Path | str) -> Any:
    def bad(why: str) -> ConfigError:
        return ConfigError(f"{where}: {param.key} = {value!r} {why}",
                           hint=f"{param.key}: {param.description} (default {param.default!r})")

    if param.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if param.kind is int and isinstance(value, bool) or not isinstance(value, param.kind):
        raise bad(f"is not {_kind_name(param.kind)}")
    why = param.check(value)
    if why:
        raise bad(why)
    return value


def _kind_name(kind: type) -> str:
    return {int: "a whole number", float: "a number", str: "text in quotes", bool: "true or false",
            list: "a list like [1, 2, 3]"}[kind]


def render_params(version: Version) -> dict[str, Any]:
    """The release's ``kit_params.json``: what the hidden tests and the grader read."""
    out = {"assignment": version.slug, "version": version.id}
    out.update({k: v for k, v in version.values.items() if k not in ("description", "gate_seeds")})
    out["gate_seeds"] = version.gate_seeds
    return out


def params_json(version: Version) -> str:
    return json.dumps(render_params(version), ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def describe_keys() -> str:
    """The parameters a version file may set, for ``versions --keys``."""
    lines = []
    for p in SCHEMA:
        lines.append(f"{p.key} = {json.dumps(p.default)}  ({_kind_name(p.kind)})")
        lines.append(f"    {p.description}")
    return "\n".join(lines)


def diff(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, value in a, value in b) for every parameter that differs."""
    keys = [p.key for p in SCHEMA] + sorted((set(a) | set(b)) - set(BY_KEY))
    return [(k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)]
