"""The ``export`` and ``adjust`` commands: the class's grades for an LMS, a TA's change by hand.

Thin: their arguments stand beside their handlers, which call ``report.lms`` / ``report.adjust``
and print what went where, which students carry no number (and why), what was adjusted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from autograder.catalog import SLUG


def add_export(sub: argparse._SubParsersAction) -> None:
    from autograder.report.lms import LANGUAGES, TARGETS

    x = sub.add_parser("export", help="write the class's grades for an LMS (Moodle, Canvas, plain CSV) "
                       "and Moodle's feedback-files zip",
                       description="Only graded rows carry a number; every other row is left blank and "
                       "listed in DEST/not-exported.csv. The LMS's maximum grade (from --worksheet or "
                       "--points) must equal the kit's points: the kit never rescales.")
    x.add_argument("out", help="the class folder (the --out of grade)")
    x.add_argument("--to", action="append", choices=TARGETS,
                   help="moodle (grading worksheet + feedback zip), moodle-gradebook (the gradebook's "
                   "CSV import, mapped by ID number or e-mail), canvas (gradebook CSV), csv (plain "
                   "ID/score, e.g. manaba); repeatable (default: canvas and csv, and moodle with "
                   "--worksheet or --language)")
    x.add_argument("--worksheet", help="Moodle: the grading worksheet downloaded from the assignment "
                   "(Download grading worksheet); it is filled in, its headers, language, rows and "
                   "maximum grade kept")
    x.add_argument("--language", choices=LANGUAGES,
                   help="Moodle without --worksheet: the language of your Moodle's interface, whose "
                   "column names the upload expects")
    x.add_argument("--roster", help="class roster CSV (default: OUT/roster.csv if grade was given one)")
    x.add_argument("--points", type=float, help="the LMS's maximum grade for the assignment; it must be "
                   "the kit's points (checked, never rescaled); needed where no worksheet says it")
    x.add_argument("--assignment", default=SLUG, help="Canvas / gradebook column name (default: %(default)s)")
    x.add_argument("--assignment-id", default="", help="Canvas assignment ID (the number in its URL); "
                   "without it Canvas creates a new assignment on import")
    x.add_argument("--dest", help="folder for the files (default: OUT/export)")
    x.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    out = Path(args.out)
    from autograder.grading.intake.identity import class_roster

    roster = class_roster(out, args.roster)
    dest = Path(args.dest) if args.dest else out / "export"
    targets = args.to or ([*(["moodle"] if args.worksheet or args.language else []), "canvas", "csv"])
    export_class(out, targets, dest, roster, points=args.points,
                 worksheet=Path(args.worksheet) if args.worksheet else None, language=args.language,
                 assignment=args.assignment, assignment_id=args.assignment_id)
    return 0


def export_class(out: Path, targets: list[str], dest: Path, roster, *, points=None, worksheet=None,
                 language=None, assignment: str = SLUG, assignment_id: str = "") -> None:
    from autograder.report import lms

    done = lms.export(out, targets, dest, roster=roster, points=points, worksheet=worksheet,
                      language=language, assignment=assignment, assignment_id=assignment_id)
    for note in done.notes:
        print(f"NOTE {note}")
    for f in done.files:
        print(f"export: {f}")
    left: dict[str, list[tuple[str, str]]] = {}
    for sid, target, why in done.left_out:
        left.setdefault(sid, []).append((target, why))
    if left:
        print(f"not exported (no number written; decide these yourself): {len(left)} student(s), "
              f"listed in {done.not_exported}")
        for sid, items in sorted(left.items()):
            whys = dict.fromkeys(why for _, why in items)
            print(f"  {sid} [{', '.join(t for t, _ in items)}]: {' | '.join(whys)}")
    else:
        print(f"every student carries a grade; {done.not_exported} is empty")


def add_adjust(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("adjust", help="change one student's score by hand, with a reason (kept through "
                       "every regrade, shown in the feedback and every export)",
                       description="Set one question's score (--question Q) or the total of a graded "
                       "student to --points N, with --reason; --remove takes it back. The class's grade "
                       "sheet, feedback and report are written again; export again for the LMS.")
    a.add_argument("out", help="the class folder (grade's --out)")
    a.add_argument("student_id", help="the student, as grades.csv names them")
    a.add_argument("--question", default="", help="the question whose score this sets (default: the total)")
    what = a.add_mutually_exclusive_group(required=True)
    what.add_argument("--points", type=float, help="the score it gets")
    what.add_argument("--remove", action="store_true", help="take the adjustment back")
    a.add_argument("--reason", default="", help="why (needed with --points): the student reads it")
    a.add_argument("--slug", default=SLUG, help="assignment (default: %(default)s)")
    a.set_defaults(func=cmd_adjust)


def cmd_adjust(args: argparse.Namespace) -> int:
    from autograder.report.adjust import adjust

    done = adjust(Path(args.out), args.slug, args.student_id, args.question, args.points, args.reason,
                  remove=args.remove)
    print(f"{done}; grades.csv, feedback and report.html written again in {args.out} "
          "(export again to send it to the LMS)")
    return 0
