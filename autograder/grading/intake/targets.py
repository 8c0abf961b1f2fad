"""Which autograder (and seed) grades each submission: version stamps and per-student variants.

Every published student notebook carries ``metadata.fmnist_kit = {"assignment", "version"}``
(and ``"student_id"`` for a per-student variant), and the same stamp as ``KIT_STAMP = {...}`` in
its first cell, which survives an editor that drops metadata (Google Colab). The grader loads
every published version of the assignment and picks the one the stamp names (the metadata's
where both are there; where they differ, the row is flagged):

- a stamp naming a version that is not published, or not among the versions this batch
  accepts (``grade --version``), gives ``wrong-version`` with the versions involved;
- a notebook without a stamp (neither metadata nor first cell) is graded against the batch's default version
  (the first ``--version``) and flagged;
- a version with ``variants = true`` derives each student's seed from an HMAC of (course
  secret, student ID, version); the student ID is the submitter's (the file name / LMS folder,
  or ``metadata.student_id``), so a notebook copied from another student runs with the
  submitter's seed and the copied readings are checked against the submitter's curves. A stamp
  naming another student is flagged.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from pathlib import Path

from autograder.errors import GradingError
from autograder.grading.intake.autograder_zip import autograder_info
from autograder.grading.intake.inputs import Submission
from autograder.results import Status
from autograder.target import AutograderInfo, Target

#: Seeding calls whose argument is not the notebook's ``SEED`` (which the grader sets) or the given
#: ``train()``'s ``NETWORK_SEEDS[name]`` (made from it).
_OWN_SEED = re.compile(
    r"\b(set_random_seed|set_seed|random\.seed)\(\s*(?!SEED\s*\)|NETWORK_SEEDS\[name\]\s*\))([^)\n]*)\)")

#: The secret must be long enough that seeds cannot be guessed by trying secrets.
MIN_SECRET_BYTES = 16


def derive_seed(secret: bytes, student_id: str, version: str) -> int:
    """The seed of ``student_id`` in ``version``: HMAC-SHA256(secret, version, ID) -> 0..2^31-1."""
    msg = f"fmnist-kit/{version}/{student_id}".encode()
    return int.from_bytes(hmac.new(secret, msg, hashlib.sha256).digest()[:4], "big") & 0x7FFFFFFF


def read_secret(path: Path) -> bytes:
    """The course secret from a file (surrounding whitespace ignored); clear errors otherwise."""
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        raise GradingError(f"cannot read the course secret {path}: {exc}",
                           hint="give the file that holds the course secret with --secret-file") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise GradingError(f"the course secret in {path} is too short ({len(secret)} bytes)",
                           hint=f"use at least {MIN_SECRET_BYTES} random characters, e.g. "
                                "`python -c 'import secrets; print(secrets.token_urlsafe(32))' > secret.txt`")
    return secret


@dataclass
class VersionResolver:
    """``engine.Resolver`` for a slug's published versions."""

    slug: str
    infos: dict[str, AutograderInfo]  # version -> autograder, every published version
    accepted: list[str]  # versions this batch grades; the first is the default
    secret: bytes | None = None
    #: The versions were named on the command line (so a variants one needs the secret now).
    explicit: bool = True

    def __post_init__(self) -> None:
        unknown = [v for v in self.accepted if v not in self.infos]
        if unknown or not self.accepted:
            raise GradingError(
                f"version(s) {', '.join(unknown) or '(none)'} of {self.slug} are not published",
                hint=f"published: {', '.join(self.infos) or 'none'}; "
                     f"publish with: python -m autograder publish {self.slug} --version V")
        needing = [v for v in self.accepted if self.infos[v].variants]
        if needing and self.secret is None and self.explicit:
            raise GradingError(
                f"version {', '.join(needing)} uses per-student variants: the grader needs the "
                "course secret to re-derive each student's seed",
                hint="add --secret-file FILE (the file used when the variants were published)")

    @property
    def default(self) -> str:
        return self.accepted[0]

    def __call__(self, sub: Submission, nb: dict) -> Target | tuple[str, str]:
        from autograder.notebook import stamp_disagreement, stamp_of

        stamp = stamp_of(nb)
        flags: list[str] = []
        differs = stamp_disagreement(nb)
        if differs:
            flags.append(f"the version stamp was edited: {differs} (the metadata's counts)")
        assignment = stamp.get("assignment")
        if assignment and assignment != self.slug:
            return Status.WRONG_VERSION, (f"this notebook is for assignment {assignment!r}, "
                                         f"not {self.slug!r}")
        version = stamp.get("version")
        if not version:
            version = self.default
            flags.append(f"no version stamp in the notebook (metadata and first cell): graded as version "
                         f"{version}, the batch's default")
        elif not isinstance(version, str) or version not in self.infos:
            return Status.WRONG_VERSION, (
                f"this notebook is version {version!r} of {self.slug}, which is not published; "
                f"published versions: {', '.join(self.infos)}")
        elif version not in self.accepted:
            return Status.WRONG_VERSION, (
                f"this notebook is version {version} of {self.slug}; this batch grades version"
                f"{'s' if len(self.accepted) > 1 else ''} {', '.join(self.accepted)}")
        info = self.infos[version]
        seed = None
        if info.variants:
            if self.secret is None:
                return Status.ERROR, (f"version {version} uses per-student variants: grade again with "
                                     "--secret-file (the course secret) to grade this notebook")
            seed = derive_seed(self.secret, sub.student_id, version)
            owner = stamp.get("student_id")
            if owner is not None and str(owner) != sub.student_id:
                flags.append(f"this notebook was handed out to student {owner}, but handed in as "
                             f"{sub.student_id}: graded with {sub.student_id}'s seed")
            elif owner is None:
                flags.append(f"no student ID in the notebook's stamp: graded with "
                             f"{sub.student_id}'s seed")
            own = own_seeding(nb)
            if own:
                flags.append(f"the notebook seeds with its own value ({'; '.join(own[:3])}), not "
                             "SEED: its curves may not be the ones its seed gives")
        return Target(autograder=info, version=version, seed=seed, flags=tuple(flags))


    def check_batch(self, chosen: list[Submission], roster: object | None, unmatched: set[str]) -> None:
        """Refuse, before anything is graded, a batch holding notebooks of a per-student version that
        this run cannot seed: without the course secret, or handed in through an LMS download (which
        names participant IDs) whose participants the roster does not tie to student IDs. The seed
        comes from the student ID; a participant ID would give every row the wrong seed."""
        variant = [(sub, v) for sub in chosen if (v := self._variant_version(sub))]
        if not variant:
            return
        by_version: dict[str, list[str]] = {}
        for sub, v in variant:
            by_version.setdefault(v, []).append(sub.student_id)
        others = [v for v in self.accepted if v not in by_version]
        elsewise = f", or grade only version {', '.join(others)} with --version" if others else ""
        if self.secret is None:
            raise GradingError(f"this batch holds notebooks of a version with per-student variants "
                               f"({_listed(by_version)}); the grader needs the course secret to re-derive "
                               "each student's seed, and nothing has been graded",
                               hint="add --secret-file FILE (the file used when the variants were "
                                    "published)" + elsewise)
        untied = sorted(sub.lms_id for sub, _ in variant
                        if sub.lms_id and (roster is None or sub.key in unmatched))
        if untied:
            why = "no --roster was given" if roster is None else "the roster matches none of them"
            raise GradingError(
                f"{len(untied)} notebook(s) of a per-student version come from an LMS download, which names "
                f"participants ({', '.join(untied[:5])}{', ...' if len(untied) > 5 else ''}), not student "
                f"IDs, and {why}: each student's seed is derived from the student ID, so nothing has "
                "been graded",
                hint="add --roster CLASS.csv with the columns student_id and lms_id (the LMS's participant "
                     "or user ID) for every student" + elsewise)

    def _variant_version(self, sub: Submission) -> str:
        """The per-student version a handed-in notebook will be graded as ("" for any other)."""
        from autograder import untrusted
        from autograder.notebook import stamp_of

        if sub.status or not sub.is_notebook:
            return ""
        try:
            nb = untrusted.read(sub.path, max_bytes=untrusted.MAX_NOTEBOOK_BYTES)
            stamp = stamp_of(nb) if isinstance(nb, dict) else {}
        except (OSError, ValueError):
            return ""  # a broken notebook gets its own status when it is graded
        if stamp.get("assignment") not in (None, self.slug):
            return ""
        version = stamp.get("version") or self.default
        ok = isinstance(version, str) and version in self.accepted and self.infos[version].variants
        return version if ok else ""


def _listed(by_version: dict[str, list[str]]) -> str:
    return "; ".join(f"version {v}: {len(ids)} notebook(s) ({', '.join(sorted(ids)[:5])}"
                     + (", ..." if len(ids) > 5 else "") + ")" for v, ids in sorted(by_version.items()))


def load_published(slug: str, root: Path | None = None) -> dict[str, AutograderInfo]:
    """Version -> autograder of every published version of ``slug``."""
    from autograder import paths
    from autograder.catalog import published

    return {v: autograder_info(paths.autograder_zip(slug, v, root)) for v in published(slug, root)}


def own_seeding(nb: dict) -> list[str]:
    """Seeding calls in code cells that do not use ``SEED`` (a copied notebook pinning a seed)."""
    found = []
    for cell in nb.get("cells", []):
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            src = cell.get("source", "")
            src = "".join(src) if isinstance(src, list) else str(src)
            found += [m.group(0) for m in _OWN_SEED.finditer(src)]
    return found
