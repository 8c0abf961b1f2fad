"""Before a deadline: the trainings a class's grading will need, trained ahead into its cache.

Most of a class trains the networks the published solution trains, from the seeds the grader
derives (the version's, or each student's under a per-student version). ``warm`` trains them into
the class's cache of verified trainings (``trainings.TrainingCache``) before any notebook arrives:
the published solution is graded once (its replay fills the cache for the first seed and gives the
architectures as the kernel exported them), then the grader's replay trains the same networks
for every other seed. At the deadline each matching fit is then served to the grading kernel and
replayed from the cache (``served``), and only what differs is trained.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from autograder import paths
from autograder.errors import GradingError
from autograder.grading.execution import pipeline, run_one
from autograder.grading.verify import replay
from autograder.grading.verify.trainings import TrainingCache
from autograder.params import PARAMS_FILE
from autograder.results import Status
from autograder.target import AutograderInfo


@dataclass(frozen=True)
class Warmed:
    """What ``warm`` did: seeds covered, trainings done now and found already there."""

    seeds: int
    trained: int
    cached: int
    seconds: float


def warm(info: AutograderInfo, slug: str, seeds: list[int], cache: Path, work: Path, *,
         sandboxed: bool = True, keras_home: Path | None = None,
         log: Callable[[str], None] = print) -> Warmed:
    """Train the published solution's graded networks for every seed in ``seeds`` into ``cache``."""
    if not seeds:
        raise GradingError("no seed to prepare trainings for", hint="give --roster for a per-student version")
    start = time.monotonic()
    solution = paths.solution_dir(slug, info.version) / f"{slug}.ipynb"
    if not solution.is_file():
        raise GradingError(f"the published solution of version {info.version} is missing: {solution}",
                           hint=f"publish it: python -m autograder publish {slug} --version {info.version}")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    log(f"grading the published solution of version {info.version} (seed {seeds[0]}) for its networks ...")
    record = run_one.grade_one(solution, info.path, work / "solution", seed=seeds[0], sandboxed=sandboxed,
                               keras_home=keras_home, training_cache=cache)
    if record.status != Status.GRADED:
        raise GradingError(f"the published solution did not grade ({record.status}: {record.reason[:300]})",
                           hint="check the release: python -m autograder publish --version "
                                f"{info.version}")
    artifacts = pipeline.artifacts_of(work / "solution" / "submission", work / "solution",
                                      run_one.private_dir(work / "solution"))
    params = _json_object(run_one.private_dir(work / "solution") / PARAMS_FILE)
    configs = replay.exported_configs(artifacts)
    first = _json_object(pipeline.replay_dir(work / "solution") / "summary.json")
    trained = sum(not s.get("cached") for s in first.values())
    cached = len(first) - trained
    for i, seed in enumerate(seeds[1:], 2):
        specs, refused = replay.specs_for(configs, seed, params)
        if refused:
            raise GradingError(f"the solution's networks cannot be replayed: {refused}")
        summary = replay.replay_all(specs, work / f"seed-{seed}", TrainingCache(cache), log=lambda _: None)
        trained += sum(not s["cached"] for s in summary.values())
        cached += sum(bool(s["cached"]) for s in summary.values())
        shutil.rmtree(work / f"seed-{seed}", ignore_errors=True)
        log(f"  [{i}/{len(seeds)}] seed {seed}: {len(summary)} network(s), "
            f"{sum(not s['cached'] for s in summary.values())} trained now")
    shutil.rmtree(work, ignore_errors=True)
    return Warmed(len(seeds), trained, cached, round(time.monotonic() - start, 1))


def zip_seed(ag_zip: Path) -> int:
    """The seed a shared-seed version's autograder assigns (its ``otter_config.json``)."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(ag_zip) as zf:
            seed = json.loads(zf.read("otter_config.json")).get("seed")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise GradingError(f"the autograder {ag_zip} names no seed ({exc})") from None
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise GradingError(f"the autograder {ag_zip} names no seed")
    return seed


def _json_object(path: Path) -> dict:
    """A JSON object the kit wrote (the release's parameters, the replay's summary)."""
    import json

    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as exc:
        raise GradingError(f"{path.name} of the solution's grading is unreadable ({exc})") from None
