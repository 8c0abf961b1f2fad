"""The batch engine: grade many submissions in parallel, record each result as it finishes.

Each submission is one Dask task (``cluster.task.grade_task``: ``run_one.grade_one`` in its own
sandboxed process tree, from a clean copy with a fresh Jupyter kernel, supervised for time,
memory and Ctrl-C), on the embedded cluster by default or on a real one (``cluster``). Only this
process, the coordinator, writes the ledger and the progress display, as each result arrives. Results
already in the ledger (same submission bytes, same autograder, same seed) are reused, not graded
again. Each submission's ``Target`` (autograder, version, seed) comes from ``BatchConfig.resolve``
(the version stamp, ``targets.py``), or is the one autograder of the batch. The display is
``progress``; the result types are in ``autograder.results``.

A stored result is graded again when it is ``stale``: ``--regrade``, a student named by ``--only``,
a status named by ``--retry``, a timeout under a shorter limit than today's, or another kit
version. After the run every result becomes its student's entry of the class (``Ledger.remember``,
the latest submission wins), and ``class_view`` gives the whole class for the outputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

from autograder import __version__ as KIT_VERSION
from autograder.errors import GradingError
from autograder.grading.batch.copies import flag_copies
from autograder.grading.batch.ledger import Ledger, folder_lock
from autograder.grading.batch.progress import Progress
from autograder.grading.cluster.coordinator import ClusterSpec, Session, connect
from autograder.grading.cluster.task import TRAININGS, TaskSpec, grade_task, thread_env
from autograder.grading.execution import run_one, supervise
from autograder.grading.intake.autograder_zip import check_assignment
from autograder.grading.intake.inputs import Intake, Submission
from autograder.results import Adjustment, ClassEntry, Record, Status
from autograder.target import AutograderInfo, Target

#: ``--retry`` words and the statuses they grade again.
RETRY = {"failed": frozenset({Status.TIMEOUT, Status.ERROR}), "timeout": frozenset({Status.TIMEOUT}),
         "error": frozenset({Status.ERROR})}

DEFAULT_TIMEOUT = 300.0
#: Peak resident memory of the whole tree for the solution is ~2 GB (measured); 4 GiB leaves room.
DEFAULT_MEMORY_LIMIT = 4 * 2**30
FIGURES = run_one.FIGURES


def default_workers() -> int:
    """One worker per two cores, at least 2: TensorFlow uses the cores a worker is given."""
    return max(2, (os.cpu_count() or 2) // 2)


#: Decides each submission's target from its notebook; returns ``(status, reason)`` instead when
#: the submission cannot be graded at all (``wrong-version``).
Resolver = Callable[[Submission, dict], "Target | tuple[str, str]"]


@dataclass
class BatchConfig:
    autograder: AutograderInfo  # the default target (and the questions of the grade sheet)
    out: Path
    workers: int = field(default_factory=default_workers)
    timeout: float = DEFAULT_TIMEOUT
    memory_limit: int | None = DEFAULT_MEMORY_LIMIT
    regrade: bool = False
    keep_work: bool = False
    keras_home: Path | None = None
    #: Run student code in the bubblewrap sandbox (``--unsafe-no-sandbox`` turns it off).
    sandboxed: bool = True
    resolve: Resolver | None = None
    #: Grade only these students (and grade them again); the rest of the class stays as it is.
    only: frozenset[str] = frozenset()
    #: Statuses graded again with the current limits (``--retry``: see ``RETRY``).
    retry: frozenset[str] = frozenset()
    #: Reuse results graded by another kit version (by default they are graded again).
    reuse_other_kit: bool = False
    #: Where the gradings run (default: Dask embedded in this process, ``workers`` at once).
    cluster: ClusterSpec = field(default_factory=ClusterSpec)
    #: The cache of verified trainings the gradings on this machine share (default: OUT/trainings).
    trainings: Path | None = None
    #: False: grade without any cache of verified trainings (as before it; ``bench --class``'s baseline).
    use_trainings: bool = True

    @property
    def training_cache(self) -> Path:
        return (self.trainings or self.out / TRAININGS).resolve()


@dataclass
class Outcome:
    submission: Submission
    record: Record | None  # None: not graded (the batch was interrupted first)
    fresh: bool = False  # graded in this run
    from_ledger: bool = False  # graded in an earlier run, taken from the ledger
    target: Target | None = None
    version: str = ""  # the release it was graded against
    #: About the submission and its target (a stamp naming another student, no stamp, not on the
    #: roster, ...); the grading's own flags are ``record.flags``.
    flags: tuple[str, ...] = ()
    #: The TA's adjustments of this student's score (``fmnist-kit adjust``), from the ledger.
    adjustments: tuple[Adjustment, ...] = ()

    @property
    def all_flags(self) -> list[str]:
        return [*self.flags, *(self.record.flags if self.record else [])]


@dataclass
class BatchResult:
    intake: Intake
    outcomes: list[Outcome]
    interrupted: bool = False
    graded_now: int = 0
    reused: int = 0
    wall: float = 0.0


def run_batch(intake: Intake, cfg: BatchConfig, *, stream: TextIO | None = None) -> BatchResult:
    """Grade ``intake.chosen``; every finished grading is in the ledger before it is shown."""
    stream = stream if stream is not None else sys.stderr
    start = time.monotonic()
    if cfg.only:
        missing = sorted(cfg.only - {s.student_id for s in intake.chosen})
        if missing:
            print(f"--only: no submission of {', '.join(missing)} in the inputs", file=stream)
        intake = replace(intake, chosen=[s for s in intake.chosen if s.student_id in cfg.only])
    cfg.out.mkdir(parents=True, exist_ok=True)
    work = cfg.out / "work"
    with folder_lock(cfg.out), Ledger(cfg.out) as ledger:
        snaps: dict[str, AutograderInfo] = {}
        cfg = replace(cfg, autograder=_snapshot(cfg.autograder, cfg.out, snaps))
        strays = supervise.reap_under(work)
        if strays:
            print(f"stopped {strays} process(es) left running by an earlier, killed grader", file=stream)
        outcomes: dict[int, Outcome] = {}
        # job -> indexes into intake.chosen (identical files with the same target: graded once)
        todo: dict[str, list[int]] = {}
        targets: dict[str, Target] = {}
        for i, sub in enumerate(intake.chosen):
            pre, target = precheck(sub, cfg)
            if pre is not None or target is None:
                outcomes[i] = Outcome(sub, pre, target=target)
                continue
            target = replace(target, autograder=_snapshot(target.autograder, cfg.out, snaps))
            done = ledger.get(sub.sha256, target.key)
            if done is not None and not stale(done, sub, cfg):
                outcomes[i] = Outcome(sub, done, from_ledger=True, target=target)
            else:
                job = job_id(sub, target)
                targets[job] = target
                todo.setdefault(job, []).append(i)
        progress = Progress(len(intake.chosen), sum(map(len, todo.values())), cfg.workers, stream)
        for o in outcomes.values():
            progress.seen(o.submission.student_id, o.record, fresh=False)
        interrupted = _grade_all(intake, todo, targets, cfg, ledger, outcomes, progress)
        progress.close()
        ordered = [outcomes.get(i, Outcome(s, None)) for i, s in enumerate(intake.chosen)]
        for o in ordered:
            o.version = o.target.version if o.target else ""
            o.flags = tuple(f for f in (o.submission.id_conflict, o.submission.id_note) if f) + (
                o.target.flags if o.target else ())
            if o.record is not None:
                kept = ledger.remember(class_entry(o))
                if kept is not None:  # the class already has a newer submission of this student
                    intake.superseded.append((o.submission, _submission_of(kept)))
    return BatchResult(intake, ordered, interrupted, graded_now=sum(o.fresh for o in ordered),
                       reused=sum(o.from_ledger for o in ordered),
                       wall=time.monotonic() - start)


def stale(done: Record, sub: Submission, cfg: BatchConfig) -> bool:
    """Must a result in the ledger be graded again (``--regrade``, ``--only``, ``--retry``, a longer
    time limit for a timeout, another kit version)?"""
    if cfg.regrade or sub.student_id in cfg.only or done.status in cfg.retry:
        return True
    if done.status == Status.TIMEOUT and done.time_limit and cfg.timeout > done.time_limit:
        return True
    return done.kit != KIT_VERSION and not cfg.reuse_other_kit


def class_entry(o: Outcome) -> ClassEntry:
    s, rec = o.submission, o.record
    assert rec is not None
    return ClassEntry(student_id=s.student_id, file=s.key, sub_sha=s.sha256, ag_key=rec.ag_sha,
                      status=rec.status, reason=rec.reason, version=o.version, name=s.name, lms_id=s.lms_id,
                      flags=o.flags, is_notebook=s.is_notebook, time_text=s.time_text, mtime=s.mtime)


def _submission_of(e: ClassEntry) -> Submission:
    return Submission(e.file, "", e.student_id, Path(), e.sub_sha, e.mtime, e.is_notebook, e.time_text,
                      name=e.name, lms_id=e.lms_id)


def class_view(batch: BatchResult, out: Path) -> BatchResult:
    """The whole class kept in ``out`` (every student ever graded there, the submission that counts),
    with this run's ungraded rows (``pending``) for students the class does not have yet."""
    with Ledger(out) as ledger:
        outcomes = []
        adjustments = ledger.adjustments()
        for e in ledger.entries():
            rec = (ledger.get(e.sub_sha, e.ag_key) if e.sub_sha and e.ag_key else None) or Record(
                sub_sha=e.sub_sha, ag_sha=e.ag_key, status=e.status, reason=e.reason)
            outcomes.append(Outcome(_submission_of(e), rec, version=e.version, flags=e.flags,
                                    adjustments=adjustments.get(e.student_id, ())))
    known = {o.submission.student_id for o in outcomes}
    outcomes += [o for o in batch.outcomes if o.record is None and o.submission.student_id not in known]
    outcomes.sort(key=lambda o: o.submission.student_id)
    flag_copies(outcomes)
    return replace(batch, outcomes=outcomes)


def job_id(sub: Submission, target: Target) -> str:
    if target.seed is None:
        return sub.sha256
    return hashlib.sha256(f"{sub.sha256}:{target.key}".encode()).hexdigest()


def _snapshot(ag: AutograderInfo, out: Path, snaps: dict[str, AutograderInfo]) -> AutograderInfo:
    """Grade with a private copy: a re-publish during the batch must not mix two autograders."""
    if ag.sha256 in snaps:
        return snaps[ag.sha256]
    raw = ag.path.read_bytes()
    if hashlib.sha256(raw).hexdigest() != ag.sha256:
        raise GradingError(f"the autograder zip {ag.path} changed while the batch was starting",
                           hint="run the command again (results are keyed by the autograder's hash)")
    snap = out / f"autograder-{ag.sha256[:12]}.zip"
    if not snap.is_file():
        tmp = snap.with_suffix(".tmp")
        tmp.write_bytes(raw)
        tmp.replace(snap)
    snaps[ag.sha256] = replace(ag, path=snap)
    return snaps[ag.sha256]


def precheck(sub: Submission, cfg: BatchConfig) -> tuple[Record | None, Target | None]:
    """A result decided without running anything (not a notebook, empty, other assignment or
    version), else ``(None, target)``."""
    ag = cfg.autograder
    if sub.status:
        return Record(sub_sha=sub.sha256, ag_sha=ag.sha256, status=sub.status, reason=sub.reason), None
    nb, status, reason = run_one.check_notebook(sub.path)
    if nb is None and not sub.is_notebook and status != Status.EMPTY:
        kind = f"a {Path(sub.key).suffix} file" if Path(sub.key).suffix else "a file without extension"
        reason = f"not a notebook: {Path(sub.key).name} is {kind}; hand in the .ipynb notebook"
    if nb is None:
        return Record(sub_sha=sub.sha256, ag_sha=ag.sha256, status=status, reason=reason), None
    target = cfg.resolve(sub, nb) if cfg.resolve else Target(autograder=ag, version=ag.version)
    if not isinstance(target, Target):
        status, reason = target
        return Record(sub_sha=sub.sha256, ag_sha=ag.sha256, status=status, reason=reason), None
    status, reason = check_assignment(nb, target.autograder)
    if status != Status.GRADED:
        return Record(sub_sha=sub.sha256, ag_sha=target.key, status=status, reason=reason), target
    return None, target


def _grade_all(intake: Intake, todo: dict[str, list[int]], targets: dict[str, Target],
               cfg: BatchConfig, ledger: Ledger, outcomes: dict[int, Outcome], progress: Progress) -> bool:
    """Submit every job to Dask; record each result in the ledger as it arrives."""
    if not todo:
        return False
    embedded = cfg.cluster.embedded
    with connect(cfg.cluster, cfg.workers) as session:
        if session.dashboard:
            progress.note(f"Dask dashboard: {session.dashboard}")
        if not embedded:
            progress.note(f"grading on {session.describe}")
        run_id = session.start_run()
        client = session.client
        env = {} if not embedded else thread_env((os.cpu_count() or 2) // max(1, cfg.workers))
        zips: dict[str, bytes] = {}
        specs: dict[str, TaskSpec] = {}
        futures: dict[object, str] = {}
        if embedded:
            (cfg.out / "work").mkdir(parents=True, exist_ok=True)

        def submit(job: str, again: int = 0):
            sub, spec = intake.chosen[todo[job][0]], specs[job]
            fut = client.submit(grade_task, spec, sub.path.read_bytes(), zips[spec.ag_sha256],
                                key=task_key(spec, session.resource, again), resources={session.resource: 1},
                                pure=False)
            futures[fut] = job
            return fut

        try:
            for job, idx in todo.items():
                sub, target = intake.chosen[idx[0]], targets[job]
                ag = target.autograder
                if ag.sha256 not in zips:  # in each task, not scattered: a lost worker loses no input
                    zips[ag.sha256] = b"" if embedded else ag.path.read_bytes()  # embedded: the snapshot
                specs[job] = TaskSpec(
                    job=job, sub_sha=sub.sha256, ag_key=target.key, ag_sha256=ag.sha256, name=sub.key,
                    timeout=cfg.timeout, memory_limit=cfg.memory_limit, sandboxed=cfg.sandboxed,
                    seed=target.seed, keep_work=cfg.keep_work, run_id=run_id,
                    work_root=str((cfg.out / "work").resolve()) if embedded else None,
                    ag_path=str(ag.path.resolve()) if embedded else None,
                    keras_home=str(cfg.keras_home) if embedded and cfg.keras_home else None, env=env,
                    training_cache=str(cfg.training_cache) if embedded else None,
                    use_trainings=cfg.use_trainings)
                submit(job)
            _collect(dict(futures), submit, session, intake, todo, targets, ledger, outcomes, progress)
            return False
        except KeyboardInterrupt:
            session.stop_run(run_id)
            progress.note("interrupted: stopping the running gradings (their whole process trees) ...")
            with contextlib.suppress(Exception):
                client.cancel(list(futures))
            if embedded:
                deadline = time.monotonic() + 30
                while session.running() and time.monotonic() < deadline:
                    time.sleep(0.2)
                supervise.reap_under(cfg.out / "work")
            return True
        finally:
            session.end_run(run_id)


def task_key(spec: TaskSpec, resource: str, again: int = 0) -> str:
    """The Dask key of a job: the submission, the autograder, the seed, the limits it is graded
    under and the workers' versions (``resource``). The same job gets the same key, so it is never
    graded twice at once on one scheduler (a coordinator resumed after ``kill -9`` joins the grading
    still running); anything that could change the result gives another key. ``again``: the job
    submitted again after its task was stopped on its worker (a finished key keeps its result)."""
    what = [spec.sub_sha, spec.ag_key, spec.seed, spec.timeout, spec.memory_limit, spec.sandboxed, resource]
    key = "fmnist-grade-" + hashlib.sha256(json.dumps(what).encode()).hexdigest()[:32]
    return f"{key}-again{again}" if again else key


#: How often a job whose task was stopped on its worker, not by this coordinator, is submitted again.
RESUBMITS = 2


def _collect(pending: dict, submit, session: Session, intake: Intake, todo: dict[str, list[int]],
             targets: dict[str, Target], ledger: Ledger, outcomes: dict[int, Outcome],
             progress: Progress) -> None:
    """Record each result in the ledger as it arrives. A task that returns no record was stopped on
    its worker by something other than this coordinator (its own Ctrl-C leaves this loop first):
    the scheduler had cancelled it when an earlier coordinator of this class died, and this one's
    submission of the same key came while it was cancelled. That job is submitted again."""
    from distributed import KilledWorker

    keys = {fut.key for fut in pending}
    again: dict[str, int] = {}
    last_check = 0.0
    while pending:
        done = [f for f in pending if f.done()]
        if not done:
            time.sleep(0.2)
        now = time.monotonic()
        if now - last_check >= 1.0:
            last_check = now
            _follow(session, keys, progress)
        for fut in done:
            job = pending.pop(fut)
            rec, durable = _result_of(fut, intake.chosen[todo[job][0]], targets[job], progress, KilledWorker)
            if rec is None:
                again[job] = again.get(job, 0) + 1
                if again[job] <= RESUBMITS:
                    progress.note(f"{intake.chosen[todo[job][0]].key}: its grading was stopped on its worker "
                                  "(cancelled by the scheduler); grading it again")
                    new = submit(job, again[job])
                    pending[new] = job
                    keys.add(new.key)
                continue
            if durable:  # before anything else happens
                ledger.put(rec)
            for i in todo[job]:
                outcomes[i] = Outcome(intake.chosen[i], rec, fresh=True, target=targets[job])
                progress.seen(intake.chosen[i].student_id, rec, fresh=True)
        progress.tick()


def _follow(session: Session, keys: set[str], progress: Progress) -> None:
    """Running tasks and usable workers, from the scheduler, for the progress line and ETA."""
    for line in session.check_workers():
        progress.note(line)
    progress.set_running({k for k in session.running() if k in keys})
    progress.workers = max(1, session.graders())


def _result_of(fut, sub: Submission, target: Target, progress: Progress,
               killed_worker) -> tuple[Record | None, bool]:
    """The task's record and whether it goes in the ledger (not: the kit's own fault)."""
    try:
        return fut.result(), True
    except killed_worker as exc:  # it took down its worker on every try: a result about the submission
        return Record(sub_sha=sub.sha256, ag_sha=target.key, status=Status.ERROR, kit=KIT_VERSION,
                      finished_at=time.time(),
                      reason=("its grading stopped the grading worker on every try "
                              f"({str(exc)[:200]}); grade it alone to see why (--only, --retry error)")), True
    except Exception as exc:  # a fault of the kit, not of the submission: show, don't keep
        progress.note(f"internal error while grading {sub.key}: {exc!r}")
        return Record(sub_sha=sub.sha256, ag_sha=target.key, status=Status.ERROR,
                      reason=f"internal error of the grader, not recorded (run again): {exc!r}"[:300]), False
