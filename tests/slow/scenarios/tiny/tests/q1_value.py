from otter.test_files import test_case

OK_FORMAT = False

name = "q1_value"
points = 2

@test_case(points=2, hidden=False)
def test_value(x):
    assert x == 1, "x は 1 です / x must be 1"
