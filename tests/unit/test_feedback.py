"""A student's feedback page (``report.feedback``): the tests' messages, never the hidden tests' code."""

from __future__ import annotations

from autograder.report import feedback


def test_student_feedback_hides_the_hidden_tests_code():
    """Does the feedback drop the hidden test's source line (the answer) but keep its message?"""
    out = ("q1_model results:\n    q1_model - 1 result:\n        ❌ Test case failed\n"
           "        Error at line 17 in test q1_model:\n"
           "              check_architecture(model, hidden_units=[128], params=101770)\n"
           "        AssertionError: 全結合層のユニット数が [64, 10] です / units [64, 10]\n")
    msg = feedback.student_message(out)
    assert "hidden_units=[128]" not in msg and "Error at line" not in msg
    assert "AssertionError: 全結合層のユニット数が [64, 10] です" in msg and "✘ Test case failed" in msg
