"""Facts the tests share, each defined once (the slug itself comes from the kit's catalog)."""

from autograder.catalog import SLUG

VERSION = "2026"  # the plain published version the samples and the corpus come from
VARIANT_VERSION = "2027"  # the published version with per-student variants
#: A fixed test secret (so the two students' seeds, and so the outcome, are reproducible).
COURSE_SECRET = b"test-course-secret-3-2-overfitting-0123456789"

__all__ = ["COURSE_SECRET", "SLUG", "VARIANT_VERSION", "VERSION"]
