"""Auto-graded assignment kit for exercise 3-2: image classification by AI, and overfitting.

The package is laid out by pipeline stage: ``data`` (offline Fashion-MNIST), ``curves``
(pure learning-curve analysis), ``readings`` (grading of the answers read from curves),
``publish`` (master notebook -> student/solution/autograder), ``grade`` (grading with
otter-grader), ``cli`` (the command line).
"""

__version__ = "0.1.0"
