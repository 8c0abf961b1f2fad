from otter.test_files import test_case

OK_FORMAT = False

name = "q1_predict"
points = 2

@test_case(points=0, hidden=False, 
    success_message="答えの形式（型・範囲）は大丈夫です。正しいかどうかは提出後に採点されます / The form of your answer (type, range) is fine; whether it is right is graded after you submit.")
def test_predict_form(predictions, predicted_label_0):
    import numpy as np
    assert isinstance(predictions, np.ndarray), 'predictions は model.predict の結果（配列）です / predictions must be the array model.predict returns'
    assert isinstance(predicted_label_0, (int, np.integer)) and (not isinstance(predicted_label_0, bool)), 'predicted_label_0 は整数にしてください / predicted_label_0 must be a whole number'
    assert 0 <= predicted_label_0 <= 9, 'クラス番号は 0〜9 です / class numbers are 0..9'

