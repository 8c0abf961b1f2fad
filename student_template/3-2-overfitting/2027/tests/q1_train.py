from otter.test_files import test_case

OK_FORMAT = False

name = "q1_train"
points = 1

@test_case(points=0, hidden=False, 
    success_message="答えの形式（型・範囲）は大丈夫です。正しいかどうかは提出後に採点されます / The form of your answer (type, range) is fine; whether it is right is graded after you submit.")
def test_train_form(history):
    assert hasattr(history, 'history') and 'accuracy' in history.history, 'history には model.fit(...) の結果を入れてください / history must hold what model.fit(...) returns'

