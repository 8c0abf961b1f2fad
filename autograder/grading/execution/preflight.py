"""Can this machine grade? One list of checks for ``grade``, ``demo``, the gate and a Dask worker.

The checks: the data set (verified, and Keras's offline cache made), the kit's Jupyter kernel,
and the bubblewrap sandbox (unless the TA turned it off for trusted notebooks).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autograder import data, paths
from autograder.errors import GradingError, KitError


def ensure_kernel() -> None:
    """The kit's Jupyter kernel is registered (``GradingError`` saying how to register it)."""
    from jupyter_client.kernelspec import KernelSpecManager

    if paths.KERNEL_NAME not in KernelSpecManager().find_kernel_specs():
        raise GradingError(
            f"the Jupyter kernel {paths.KERNEL_NAME!r} is not registered",
            hint="run `make setup` (or: python -m ipykernel install --sys-prefix "
            f"--name {paths.KERNEL_NAME})",
        )


@dataclass(frozen=True)
class Ready:
    """What the checks found: the Keras cache to grade with, and whether the sandbox is on."""

    keras_home: Path
    sandboxed: bool


def require(unsafe_no_sandbox: bool = False) -> Ready:
    """Every check, in order; the first that fails raises its ``KitError`` (what to do is its hint)."""
    from autograder.grading.execution import sandbox
    keras_home = data.provide_keras_cache()
    ensure_kernel()
    return Ready(keras_home, sandbox.require(unsafe_no_sandbox))


def problems(sandboxed: bool = True) -> list[str]:
    """Every check's failure as a sentence (empty: this machine can grade): a worker names them all."""
    from autograder.grading.execution import sandbox
    checks = [data.provide_keras_cache, ensure_kernel]
    if sandboxed:
        checks.append(lambda: sandbox.require(False))
    found = []
    for check in checks:
        try:
            check()
        except KitError as exc:
            found.append(str(exc))
    return found
