from otter.test_files import test_case

OK_FORMAT = False

name = "q1_model"
points = 3

@test_case(points=0, hidden=False)
def test_model_form(model):
    from tensorflow import keras
    assert isinstance(model, keras.Model), 'model が Keras のモデルではありません / model is not a Keras model: did you replace the ... with layers?'
    assert model.output_shape == (None, 10), f'出力は 10 クラスの確率にしてください / the output must be 10 class probabilities (got shape {model.output_shape})'

