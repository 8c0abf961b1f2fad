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
    from autograder import engine, inputs, paths
    from autograder.errors import GradingError
    from autograder.grade import autograder_info, ensure_kernel

    ag_zip = Path(args.autograder) if args.autograder else paths.autograder_zip(args.slug)
    if not ag_zip.is_file():
        raise GradingError(f"autograder zip not found: {ag_zip}",
                           hint=f"run: python -m autograder publish {args.slug}")
    if args.workers < 1 or args.timeout <= 0 or args.memory < 0:
        raise GradingError("--workers and --timeout must be positive, --memory 0 (no limit) or more",
                           hint="e.g. --workers 2 --timeout 300 --memory 4")
    ensure_kernel()
    sandboxed = require_sandbox(args.unsafe_no_sandbox)
    from autograder import data

    keras_home = data.provide_keras_cache()
    out = Path(args.out)
    info = autograder_info(ag_zip)
    intake = inputs.collect([Path(p) for p in args.inputs], out / "staging",
                            id_pattern=args.id_pattern, exclude=out)
    print(f"{len(intake.chosen)} student(s) from {len(args.inputs)} input(s); "
          f"{len(intake.superseded)} older submission(s) set aside (latest counts), "
          f"{len(intake.ignored)} file(s) ignored", flush=True)
    cfg = engine.BatchConfig(
        info, out, workers=args.workers, timeout=args.timeout,
        memory_limit=None if not args.memory else int(args.memory * 2**30),
        regrade=args.regrade, keep_work=args.keep_work, keras_home=keras_home, sandboxed=sandboxed)
    return _run_and_report(intake, cfg, info)


def require_sandbox(unsafe: bool) -> bool:
    """True when grading runs sandboxed; refuse when the sandbox cannot run, unless told to."""
    from autograder import sandbox
    from autograder.errors import GradingError

    if unsafe:
        print("WARNING: --unsafe-no-sandbox: student code runs with your rights, network and files",
              file=sys.stderr)
        return False
    status = sandbox.probe()
    if not status.available:
        raise GradingError(
            f"the grading sandbox (bubblewrap) cannot run here: {status.reason}",
            hint="fix that, or grade without isolation by adding --unsafe-no-sandbox "
                 "(only for notebooks you trust)")
    return True


def _run_and_report(intake, cfg, info) -> int:
    import signal

    from autograder import engine, outputs

    def _term(signum, frame):  # `kill` (SIGTERM) stops as cleanly as Ctrl-C
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, _term)
    try:
        batch = engine.run_batch(intake, cfg)
    finally:
        signal.signal(signal.SIGTERM, old)
    written = outputs.write_all(batch, info, cfg.out)
    counts: dict[str, int] = {}
    for o in batch.outcomes:
        st = o.record.status if o.record else outputs.PENDING
        counts[st] = counts.get(st, 0) + 1
    print(f"graded now {batch.graded_now}, from the ledger {batch.reused}, in {batch.wall:.0f} s: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for old_sub, new_sub in intake.superseded:
        print(f"  superseded: {old_sub.key}  (student {old_sub.student_id}; graded {new_sub.key})")
    print(f"grade sheet : {written.csv}")
    print(f"feedback    : {written.feedback}/<ID>.html")
    print(f"class report: {written.report}")
    print(f"otter results.json per student: {written.results}/")
    if batch.interrupted:
        print("interrupted: finished results are saved; run the same command again to grade the rest",
              file=sys.stderr)
        return 130
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from autograder import demo, engine, inputs, paths
    from autograder.errors import GradingError
    from autograder.grade import autograder_info, ensure_kernel

    ag_zip = paths.autograder_zip(DEFAULT_SLUG)
    if not ag_zip.is_file():
        raise GradingError(f"autograder zip not found: {ag_zip}",
                           hint=f"run: python -m autograder publish {DEFAULT_SLUG}")
    ensure_kernel()
    sandboxed = require_sandbox(args.unsafe_no_sandbox)
    from autograder import data

    keras_home = data.provide_keras_cache()
    out = Path(args.out)
    subs = demo.write_samples(DEFAULT_SLUG, out / "submissions")
    print(f"demo class of {len(subs)} submissions written to {out / 'submissions'}: "
          f"{', '.join(subs)}")
    print(f"grading with {args.workers} worker(s), time limit {args.timeout:.0f} s each "
          "(the looping notebook is stopped at the limit) ...", flush=True)
    info = autograder_info(ag_zip)
    intake = inputs.collect([out / "submissions"], out / "staging")
    cfg = engine.BatchConfig(info, out, workers=args.workers, timeout=args.timeout,
                             regrade=args.regrade, keras_home=keras_home, sandboxed=sandboxed)
    return _run_and_report(intake, cfg, info)


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

    from autograder.engine import DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT, default_workers
    from autograder.inputs import DEFAULT_ID_PATTERN

    g = sub.add_parser(
        "grade", help="grade submissions (notebooks, folders, otter or LMS zips) in parallel, offline",
        description="Grade every submission under INPUTS; results are kept in OUT/ledger.sqlite, so "
        "running the same command again only grades what is not done yet.")
    g.add_argument("inputs", nargs="+", help=".ipynb files, folders, otter export zips, LMS bulk zips")
    g.add_argument("--out", default="grading-out", help="output folder (default: %(default)s)")
    g.add_argument("--slug", default=DEFAULT_SLUG, help="assignment (default: %(default)s)")
    g.add_argument("--autograder", help="autograder zip (default: solutions/<slug>/autograder.zip)")
    g.add_argument("--workers", "-j", type=int, default=default_workers(),
                   help="submissions graded at once (default: %(default)s)")
    g.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help="seconds one submission may take (default: %(default)s)")
    g.add_argument("--memory", type=float, default=DEFAULT_MEMORY_LIMIT / 2**30,
                   help="GiB of memory one submission's processes may use together; 0 = no limit "
                   "(default: %(default)s)")
    g.add_argument("--id-pattern", default=DEFAULT_ID_PATTERN,
                   help="regular expression for the student ID in the file's path; its group "
                   "'id' (else the whole match) is the ID, an optional group 'time' orders "
                   "duplicates (default: %(default)s = up to the first '_')")
    g.add_argument("--regrade", action="store_true", help="grade again even what the ledger has")
    g.add_argument("--keep-work", action="store_true",
                   help="keep each submission's grading folder (OUT/work/) for debugging")
    g.add_argument("--unsafe-no-sandbox", action="store_true",
                    help="run student code WITHOUT the bubblewrap sandbox (trusted notebooks only)")
    g.set_defaults(func=_cmd_grade)

    dm = sub.add_parser("demo", help="grade the built-in sample class and show where the outputs are")
    dm.add_argument("--out", default="demo-out", help="output folder (default: %(default)s)")
    dm.add_argument("--workers", "-j", type=int, default=default_workers(),
                    help="submissions graded at once (default: %(default)s)")
    from autograder.demo import DEMO_TIMEOUT

    dm.add_argument("--timeout", type=float, default=DEMO_TIMEOUT,
                    help="seconds one submission may take (default: %(default)s)")
    dm.add_argument("--regrade", action="store_true", help="grade again even what the ledger has")
    dm.add_argument("--unsafe-no-sandbox", action="store_true",
                    help="run student code WITHOUT the bubblewrap sandbox (trusted notebooks only)")
    dm.set_defaults(func=_cmd_demo)

    b = sub.add_parser("bench", help="benchmarks: notebook time, training speed-up, memory")
    b.add_argument("--repeat", type=int, default=3,
                   help="runs of the solution notebook (default: %(default)s)")
    b.add_argument("--batch", type=int, default=0, metavar="N",
                   help="also grade N copies of the solution: kit vs a loop of `otter run`")
    b.add_argument("--sandbox", type=int, default=0, metavar="N",
                   help="also grade the solution N times with and without the sandbox (overhead)")
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
