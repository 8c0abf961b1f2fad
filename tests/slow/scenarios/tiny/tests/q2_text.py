from otter.test_files import test_case

OK_FORMAT = False

name = "q2_text"
points = 1

@test_case(points=1, hidden=False)
def test_text(word):
    assert word == "overfitting", "word が違います / word is not the expected one"
