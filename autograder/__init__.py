"""Auto-graded assignment kit for exercise 3-2: image classification by AI, and overfitting.

Laid out by audience and stage (the README's "Architecture"; ``make lint`` checks the rule):
``release`` (the instructor's: versions, render, publish, gate, variants), ``grading`` (the
grader), ``report`` (grade sheet, feedback, class report), ``tools`` (benchmarks, measurements,
the demo); the hidden-test API ``checks``, ``readings``, ``curves``, ``forms``, ``params`` at
the top, where the published autograder zips import them; ``notebook`` and ``catalog`` shared by
release and grading; ``data``, ``paths``, ``errors`` and ``cli`` at the edges.
"""

__version__ = "0.1.0"
