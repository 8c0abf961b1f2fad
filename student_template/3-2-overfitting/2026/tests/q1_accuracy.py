from otter.test_files import test_case

OK_FORMAT = False

name = "q1_accuracy"
points = 3

@test_case(points=0, hidden=False, 
    success_message="答えの形式（型・範囲）は大丈夫です。正しいかどうかは提出後に採点されます / The form of your answer (type, range) is fine; whether it is right is graded after you submit.")
def test_accuracy_form(test_acc):
    import numbers
    assert isinstance(test_acc, numbers.Real) and (not isinstance(test_acc, bool)), 'test_acc は数にしてください / test_acc must be a number'
    assert 0.0 <= test_acc <= 1.0, 'test_acc は 0〜1 です / test_acc lies in 0..1'

