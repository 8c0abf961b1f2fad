"""The grading worker: runs otter's autograder on one prepared folder, in its own process.

Invoked as ``python -m autograder.grading.worker AG_DIR``. AG_DIR has otter's layout (``source/`` with
the unzipped autograder, ``submission/`` with one notebook, ``results/``); otter writes
``results/results.json`` there. Running it in a separate process means the kit's own process
never loads anything the submission's kernel wrote, and a crash or hang is contained.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m autograder.grading.worker AG_DIR", file=sys.stderr)
        return 2
    from otter.run.run_autograder import main as run_autograder

    run_autograder(args[0], logo=False, debug=False, otter_run=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
