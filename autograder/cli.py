"""Command line: ``python -m autograder`` / ``fmnist-kit``.

A thin layer over the stage modules. One place turns a ``KitError`` into its message and exit
code; a user mistake never shows a traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder import __version__
from autograder.catalog import SLUG
from autograder.errors import KitError


def add_data(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser("data", help="verify Fashion-MNIST and provide Keras's offline cache")
    d.add_argument("--keras-home", help="folder to use as KERAS_HOME (default: the kit's cache)")
    d.set_defaults(func=_cmd_data)


def _cmd_data(args: argparse.Namespace) -> int:
    from autograder import data

    home = data.provide_keras_cache(Path(args.keras_home) if args.keras_home else None)
    print(f"Fashion-MNIST verified in {data.source_dir()} (SHA-256 of all 4 files)")
    print(f"Keras cache ready: KERAS_HOME={home}")
    return 0


def add_publish(sub: argparse._SubParsersAction) -> None:
    pub = sub.add_parser("publish", help="generate student/solution notebooks and autograder")
    pub.add_argument("slug", nargs="?", default=SLUG, help="assignment (folder name)")
    pub.add_argument("--version", action="append", metavar="V",
                     help="version to publish (assignments/<slug>/versions/V.toml); repeatable; "
                     "default: every version file")
    pub.add_argument("--check", action="store_true",
                     help="only report whether the committed generated files are stale")
    pub.add_argument("--regate", action="store_true",
                     help="run the gate even if it passed before for exactly this content")
    pub.add_argument("--workers", "-j", type=int, default=None, help="gradings at once in the gate")
    pub.add_argument("--roster", help="per-student variants: CSV of student IDs (column student_id)")
    pub.add_argument("--secret-file", help="per-student variants: file holding the course secret")
    pub.add_argument("--out", help="per-student variants: folder for the handouts (one per student)")
    pub.set_defaults(func=_cmd_publish)


def _cmd_publish(args: argparse.Namespace) -> int:
    from autograder.release import publish, versions

    chosen = args.version or versions.available(args.slug)
    if not chosen:
        from autograder.errors import ConfigError

        raise ConfigError(f"no version files in {versions.versions_dir(args.slug)}",
                          hint="create one, e.g. 2026.toml (see `python -m autograder versions --keys`)")
    if args.roster or args.secret_file:
        return _publish_variants(args, chosen)
    if args.check:
        stale = {v: publish.stale_files(args.slug, v) for v in chosen}
        bad = {v: files for v, files in stale.items() if files}
        for v, files in bad.items():
            print(f"version {v}: generated files are stale against the master and {v}.toml:")
            for f in files:
                print(f"  {f}")
            print(f"  run: python -m autograder publish {args.slug} --version {v}")
        if bad:
            return 1
        print(f"{args.slug}: versions {', '.join(chosen)} are up to date")
        return 0
    for v in chosen:
        rel = publish.publish(args.slug, v, regate=args.regate, workers=args.workers)
        print(f"version {v}:")
        print(f"  handed out       : {rel.student_zip}  (and the folder {rel.student})")
        print(f"  solution notebook: {rel.notebook('solution')}")
        print(f"  autograder zip   : {rel.autograder_zip}")
        print(f"  manifest         : {rel.manifest}")
    return 0


def _publish_variants(args: argparse.Namespace, chosen: list[str]) -> int:
    from autograder.errors import ConfigError
    from autograder.release import variants

    if not (args.roster and args.secret_file and args.out) or len(chosen) != 1:
        raise ConfigError("per-student variants need --version V, --roster CSV, --secret-file FILE "
                          "and --out DIR together",
                          hint="e.g. publish 3-2-overfitting --version 2027 --roster roster.csv "
                               "--secret-file secret.txt --out handouts/")
    written = variants.write_handouts(args.slug, chosen[0], Path(args.roster), Path(args.secret_file),
                                      Path(args.out))
    print(f"{len(written)} per-student handout(s) of version {chosen[0]} in {args.out}/<ID>/ "
          "(each with its own seed; the secret is in none of them)")
    return 0


def add_versions(sub: argparse._SubParsersAction) -> None:
    vs = sub.add_parser("versions", help="list the versions of an assignment, or compare two")
    vs.add_argument("slug", nargs="?", default=SLUG, help="assignment (folder name)")
    vs.add_argument("--diff", nargs=2, metavar=("A", "B"), help="show the parameters that differ")
    vs.add_argument("--keys", action="store_true",
                    help="list the parameters a version file may set, with defaults")
    vs.set_defaults(func=_cmd_versions)


def _cmd_versions(args: argparse.Namespace) -> int:
    from autograder import catalog
    from autograder.release import versions

    if args.keys:
        print(versions.describe_keys())
        return 0
    pub = catalog.published(args.slug)
    if args.diff:
        a, b = args.diff
        params, source = {}, {}
        for v in (a, b):
            if v in pub:  # what grading uses: the published parameters, not an edited file
                params[v], source[v] = pub[v]["params"], "published"
            else:
                params[v] = versions.render_params(versions.load(args.slug, v))
                source[v] = "version file, not published"
        rows = versions.diff(params[a], params[b])
        if not rows:
            print(f"versions {a} and {b} have the same parameters "
                  f"({a}: {source[a]}; {b}: {source[b]})")
        else:
            w = max(len(k) for k, _, _ in rows)
            print(f"{'parameter':<{w}}  {a:>12}  {b:>12}    ({a}: {source[a]}; {b}: {source[b]})")
            for k, va, vb in rows:
                print(f"{k:<{w}}  {_show(va):>12}  {_show(vb):>12}")
        for v in (a, b):
            edits = _unpublished_edits(args.slug, v, pub)
            if edits:
                print(f"note: {v}'s version file was edited since it was published ({edits}); "
                      "the table shows the published values")
        return 0
    files = versions.available(args.slug)
    if not files and not pub:
        print(f"{args.slug}: no versions yet")
        return 0
    for v in sorted(set(files) | set(pub)):
        m = pub.get(v)
        if m is None:
            state = "not published"
        else:
            gate = m.get("gate") or {}
            state = (f"published, gate passed on seeds {gate.get('seeds')}" if gate.get("passed")
                     else "published, NO passed gate")
        desc = (m or {}).get("description") or (
            versions.load(args.slug, v)["description"] if v in files else "")
        print(f"{v}: {state}")
        if desc:
            print(f"    {desc}")
        p = m["params"] if m else versions.render_params(versions.load(args.slug, v))
        print(f"    {'published' if m else 'version file'}: " + ", ".join(f"{k}={_show(p[k])}" for k in (
            "language", "seed", "n_train", "n_val", "epochs", "units_smaller", "units_baseline",
            "units_bigger", "dropout_rate", "accuracy_threshold", "variants") if k in p))
        edits = _unpublished_edits(args.slug, v, pub) if m and v in files else ""
        if edits:
            print(f"    version file edited since publishing, not in force until published: {edits}")
    return 0


def _unpublished_edits(slug: str, version: str, pub: dict) -> str:
    """What the version file changes against the published parameters ('' when nothing or no file)."""
    from autograder.release import versions

    if version not in pub or version not in versions.available(slug):
        return ""
    rows = versions.diff(pub[version]["params"], versions.render_params(versions.load(slug, version)))
    return ", ".join(f"{k} {_show(a)} -> {_show(b)}" for k, a, b in rows)


def _show(value: object) -> str:
    import json

    return json.dumps(value) if not isinstance(value, str) else value


def resolver_for(slug: str, chosen: list[str] | None, secret_file: str | None):
    """The grade command's version resolver (``cli_grading.resolver_for``)."""
    from autograder import cli_grading

    return cli_grading.resolver_for(slug, chosen, secret_file)


#: ``bench``'s other modes and their options: flag, argparse keywords, help.
_BENCH_MODES: tuple[tuple[str, dict, str], ...] = (
    ("--overhead", {"type": int, "default": 0, "metavar": "N"},
     "instead: the solution executed bare vs graded by the kit, interleaved N times: CPU and wall, "
     "median ratio, time per stage"),
    ("--side-by-side", {"action": "store_true"},
     "with --overhead: run bare and kit at the same moment in each round, one per core, each in its "
     "own cgroup (cancels the drift of a shared machine)"),
    ("--calibrate", {"action": "store_true"},
     "with --overhead: first N rounds of the bare run against itself in the same design (A/A: the "
     "design's own bias and spread)"),
    ("--sandbox-fit", {"type": int, "default": 0, "metavar": "N"},
     "instead: the same TensorFlow fit bare and in the grading sandbox, interleaved N times: what the "
     "sandbox costs the student's training"),
    ("--cluster", {"type": int, "nargs": "?", "const": 8, "default": 0, "metavar": "N"},
     "instead: N copies of the solution (default 8) graded embedded, and through a loopback Dask "
     "scheduler with 1 and 2 workers: wall, per grading, overhead"),
    ("--gradescope", {"action": "store_true"},
     "instead: grade the solution in otter's Gradescope layout under Gradescope's default limits "
     "(0.5 CPU, 768 MB) and larger ones: time, peak memory, score"),
    ("--class", {"type": int, "default": 0, "metavar": "N", "dest": "class_size"},
     "instead: a class of N (mostly the solution, some other sizes, hostile, blank) graded without the "
     "cache of verified trainings and, after `prepare`, with it: CPU and wall ratios, minutes for 300"),
    ("--class-version", {"metavar": "V"}, "with --class: the version (default: the newest published)"),
    ("--fairness", {"action": "store_true"},
     "instead: run the solution per seed and thread setting, cross-check readings"),
)


def add_bench(sub: argparse._SubParsersAction) -> None:
    b = sub.add_parser("bench", help="benchmarks: notebook time, training speed-up, memory")
    b.add_argument("--repeat", type=int, default=3,
                   help="runs of the solution notebook (default: %(default)s)")
    b.add_argument("--batch", type=int, default=0, metavar="N",
                   help="also grade N copies of the solution: kit vs a loop of `otter run`")
    b.add_argument("--sandbox", type=int, default=0, metavar="N",
                   help="also grade the solution N times with and without the sandbox (overhead)")
    for flag, kw, text in _BENCH_MODES:
        b.add_argument(flag, **kw, help=text)
    b.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    b.add_argument("--threads", nargs="+", default=["1", "2", "4", "default"],
                   help="TF thread settings for --fairness (default: %(default)s)")
    _add_cross_machine(b)
    b.set_defaults(func=_cmd_bench)


def _add_cross_machine(b: argparse.ArgumentParser) -> None:
    b.add_argument("--cross-machine", action="store_true",
                   help="instead: train Parts 2-3 with the solution's own cells under TensorFlow's thread "
                        "counts x oneDNN, other TensorFlow releases and another CPU model (QEMU), in "
                        "float64 and float32: the largest difference from the grader's curves "
                        "(`make setup-cross` first)")
    b.add_argument("--epochs", type=int, help="with --cross-machine: epochs of the native runs "
                                              "(default: as published)")
    b.add_argument("--qemu-epochs", type=int, default=15,
                   help="with --cross-machine: epochs under QEMU, Part 2 only (default: %(default)s; "
                        "about 100x slower than native)")
    b.add_argument("--no-tf-versions", action="store_true",
                   help="with --cross-machine: only this TensorFlow")
    b.add_argument("--no-qemu", action="store_true", help="with --cross-machine: no QEMU run")
    b.add_argument("--jobs", type=int, default=1,
                   help="with --cross-machine: runs at once (the curves do not depend on it, the times "
                        "do; default: %(default)s)")


def _cmd_bench(args: argparse.Namespace) -> int:
    from autograder.tools import bench, fairness

    if (args.side_by_side or args.calibrate) and not args.overhead:
        from autograder.errors import ConfigError

        raise ConfigError("--side-by-side and --calibrate belong to --overhead N",
                          hint="e.g. python -m autograder bench --overhead 5 --side-by-side --calibrate")
    if args.fairness:
        return fairness.fairness(args.seeds, args.threads)
    if args.class_size:
        from autograder.tools import class_bench

        class_bench.bench_class(args.class_size, args.class_version)
        return 0
    if args.cross_machine:
        from autograder.tools import cross_machine

        return cross_machine.main(epochs=args.epochs, qemu_epochs=args.qemu_epochs,
                                  tf_versions=not args.no_tf_versions, qemu=not args.no_qemu,
                                  jobs=args.jobs)
    if args.gradescope:
        from autograder.tools import gradescope

        why = gradescope.available()
        if why:
            from autograder.errors import ConfigError

            raise ConfigError(f"bench --gradescope cannot run here: {why}",
                              hint="it needs bubblewrap and root on a cgroup v1 host")
        gradescope.bench_gradescope()
        return 0
    if args.overhead:
        from autograder.tools import overhead

        overhead.bench_overhead(args.overhead, side_by_side=args.side_by_side,
                                calibrate=args.calibrate)
        return 0
    if args.cluster:
        from autograder.tools import cluster_bench

        cluster_bench.bench_cluster(args.cluster)
        return 0
    if args.sandbox_fit:
        from autograder.tools import sandbox_fit

        sandbox_fit.bench_sandbox_fit(args.sandbox_fit)
        return 0
    return bench.main(args)


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command; each command's arguments stand beside its handler."""
    from autograder import cli_export, cli_grading

    p = argparse.ArgumentParser(
        prog="fmnist-kit",
        description="Auto-graded assignment kit: exercise 3-2, image classification and overfitting",
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for add in (add_data, add_publish, add_versions, cli_grading.add_grade, cli_grading.add_prepare,
                cli_grading.add_worker, cli_grading.add_demo, cli_export.add_export, cli_export.add_adjust,
                add_bench):
        add(sub)
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
    except BrokenPipeError:  # `... | head`: the reader stopped listening; not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
