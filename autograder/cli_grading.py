"""The grading commands of the CLI: ``grade``, ``prepare``, ``worker`` and ``demo`` (a TA's side).

Each command's arguments stand beside its handler, which calls the stage modules and prints where
the results are. After every run the whole class is written again (``engine.class_view``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autograder.catalog import SLUG
from autograder.grading.verify.replay import CACHE_ENV as TRAININGS_ENV


def add_grade(sub: argparse._SubParsersAction) -> None:
    from autograder.grading.batch.engine import DEFAULT_MEMORY_LIMIT, DEFAULT_TIMEOUT, RETRY, default_workers
    from autograder.grading.cluster.jobqueue import JOBQUEUE
    from autograder.grading.intake.identity import LMS_CHOICES
    from autograder.grading.intake.inputs import DEFAULT_ID_PATTERN

    g = sub.add_parser(
        "grade", help="grade submissions (notebooks, folders, otter or LMS zips) in parallel, offline",
        description="Grade every submission under INPUTS; results are kept in OUT/ledger.sqlite, so "
        "running the same command again only grades what is not done yet.")
    g.add_argument("inputs", nargs="+", help=".ipynb files, folders, otter export zips, LMS bulk zips")
    g.add_argument("--out", default="grading-out", help="output folder (default: %(default)s)")
    g.add_argument("--slug", default=SLUG, help="assignment (default: %(default)s)")
    g.add_argument("--version", action="append", metavar="V",
                   help="version(s) this batch grades; repeatable; the first grades notebooks "
                   "without a version stamp (default: every published version, newest first)")
    g.add_argument("--secret-file", help="course secret, for versions with per-student variants")
    g.add_argument("--autograder", help="grade everything with this one autograder zip instead "
                   "(no version check)")
    g.add_argument("--workers", "-j", type=int, default=default_workers(),
                   help="submissions graded at once (default: %(default)s)")
    g.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help="seconds one submission may take (default: %(default)s)")
    g.add_argument("--memory", type=float, default=DEFAULT_MEMORY_LIMIT / 2**30,
                   help="GiB of memory one submission's processes may use together; 0 = no limit "
                   "(default: %(default)s)")
    g.add_argument("--id-pattern", default=None,
                   help="regular expression for the student ID in the file's path; its group "
                   "'id' (else the whole match) is the ID, an optional group 'time' orders "
                   f"duplicates (default: the LMS layout, else {DEFAULT_ID_PATTERN} = up to the first '_')")
    g.add_argument("--lms", choices=LMS_CHOICES, default="auto",
                   help="how file names name students: moodle (participant ID of the folder), canvas "
                   "(user ID), otter (ID recorded in the export), pattern (--id-pattern only); "
                   "default: %(default)s (detected per file)")
    g.add_argument("--roster", help="CSV of the class (student_id, name, email, lms_id, section): "
                   "matches submissions to students, lists who handed nothing in (kept as OUT/roster.csv)")
    g.add_argument("--only", nargs="+", metavar="ID", help="grade only these students (again); the rest "
                   "of the class in OUT stays as it is")
    g.add_argument("--retry", action="append", choices=sorted(RETRY),
                   help="grade again the results with this status, with the current limits (repeatable)")
    g.add_argument("--reuse-other-kit", action="store_true",
                   help="reuse results graded by another kit version (default: grade them again)")
    g.add_argument("--regrade", action="store_true", help="grade again even what the ledger has")
    g.add_argument("--keep-work", action="store_true",
                   help="keep each submission's grading folder (OUT/work/) for debugging")
    g.add_argument("--trainings", metavar="DIR", default=os.environ.get(TRAININGS_ENV),
                   help="the cache of verified trainings (the grader's own trainings, kept by "
                   f"fingerprint); share one between class folders (default: ${TRAININGS_ENV} if set, "
                   "else OUT/trainings)")
    g.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="run student code WITHOUT the bubblewrap sandbox (trusted notebooks only)")
    g.add_argument("--scheduler", metavar="ADDRESS",
                   help="grade on a running Dask cluster: its scheduler's tcp:// or tls:// address, or its "
                   "scheduler file; workers are started with `python -m autograder worker ADDRESS` "
                   "(default: the gradings run on this machine)")
    g.add_argument("--cluster", choices=sorted(JOBQUEUE),
                   help="start the workers as batch jobs through dask-jobqueue (TLS, one-run certificates)")
    g.add_argument("--jobs", type=int, help="with --cluster: batch jobs to request (default: 1)")
    g.add_argument("--cluster-opt", action="append", metavar="KEY=VALUE",
                   help="with --cluster: a dask-jobqueue option, e.g. queue=short, cores=4, memory=8GB, "
                   "walltime=01:00:00, account=ml-course (repeatable)")
    g.set_defaults(func=cmd_grade)


def cmd_grade(args: argparse.Namespace) -> int:
    from autograder.errors import GradingError
    from autograder.grading.batch import engine
    from autograder.grading.execution import preflight
    from autograder.grading.intake import identity, inputs
    from autograder.grading.intake.autograder_zip import autograder_info

    resolver = None
    if args.autograder and (args.version or args.secret_file):
        raise GradingError("--autograder grades every notebook with that one zip: it cannot be combined "
                           "with --version or --secret-file",
                           hint="drop --autograder to grade each notebook by its version stamp")
    if args.autograder:
        ag_zip = Path(args.autograder)
        if not ag_zip.is_file():
            raise GradingError(f"autograder zip not found: {ag_zip}",
                               hint=f"run: python -m autograder publish {args.slug}")
        info = autograder_info(ag_zip)
    else:
        resolver = resolver_for(args.slug, args.version, args.secret_file)
        info = resolver.infos[resolver.default]
    if args.workers < 1 or args.timeout <= 0 or args.memory < 0:
        raise GradingError("--workers and --timeout must be positive, --memory 0 (no limit) or more",
                           hint="e.g. --workers 2 --timeout 300 --memory 4")
    where = cluster_spec(args)
    out = Path(args.out)
    roster = identity.class_roster(out, args.roster)
    lms = "pattern" if args.id_pattern and args.lms == "auto" else args.lms
    intake = inputs.collect([Path(p) for p in args.inputs], out / "staging",
                            id_pattern=args.id_pattern or inputs.DEFAULT_ID_PATTERN, exclude=out, lms=lms,
                            roster=roster)
    if resolver is not None:  # before anything is graded: every stamped version can be graded here
        resolver.check_batch(intake.chosen, roster, {sub.key for sub, _ in intake.unmatched})
    if where.embedded:  # this machine grades: it needs the kernel, the sandbox and the data
        ready = preflight.require(args.unsafe_no_sandbox)
        sandboxed, keras_home = ready.sandboxed, ready.keras_home
    else:  # each worker checked these itself before it joined (`python -m autograder worker`)
        sandboxed, keras_home = not args.unsafe_no_sandbox, None
        if args.unsafe_no_sandbox:
            print("WARNING: --unsafe-no-sandbox: student code runs on the workers with their rights, "
                  "network and files", file=sys.stderr)
    print(f"{len(intake.chosen)} student(s) from {len(args.inputs)} input(s); "
          f"{len(intake.superseded)} older submission(s) set aside (latest counts), "
          f"{len(intake.ignored)} file(s) ignored", flush=True)
    for sub, why in intake.unmatched:
        print(f"  not on the roster: {sub.key} (graded as {sub.student_id}: {why})")
    cfg = engine.BatchConfig(
        info, out, workers=args.workers, timeout=args.timeout,
        memory_limit=None if not args.memory else int(args.memory * 2**30),
        regrade=args.regrade, keep_work=args.keep_work, keras_home=keras_home, sandboxed=sandboxed,
        resolve=resolver, only=frozenset(args.only or ()),
        retry=frozenset().union(*(engine.RETRY[r] for r in args.retry or ())),
        reuse_other_kit=args.reuse_other_kit, cluster=where,
        trainings=Path(args.trainings) if args.trainings else None)
    if resolver:
        print(f"versions graded: {', '.join(resolver.accepted)} (no stamp -> {resolver.default}); "
              f"published: {', '.join(resolver.infos)}", flush=True)
    return run_and_report(intake, cfg, info, roster)


def cluster_spec(args: argparse.Namespace):
    """Where ``grade`` runs its tasks, from ``--scheduler`` / ``--cluster``, ``--jobs``, ``--cluster-opt``."""
    from autograder.errors import GradingError
    from autograder.grading.cluster.coordinator import ClusterSpec

    scheduler, kind = getattr(args, "scheduler", None), getattr(args, "cluster", None)
    if scheduler and kind:
        raise GradingError("--scheduler and --cluster name two places to grade: give one",
                           hint="--scheduler for a running Dask scheduler, --cluster to start one "
                                "on a job queue")
    opts = []
    for item in getattr(args, "cluster_opt", None) or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise GradingError(f"--cluster-opt {item}: expected key=value",
                               hint="e.g. --cluster-opt queue=short")
        opts.append((key.strip(), value.strip()))
    if (opts or getattr(args, "jobs", None)) and not kind:
        raise GradingError("--jobs and --cluster-opt go with --cluster",
                           hint="e.g. --cluster slurm --jobs 10")
    if getattr(args, "jobs", None) is not None and args.jobs < 1:
        raise GradingError("--jobs must be 1 or more", hint="e.g. --jobs 10")
    return ClusterSpec(scheduler=scheduler or "", kind=kind or "", jobs=getattr(args, "jobs", None) or 0,
                       options=tuple(opts))


def add_prepare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "prepare", help="before a deadline: train ahead the networks the class's grading will need",
        description="Train the published solution's graded networks, for the version's seed or every "
        "student's on the roster, into the class's cache of verified trainings: at the deadline the "
        "gradings take them from there instead of training (a fit that differs still trains).")
    p.add_argument("--out", default="grading-out", help="the class folder to grade (default: %(default)s)")
    p.add_argument("--slug", default=SLUG, help="assignment (default: %(default)s)")
    p.add_argument("--version", metavar="V", help="the version to prepare (default: the newest published)")
    p.add_argument("--roster", help="CSV of the class: a per-student version's trainings for each student")
    p.add_argument("--secret-file", help="course secret, for versions with per-student variants")
    p.add_argument("--trainings", metavar="DIR", default=os.environ.get(TRAININGS_ENV),
                   help=f"the cache to fill (default: ${TRAININGS_ENV} if set, else OUT/trainings)")
    p.add_argument("--unsafe-no-sandbox", action="store_true", help="grade the solution without the sandbox")
    p.set_defaults(func=cmd_prepare)


def cmd_prepare(args: argparse.Namespace) -> int:
    from autograder.errors import GradingError
    from autograder.grading.batch import warm
    from autograder.grading.cluster.task import TRAININGS
    from autograder.grading.execution import preflight
    from autograder.grading.intake import identity, targets

    resolver = resolver_for(args.slug, [args.version] if args.version else None, args.secret_file)
    info = resolver.infos[args.version or resolver.default]
    out = Path(args.out)
    if not info.variants:
        seeds = [warm.zip_seed(info.path)]
    else:
        roster = identity.class_roster(out, args.roster)
        if roster is None or resolver.secret is None:
            raise GradingError(f"version {info.version} gives each student a seed: its trainings are "
                               "prepared per student", hint="add --roster CLASS.csv --secret-file FILE")
        seeds = [targets.derive_seed(resolver.secret, s.student_id, info.version) for s in roster.students]
    ready = preflight.require(args.unsafe_no_sandbox)
    cache = Path(args.trainings) if args.trainings else out / TRAININGS
    print(f"preparing the trainings of version {info.version} for {len(seeds)} seed(s) in {cache}",
          flush=True)
    done = warm.warm(info, args.slug, seeds, cache.resolve(), (out / "work" / "prepare").resolve(),
                     sandboxed=ready.sandboxed, keras_home=ready.keras_home)
    print(f"done in {done.seconds:.0f} s: {done.trained + done.cached} training(s) for {done.seeds} seed(s), "
          f"{done.trained} done now, {done.cached} already there; grade into {out} (or with --trainings "
          f"{cache}) and each matching fit is served instead of trained")
    return 0


def add_worker(sub: argparse._SubParsersAction) -> None:
    w = sub.add_parser("worker", help="serve as a grading worker of a Dask cluster (after a preflight)",
                       description="Check that this machine can grade (the data set, the kernel, the "
                       "sandbox, the same versions as the coordinator), then take grading tasks from the "
                       "Dask scheduler at ADDRESS until stopped. Only a coordinator with the same "
                       "versions gets this worker's services.")
    w.add_argument("address", help="the scheduler's tcp:// or tls:// address, or its scheduler file")
    w.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                   help="TensorFlow threads of a grading here: the host's cores divided by the workers "
                   "started on it (default: %(default)s)")
    w.add_argument("--name", help="the worker's name in the scheduler's list")
    w.add_argument("--work-dir", help="folder for the gradings (default: the kit's cache, worker-work/)")
    w.add_argument("--unsafe-no-sandbox", action="store_true",
                   help="accept work without a working bubblewrap sandbox (trusted notebooks only)")
    w.add_argument("--death-timeout", type=float, help="seconds to wait for a lost scheduler before exiting")
    w.add_argument("--tls-ca-file", help="TLS: the cluster's CA certificate")
    w.add_argument("--tls-cert", help="TLS: this worker's certificate")
    w.add_argument("--tls-key", help="TLS: this worker's key")
    # what dask-jobqueue's job scripts add for dask's own worker command: accepted, decided here
    for option, kind in (("--nthreads", int), ("--memory-limit", str), ("--local-directory", str),
                         ("--interface", str), ("--protocol", str)):
        w.add_argument(option, type=kind, help=argparse.SUPPRESS)
    w.set_defaults(func=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    from autograder.grading.cluster.worker import run_worker

    tls = None
    if args.tls_ca_file or args.tls_cert or args.tls_key:
        tls = {"ca": args.tls_ca_file, "cert": args.tls_cert, "key": args.tls_key}
    if args.threads < 1:
        from autograder.errors import GradingError

        raise GradingError("--threads must be 1 or more", hint="e.g. --threads 2")
    work_dir = args.work_dir or (
        str(Path(args.local_directory) / "fmnist-kit") if args.local_directory else None)
    return run_worker(args.address, threads=args.threads, name=args.name,
                      work_dir=Path(work_dir) if work_dir else None,
                      sandboxed=not args.unsafe_no_sandbox, tls=tls, death_timeout=args.death_timeout,
                      interface=args.interface, protocol=args.protocol)


def resolver_for(slug: str, chosen: list[str] | None, secret_file: str | None):
    from autograder.errors import GradingError
    from autograder.grading.intake import targets
    infos = targets.load_published(slug)
    if not infos:
        raise GradingError(f"no published version of {slug}",
                           hint=f"run: python -m autograder publish {slug} --version V")
    secret = targets.read_secret(Path(secret_file)) if secret_file else None
    accepted = list(chosen) if chosen else list(infos)[::-1]  # newest first: the default
    return targets.VersionResolver(slug, infos, accepted, secret, explicit=bool(chosen))


def run_and_report(intake, cfg, info, roster=None) -> int:
    import signal

    from autograder.grading.batch import engine
    from autograder.report import outputs
    from autograder.results import Status

    def _term(signum, frame):  # `kill` (SIGTERM) stops as cleanly as Ctrl-C
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGTERM, _term)
    try:
        batch = engine.run_batch(intake, cfg)
    finally:
        signal.signal(signal.SIGTERM, old)
    whole = engine.class_view(batch, cfg.out)
    written = outputs.write_all(whole, info, cfg.out, roster)
    counts: dict[str, int] = {}
    for o in batch.outcomes:
        st = o.record.status if o.record else Status.PENDING
        counts[st] = counts.get(st, 0) + 1
    print(f"graded now {batch.graded_now}, from the ledger {batch.reused}, in {batch.wall:.0f} s: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    flagged = sum(bool(o.all_flags) for o in whole.outcomes)
    print(f"the class in {cfg.out}: {len(whole.outcomes)} student(s)"
          + (f", {flagged} flagged (listed first in the report)" if flagged else ""))
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


def add_demo(sub: argparse._SubParsersAction) -> None:
    from autograder.grading.batch.engine import default_workers
    from autograder.tools.demo import DEMO_TIMEOUT

    dm = sub.add_parser("demo", help="grade the built-in sample class and show where the outputs are")
    dm.add_argument("--out", default="demo-out", help="output folder (default: %(default)s)")
    dm.add_argument("--workers", "-j", type=int, default=default_workers(),
                    help="submissions graded at once (default: %(default)s)")
    dm.add_argument("--timeout", type=float, default=DEMO_TIMEOUT,
                    help="seconds one submission may take (default: %(default)s)")
    dm.add_argument("--keep-results", action="store_true",
                    help="take the results the ledger has instead of grading the class again")
    dm.add_argument("--unsafe-no-sandbox", action="store_true",
                    help="run student code WITHOUT the bubblewrap sandbox (trusted notebooks only)")
    dm.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from autograder import paths
    from autograder.catalog import default_version
    from autograder.errors import GradingError
    from autograder.grading.batch import engine
    from autograder.grading.execution import preflight
    from autograder.grading.intake import identity, inputs
    from autograder.grading.intake.autograder_zip import autograder_info
    from autograder.tools import demo

    version = default_version(SLUG)
    ag_zip = paths.autograder_zip(SLUG, version)
    if not ag_zip.is_file():
        raise GradingError(f"autograder zip not found: {ag_zip}",
                           hint=f"run: python -m autograder publish {SLUG} --version {version}")
    ready = preflight.require(args.unsafe_no_sandbox)
    out = Path(args.out)
    subs = demo.write_samples(SLUG, out / "submissions")
    print(f"demo class of {len(subs)} submissions written to {out / 'submissions'}: "
          f"{', '.join(subs)}")
    print(f"grading with {args.workers} worker(s), time limit {args.timeout:.0f} s each "
          "(the looping notebook is stopped at the limit) ...", flush=True)
    info = autograder_info(ag_zip)
    roster = identity.class_roster(out, str(demo.write_roster(out / "roster-demo.csv", subs)))
    intake = inputs.collect([out / "submissions"], out / "staging", roster=roster)
    cfg = engine.BatchConfig(info, out, workers=args.workers, timeout=args.timeout, sandboxed=ready.sandboxed,
                             regrade=not args.keep_results, keras_home=ready.keras_home)
    print(demo.trainings_note(cfg.training_cache), flush=True)
    code = run_and_report(intake, cfg, info, roster)
    if code == 0 and not args.keep_results:
        print(demo.record_run(out))
    if code == 0:  # the made-up roster's LMS (demo.EXPORT_TARGETS): its assignment out of the kit's points
        from autograder.cli_export import export_class

        export_class(out, list(demo.EXPORT_TARGETS), out / "export", roster, points=sum(info.points) or None,
                     language=demo.EXPORT_LANGUAGE)
    return code
