"""Command line: ``python -m autograder`` / ``fmnist-kit``.

A thin layer over the stage modules. One place turns a ``KitError`` into its message and exit
code; a user mistake never shows a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder import __version__
from autograder.errors import KitError

DEFAULT_SLUG = "3-2-overfitting"


def _cmd_data(args: argparse.Namespace) -> int:
    from autograder import data

    home = data.provide_keras_cache(Path(args.keras_home) if args.keras_home else None)
    print(f"Fashion-MNIST verified in {data.source_dir()} (SHA-256 of all 4 files)")
    print(f"Keras cache ready: KERAS_HOME={home}")
    return 0


def _cmd_publish(args: argparse.Namespace) -> int:
    from autograder import publish

    if args.check:
        stale = publish.stale_files(args.slug)
        if stale:
            print("Generated files are stale against the master notebook:")
            for f in stale:
                print(f"  {f}")
            print(f"Run: python -m autograder publish {args.slug}")
            return 1
        print(f"{args.slug}: generated notebooks and autograder are up to date")
        return 0
    rel = publish.publish(args.slug)
    print(f"student notebook : {rel.student}")
    print(f"solution notebook: {rel.solution}")
    print(f"autograder zip   : {rel.autograder_zip}")
    return 0


def _cmd_grade(args: argparse.Namespace) -> int:
    from autograder import paths, report
    from autograder.errors import GradingError
    from autograder.grade import ensure_kernel, grade_one

    ag_zip = Path(args.autograder) if args.autograder else paths.autograder_zip(args.slug)
    if not ag_zip.is_file():
        raise GradingError(f"autograder zip not found: {ag_zip}",
                           hint=f"run: python -m autograder publish {args.slug}")
    ensure_kernel()
    from autograder import data

    keras_home = data.provide_keras_cache()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for i, sub in enumerate(args.submissions):
        path = Path(sub)
        if not path.exists():
            raise KitError(f"submission not found: {path}", hint="check the path")
        print(f"[{i + 1}/{len(args.submissions)}] grading {path} ...", flush=True)
        res = grade_one(path, ag_zip, out / "work" / f"{i:03d}-{path.stem}",
                        timeout=args.timeout, keras_home=keras_home)
        results.append(res)
        print(report.score_table(res), flush=True)
    csv = report.write_csv(results, out / "grades.csv")
    print(f"grade sheet: {csv}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from autograder import bench

    return bench.main(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="fmnist-kit",
        description="Auto-graded assignment kit: exercise 3-2, image classification and overfitting",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("data", help="verify Fashion-MNIST and provide Keras's offline cache")
    d.add_argument("--keras-home", help="folder to use as KERAS_HOME (default: the kit's cache)")
    d.set_defaults(func=_cmd_data)

    pub = sub.add_parser("publish", help="generate student/solution notebooks and autograder")
    pub.add_argument("slug", nargs="?", default=DEFAULT_SLUG, help="assignment (folder name)")
    pub.add_argument("--check", action="store_true",
                     help="only report whether the committed generated files are stale")
    pub.set_defaults(func=_cmd_publish)

    g = sub.add_parser("grade", help="grade submitted notebooks with otter-grader (no Docker)")
    g.add_argument("submissions", nargs="+", help="submitted .ipynb files")
    g.add_argument("--slug", default=DEFAULT_SLUG, help="assignment (default: %(default)s)")
    g.add_argument("--autograder", help="autograder zip (default: solutions/<slug>/autograder.zip)")
    g.add_argument("--out", default="grading-out", help="output folder (default: %(default)s)")
    g.add_argument("--timeout", type=float, default=600.0,
                   help="seconds one submission may take (default: %(default)s)")
    g.set_defaults(func=_cmd_grade)

    b = sub.add_parser("bench", help="benchmarks: notebook time, training speed-up, memory")
    b.add_argument("--repeat", type=int, default=3,
                   help="runs of the solution notebook (default: %(default)s)")
    b.add_argument("--batch", type=int, default=0, metavar="N",
                   help="also grade N copies of the solution: kit vs a loop of `otter run`")
    b.add_argument("--fairness", action="store_true",
                   help="instead: run the solution per seed and thread setting, cross-check readings")
    b.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    b.add_argument("--threads", nargs="+", default=["default", "1"],
                   help="TF thread settings for --fairness (default: %(default)s)")
    b.set_defaults(func=_cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
