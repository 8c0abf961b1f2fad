"""The grading worker: otter's run without its pandas summary (a deferred import, never loaded)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_otter_loads_without_running_pandas():
    out = _run("""
        import sys
        from autograder.grading.execution import otter_stage
        otter_stage.defer_import("pandas")
        import otter.run.run_autograder as ra
        from otter.run.run_autograder import create_runner
        print(type(sys.modules["pandas"]).__name__, "pandas.core.frame" in sys.modules)
    """)
    assert out.split() == ["Deferred", "False"]


def test_a_deferred_module_loads_on_first_use_and_is_the_real_one():
    out = _run("""
        import sys
        from autograder.grading.execution import otter_stage
        otter_stage.defer_import("pandas")
        import pandas as pd
        frame = pd.DataFrame({"a": [1, 2]})
        import pandas.core.frame
        real = sys.modules["pandas"]
        print(type(real).__name__, frame.shape, real.DataFrame is pd.DataFrame,
              "pandas.core.frame" in sys.modules)
    """)
    assert out.split() == ["module", "(2,", "1)", "True", "True"]


def test_deferring_an_imported_or_missing_module_changes_nothing():
    out = _run("""
        import sys, json
        from autograder.grading.execution import otter_stage
        otter_stage.defer_import("json")
        otter_stage.defer_import("no_such_module_fmnist")
        print(sys.modules["json"] is json, "no_such_module_fmnist" in sys.modules)
    """)
    assert out.split() == ["True", "False"]


def test_worker_usage_error(capsys):
    from autograder.grading.execution import otter_stage
    assert otter_stage.main([]) == 2
    assert "usage" in capsys.readouterr().err
