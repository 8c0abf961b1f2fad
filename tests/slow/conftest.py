"""The slow tier grades with the tiny fake autograder (``tests/tiny.py``; the fixture ``tiny_zip``
is shared with the unit tier in ``tests/conftest.py``)."""
