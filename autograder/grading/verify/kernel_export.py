"""Stage A's half of the clean check: what the student's kernel sees and exports.

The kernel gets the *public* tests only (``public_tests``) and, after the student's cells, the
kit's ``export_cell``, which writes every variable a test takes (``required_names``) as plain data
into ``kit_artifacts/``: JSON for numbers, strings and histories, ``.npy`` without pickles for
arrays, Keras JSON config plus ``.weights.h5`` for models. ``clean_check`` reads them back.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

ARTIFACTS = "kit_artifacts"
ENV_FILE = "env.json"
MAX_ARRAY_ELEMENTS = 2_000_000

# The cell appended after the student's cells. It must work with nothing but the kernel's own
# libraries, and it never raises: a value it cannot encode is recorded as such.
EXPORT_CELL = r'''
# --- fmnist-kit: export of the values the grader checks (added at grading time) ---
def __fmnist_kit_export(names, out_dir=__ARTIFACTS__, max_elements=__MAX__):
    import json, math, os
    import numpy as np
    os.makedirs(out_dir, exist_ok=True)
    g = globals()
    record = {}

    def number(v):
        v = float(v)
        return v if math.isfinite(v) else repr(v)

    for name in names:
        if name not in g:
            record[name] = {"kind": "missing"}
            continue
        v = g[name]
        t = type(v)
        tname = f"{t.__module__}.{t.__qualname__}"
        try:
            if v is None or v is Ellipsis:
                rec = {"kind": "none" if v is None else "ellipsis"}
            elif isinstance(v, (bool, np.bool_)):
                rec = {"kind": "bool", "value": bool(v)}
            elif isinstance(v, (int, np.integer)):
                rec = {"kind": "int", "value": int(v)}
            elif isinstance(v, (float, np.floating)):
                rec = {"kind": "float", "value": number(v)}
            elif isinstance(v, str):
                rec = {"kind": "str", "value": v[:200]}
            elif hasattr(v, "to_json") and hasattr(v, "save_weights") and hasattr(v, "layers"):
                path = os.path.join(out_dir, f"{name}.weights.h5")
                v.save_weights(path)
                rec = {"kind": "model", "config": json.loads(v.to_json())}
            elif isinstance(getattr(v, "history", None), dict):
                rec = {"kind": "history",
                       "value": {k: [number(x) for x in vals] for k, vals in v.history.items()}}
            elif hasattr(v, "columns") and hasattr(v, "index") and hasattr(v, "to_dict"):
                rec = {"kind": "frame", "index": [int(i) for i in v.index],
                       "value": {str(c): [number(x) for x in v[c]] for c in v.columns}}
            elif isinstance(v, np.ndarray):
                if v.size <= max_elements and v.dtype.kind in "biuf":
                    np.save(os.path.join(out_dir, f"{name}.npy"), v, allow_pickle=False)
                    rec = {"kind": "array"}
                else:
                    rec = {"kind": "array_summary", "shape": list(v.shape), "dtype": str(v.dtype),
                           "min": number(v.min()) if v.size and v.dtype.kind in "biuf" else None,
                           "max": number(v.max()) if v.size and v.dtype.kind in "biuf" else None}
            elif callable(v):
                rec = {"kind": "function"}
            else:
                rec = {"kind": "other"}
        except Exception as exc:
            rec = {"kind": "error", "error": f"{type(exc).__name__}: {exc}"[:300]}
        rec["type"] = tname
        record[name] = rec
    with open(os.path.join(out_dir, __ENV_FILE__), "w") as f:
        json.dump(record, f)

__fmnist_kit_export(__NAMES__)
del __fmnist_kit_export
'''


def export_cell(names: list[str]) -> str:
    """The export cell for ``names`` (the kit's constants filled in)."""
    return (EXPORT_CELL.replace("__NAMES__", json.dumps(sorted(names)))
            .replace("__MAX__", str(MAX_ARRAY_ELEMENTS))
            .replace("__ARTIFACTS__", json.dumps(ARTIFACTS)).replace("__ENV_FILE__", json.dumps(ENV_FILE)))


# --------------------------------------------------------------------------- test files


def _is_hidden(node: ast.FunctionDef) -> bool:
    for dec in node.decorator_list:
        if isinstance(dec, ast.Call):
            for kw in dec.keywords:
                if kw.arg == "hidden" and isinstance(kw.value, ast.Constant) and kw.value.value:
                    return True
    return False


def required_names(tests_dir: Path) -> list[str]:
    """Every variable a test function takes as a parameter (otter passes them by name)."""
    names: set[str] = set()
    for path in sorted(tests_dir.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.decorator_list:
                names.update(a.arg for a in node.args.args if a.arg != "env")
    # every history is checked against the network that made it, so export those too
    names |= {"net_" + n[len("hist_"):] for n in names if n.startswith("hist_")}
    return sorted(names)


def public_tests(src: Path, dest: Path) -> None:
    """Copy otter test files keeping only their public test cases."""
    dest.mkdir(parents=True, exist_ok=True)
    for path in sorted(src.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        tree.body = [n for n in tree.body if not (isinstance(n, ast.FunctionDef) and _is_hidden(n))]
        (dest / path.name).write_text(ast.unparse(tree) + "\n", encoding="utf-8")
