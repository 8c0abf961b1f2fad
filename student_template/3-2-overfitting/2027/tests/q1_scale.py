from otter.test_files import test_case

OK_FORMAT = False

name = "q1_scale"
points = 1

@test_case(points=0, hidden=False)
def test_scale_form(train_images, test_images):
    import numpy as np
    for name, x in (('train_images', train_images), ('test_images', test_images)):
        assert hasattr(x, 'shape') and hasattr(x, 'dtype'), f'{name} が配列ではありません / {name} is not an array: did you replace the ...?'
        assert tuple(x.shape[1:]) == (28, 28), f'{name} の形が違います / {name} has shape {x.shape}'

