"""The same curves on every computer: the notebook's own training under other arithmetic.

``python -m autograder bench --cross-machine`` trains the networks of Parts 2-3 with the
published solution notebook's own cells (``replay.py``, one process per setting) under each
setting a student's computer may differ in, and compares every history with the grader's
setting (one thread, oneDNN off, this TensorFlow, this CPU):

* TensorFlow's thread count (1, 2, 4, its default) x oneDNN on / off (on: TensorFlow imported
  before the setup cell with ``TF_ENABLE_ONEDNN_OPTS=1``, as in a notebook that imported it first);
* other TensorFlow releases, each in its own virtual environment (``make setup-cross``);
* another CPU model: TensorFlow under user-mode QEMU (``qemu-x86_64 -cpu Haswell``, about 100x
  slower, so only a few epochs unless ``--epochs`` says otherwise).

Each setting runs twice: as published (float64) and with the notebook's ``set_floatx`` switched
to float32, which shows that the comparison can see a difference where there is one.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder import paths
from autograder.catalog import SLUG, default_version
from autograder.errors import ConfigError

REPLAY = Path(__file__).with_name("replay.py")
FLOATX_CALL = re.compile(r"""set_floatx\(\s*["']float64["']\s*\)""")
EPOCHS_LINE = re.compile(r"^EPOCHS = \d+", re.MULTILINE)
#: TensorFlow releases a student may meet, each with its virtual environment (``make setup-cross``).
TF_VERSIONS = ("2.19.1", "2.20.0")
QEMU_CPU = "Haswell"
#: What "the same" means: the largest difference between two histories, any column, any epoch.
SAME = 1e-7


class CrossMachineError(ConfigError):
    """A setting could not run (its virtual environment or QEMU missing, the replay failed)."""


@dataclass(frozen=True)
class Setting:
    """One way a student's computer may compute: the process and its environment."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    python: str = ""  # empty: this interpreter
    prefix: tuple[str, ...] = ()  # e.g. ("qemu-x86_64", "-cpu", "Haswell")
    pre_import: bool = False

    def argv(self) -> list[str]:
        return [*self.prefix, self.python or sys.executable, str(REPLAY)]


def grader_setting() -> Setting:
    """The grader's arithmetic: one thread per grading, oneDNN off (``run_one``'s kernel env)."""
    return Setting("grader: 1 thread, oneDNN off", env=_threads("1") | {"TF_ENABLE_ONEDNN_OPTS": "0"})


def _threads(n: str) -> dict[str, str]:
    return {} if n == "default" else {"TF_NUM_INTRAOP_THREADS": n, "TF_NUM_INTEROP_THREADS": n}


def thread_onednn_settings(threads: tuple[str, ...] = ("1", "2", "4", "default")) -> list[Setting]:
    out = []
    for n in threads:
        for onednn in (False, True):
            env = _threads(n) | {"TF_ENABLE_ONEDNN_OPTS": "1" if onednn else "0"}
            out.append(Setting(f"threads {n}, oneDNN {'on' if onednn else 'off'}", env=env,
                               pre_import=onednn))
    return out


def venv_python(version: str, root: Path | None = None) -> Path:
    return (root or paths.repo_root()) / f".venv-tf{version}" / "bin" / "python"


def tf_version_settings(versions: tuple[str, ...] = TF_VERSIONS) -> list[Setting]:
    out = []
    for v in versions:
        python = venv_python(v)
        if not python.exists():
            raise CrossMachineError(f"no virtual environment for TensorFlow {v} ({python}): run "
                                    "`make setup-cross` first")
        out.append(Setting(f"TensorFlow {v}", env=grader_setting().env, python=str(python)))
    return out


def qemu_setting(cpu: str = QEMU_CPU) -> Setting:
    qemu = shutil.which("qemu-x86_64")
    if qemu is None:
        raise CrossMachineError("qemu-x86_64 is not installed: `apt-get install qemu-user` "
                                "(or `make setup-cross`)")
    return Setting(f"CPU {cpu} (qemu-x86_64)", env=grader_setting().env, prefix=(qemu, "-cpu", cpu))


def solution_notebook(version: str | None = None) -> Path:
    version = version or default_version(SLUG)
    return paths.solution_dir(SLUG, version) / f"{SLUG}.ipynb"


def replay_cells(nb: dict[str, Any], *, floatx: str = "float64", epochs: int | None = None,
                 part3: bool = True) -> list[str]:
    """The notebook's code cells that Parts 2-3 need, as plain Python.

    Left out: the otter init cell, ``grader.check``/``grader.export`` cells, Part 1's own
    network (only the data load and the Q1 scaling are kept; Part 2 seeds itself again, and the
    replay's curves equal the whole notebook's: seed 2026, Bigger's rise 0.125237 in both), and
    with ``part3=False`` Part 3 (Part 2's three networks, Bigger among them, only).
    ``floatx="float32"`` switches the setup cell's ``set_floatx("float64")``; ``epochs`` rewrites
    ``EPOCHS = ...``. Each rewrite must find its line, so the replay never silently measures
    something else.
    """
    from IPython.core.inputtransformer2 import TransformerManager

    transform = TransformerManager().transform_cell
    part = 0
    cells = []
    for cell in nb["cells"]:
        src = "".join(cell.get("source", ""))
        if cell["cell_type"] == "markdown":
            if src.startswith("# パート1"):
                part = 1
            elif src.startswith("# パート2"):
                part = 2
            elif src.startswith("# パート3"):
                part = 3
            continue
        if cell["cell_type"] != "code" or "KIT_STAMP" in src or "grader." in src:
            continue
        if part == 1 and "load_data(" not in src and "/ 255" not in src or part == 3 and not part3:
            continue
        cells.append(transform(src))
    code = "\n".join(cells)
    if floatx != "float64":
        if len(FLOATX_CALL.findall(code)) != 1:
            raise CrossMachineError('the notebook has no single set_floatx("float64") to switch')
        cells = [FLOATX_CALL.sub(f'set_floatx("{floatx}")', c) for c in cells]
    if epochs is not None:
        if len(EPOCHS_LINE.findall(code)) != 1:
            raise CrossMachineError("the notebook has no single `EPOCHS = ...` line to rewrite")
        cells = [EPOCHS_LINE.sub(f"EPOCHS = {epochs}", c) for c in cells]
    return cells


def run_setting(setting: Setting, cells: list[str], work: Path, timeout: float | None = None) -> dict:
    """Run ``cells`` under ``setting`` in a fresh process; its histories and timings."""
    from autograder import data

    work.mkdir(parents=True, exist_ok=True)
    job, out = work / "job.json", work / "out.json"
    job.write_text(json.dumps({"cells": cells, "pre_import": setting.pre_import}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TF_NUM_", "TF_ENABLE_ONEDNN", "OMP_NUM"))}
    env |= {"KERAS_HOME": str(data.provide_keras_cache()), "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONNOUSERSITE": "1", **setting.env}
    env.pop("PYTHONPATH", None)
    log = work / "log.txt"
    with log.open("w") as f:
        proc = subprocess.run([*setting.argv(), str(job), str(out)], cwd=work, env=env, stdout=f,
                              stderr=subprocess.STDOUT, timeout=timeout)
    if proc.returncode != 0 or not out.exists():
        tail = log.read_text(errors="replace")[-1500:]
        raise CrossMachineError(f"{setting.name}: the replay failed (exit {proc.returncode}):\n{tail}")
    return json.loads(out.read_text(encoding="utf-8"))


def difference(a: dict[str, dict[str, list[float]]], b: dict[str, dict[str, list[float]]]) -> float:
    """The largest absolute difference between two runs' histories (inf if they differ in shape)."""
    if set(a) != set(b) or not a:
        return float("inf")
    worst = 0.0
    for name, cols in a.items():
        if set(cols) != set(b[name]):
            return float("inf")
        for col, values in cols.items():
            other = b[name][col]
            if len(values) != len(other):
                return float("inf")
            worst = max([worst, *(abs(x - y) for x, y in zip(values, other, strict=True))])
    return worst


@dataclass
class Row:
    setting: str
    floatx: str
    tensorflow: str
    diff: float
    cells_cpu_s: float
    cells_wall_s: float
    bigger: dict[str, Any]


def bigger_summary(histories: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    """What a student reads off Bigger: the good epoch, its validation accuracy, the loss rise."""
    from autograder import curves

    h = histories.get("hist_bigger")
    if h is None:
        return {}
    e = curves.good_epoch(h)
    return {"good_epoch": e, "val_acc": curves.val_accuracy_at(h, e), "rise": curves.loss_rise(h)}


def sweep(settings: list[Setting], *, floatxs: tuple[str, ...] = ("float64", "float32"),
          epochs: int | None = None, part3: bool = True, notebook: Path | None = None,
          work: Path | None = None, on_row: Any = None, jobs: int = 1) -> list[Row]:
    """Every setting in every float type, compared with the grader's setting of that float type.

    ``jobs`` runs that many replays at once (the histories do not depend on it; the times do).
    """
    from concurrent.futures import ThreadPoolExecutor

    nb = json.loads((notebook or solution_notebook()).read_text(encoding="utf-8"))
    cells = {fx: replay_cells(nb, floatx=fx, epochs=epochs, part3=part3) for fx in floatxs}
    own = work is None
    work = Path(tempfile.mkdtemp(prefix="cross-machine-")) if own else work
    grader = grader_setting()
    tasks = [(fx, i, s) for fx in floatxs
             for i, s in enumerate([grader, *(s for s in settings if s.name != grader.name)])]
    try:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            runs = {(fx, i): pool.submit(run_setting, s, cells[fx], work / f"{fx}-{i}") for fx, i, s in tasks}
            rows = []
            for fx, i, s in tasks:  # in order: each float type's grader run first
                ref, r = runs[(fx, 0)].result(), runs[(fx, i)].result()
                if r["floatx"] != fx:
                    raise CrossMachineError(f"{s.name}: the replay computed in {r['floatx']}, not {fx}")
                rows.append(_row(s, fx, r, ref, on_row))
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
    return rows


def _row(s: Setting, floatx: str, r: dict, ref: dict, on_row: Any) -> Row:
    row = Row(s.name, floatx, r["tensorflow"], difference(r["histories"], ref["histories"]),
              r["cells_cpu_s"], r["cells_wall_s"], bigger_summary(r["histories"]))
    if on_row:
        on_row(row)
    return row


def format_row(row: Row) -> str:
    b = row.bigger
    read = (f"good epoch {b['good_epoch']:2d}, val. acc. {b['val_acc']:.4f}, rise {b['rise']:.4f}"
            if b else "")
    return (f"  {row.floatx:7} | {row.setting:34} | TF {row.tensorflow:6} | max diff {row.diff:9.2e} | "
            f"{row.cells_cpu_s:7.1f} s CPU {row.cells_wall_s:7.1f} s wall | Bigger: {read}")


def verdict(rows: list[Row]) -> tuple[bool, list[str]]:
    """float64 within ``SAME`` everywhere, and float32 shows a difference (the check can fail)."""
    lines, ok = [], True
    f64 = [r for r in rows if r.floatx == "float64"]
    f32 = [r for r in rows if r.floatx == "float32"]
    worst64 = max((r.diff for r in f64), default=float("nan"))
    lines.append(f"float64: largest difference from the grader's setting {worst64:.2e} "
                 f"(the same means <= {SAME:g}) over {len(f64)} runs")
    if not f64 or worst64 > SAME:
        ok = False
        lines.append("  NOT the same: " + ", ".join(r.setting for r in f64 if r.diff > SAME))
    if f32:
        worst32 = max(r.diff for r in f32)
        lines.append(f"float32: largest difference {worst32:.2e} over {len(f32)} runs "
                     f"({sum(r.diff > SAME for r in f32)} runs differ)")
        if worst32 <= SAME:
            ok = False
            lines.append("  float32 showed no difference: this sweep could not have seen one")
    return ok, lines


def main(*, epochs: int | None, qemu_epochs: int, tf_versions: bool, qemu: bool, jobs: int = 1,
         threads: tuple[str, ...] = ("1", "2", "4", "default")) -> int:
    """``bench --cross-machine``: the sweep, printed row by row, then the verdict."""
    print(f"# Cross-machine: {solution_notebook()} (Parts 2-3), "
          f"epochs {epochs or 'as published'}; reference: {grader_setting().name}", flush=True)
    settings = thread_onednn_settings(threads)
    if tf_versions:
        settings += tf_version_settings()
    show = lambda r: print(format_row(r), flush=True)  # noqa: E731
    groups = {"threads x oneDNN" + (", TensorFlow releases" if tf_versions else ""):
              sweep(settings, epochs=epochs, on_row=show, jobs=jobs)}
    if qemu:
        setting = qemu_setting()
        print(f"\n# Another CPU model, Part 2 ({qemu_epochs} epochs): user-mode QEMU, about 100x "
              "slower; reference: the grader's setting natively, same cells", flush=True)
        groups[setting.name] = sweep([setting], epochs=qemu_epochs, part3=False, on_row=show, jobs=jobs)
    ok = True
    for name, rows in groups.items():
        good, lines = verdict(rows)
        ok &= good
        print(f"\n## {name}\n" + "\n".join(lines))
    print("\nSAME EVERYWHERE (float64)" if ok else "\nNOT THE SAME EVERYWHERE, or float32 showed nothing")
    return 0 if ok else 1
