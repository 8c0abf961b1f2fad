"""Version files: load, validate (each wrong key or value named), defaults, diff."""
from __future__ import annotations

from pathlib import Path

import pytest
from kit_constants import SLUG

from autograder.errors import ConfigError
from autograder.release import versions


def _write(root: Path, name: str, text: str) -> Path:
    path = root / "assignments" / SLUG / "versions" / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_committed_versions_load_and_differ():
    """Do the shipped version files validate, and do 2026 and 2027 differ in several parameters?"""
    assert {"2026", "2027"} <= set(versions.available(SLUG))
    a, b = versions.load(SLUG, "2026"), versions.load(SLUG, "2027")
    changed = {k for k, _, _ in versions.diff(versions.render_params(a), versions.render_params(b))}
    assert {"seed", "dropout_rate", "variants", "epoch_tol", "val_acc_tol"} <= changed
    assert len(a.gate_seeds) >= 3 and len(b.gate_seeds) >= 3


@pytest.mark.parametrize("text, match", [
    ("units_biger = 256\n", r"(?s)2099\.toml: 'units_biger' is not a parameter.*did you mean 'units_bigger'"),
    ('units_bigger = "256"\n', r"2099\.toml: units_bigger = '256' is not a whole number"),
    ("dropout_rate = 1.5\n", r"2099\.toml: dropout_rate = 1\.5 must lie in 0\.05\.\.0\.9"),
    ("variants = 1\n", r"variants = 1 is not true or false"),
    ("seed = true\n", r"seed = True is not a whole number"),
    ("units_baseline = 600\n", r"'units_baseline': Baseline must have fewer units than Bigger"),
    ("n_train = 50001\n", r"n_train = 50001 must lie in 1000\.\.50000"),
    ("overfit_no_below = 0.06\n", r"overfit_no_below must be below overfit_yes_at"),
    ("gate_seeds = [1, 1, 2]\n", r"gate_seeds = \[1, 1, 2\] needs at least 3 different seeds"),
    ('language = "fr"\n', r"language = 'fr' must be one of"),
    ("units_bigger = \n", r"2099\.toml is not valid TOML"),
])
def test_wrong_keys_and_values_name_file_and_key(kit: Path, text: str, match: str):
    """Is each wrong key or value refused with a message naming the file and the key?"""
    _write(kit, "2099", text)
    with pytest.raises(ConfigError, match=match):
        versions.load(SLUG, "2099", kit)


def test_missing_version_lists_the_known_ones(kit: Path):
    with pytest.raises(ConfigError, match=r"no version file .*1999\.toml") as exc:
        versions.load(SLUG, "1999", kit)
    assert "2026" in exc.value.hint and "2027" in exc.value.hint
    with pytest.raises(ConfigError, match="not a usable version id"):
        versions.load(SLUG, "../2026", kit)


def test_defaults_fill_what_a_file_leaves_out(kit: Path):
    """Does a version file with one key get every other parameter's default?"""
    _write(kit, "2099", "units_bigger = 1024\n")
    v = versions.load(SLUG, "2099", kit)
    assert v["units_bigger"] == 1024
    assert all(v[p.key] == p.default for p in versions.SCHEMA if p.key != "units_bigger")
    assert v.gate_seeds == [v["seed"], v["seed"] + 1, v["seed"] + 2]


def test_diff_lists_only_changed_parameters():
    a = versions.render_params(versions.load(SLUG, "2026"))
    b = dict(a, units_bigger=128, dropout_rate=0.4)
    assert versions.diff(a, b) == [("units_bigger", 256, 128), ("dropout_rate", 0.5, 0.4)]
    assert versions.diff(a, dict(a)) == []


# --------------------------------------------------------------------------- seeds and stamps
