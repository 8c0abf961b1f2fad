from otter.test_files import test_case

OK_FORMAT = False

name = "q1_scale"
points = 1

@test_case(points=0, hidden=False, 
    success_message="答えの形式（型・範囲）は大丈夫です。正しいかどうかは提出後に採点されます / The form of your answer (type, range) is fine; whether it is right is graded after you submit.")
def test_scale_form(train_images, test_images):
    import numpy as np
    for name, x in (('train_images', train_images), ('test_images', test_images)):
        assert hasattr(x, 'shape') and hasattr(x, 'dtype'), f'{name} が配列ではありません。... を書き換えましたか / {name} is not an array: did you replace the ...?'
        assert tuple(x.shape[1:]) == (28, 28), f'{name} の形が {x.shape} です / {name} has shape {x.shape}'
        lo, hi = (float(np.min(x)), float(np.max(x)))
        assert 0.0 <= lo and hi <= 1.0, f'{name} の値が {lo:g}〜{hi:g} です。255 で割って 0〜1 にしてください / {name} ranges over {lo:g}..{hi:g}: divide by 255 to get 0..1'
        assert hi > 0.5, f'{name} の最大値が {hi:g} です。255 で 2 回割っていませんか / the largest value of {name} is {hi:g}: did you divide by 255 twice?'

