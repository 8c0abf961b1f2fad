from otter.test_files import test_case

OK_FORMAT = False

name = "q1_model"
points = 3

@test_case(points=0, hidden=False, 
    success_message="答えの形式（型・範囲）は大丈夫です。正しいかどうかは提出後に採点されます / The form of your answer (type, range) is fine; whether it is right is graded after you submit.")
def test_model_form(model):
    from tensorflow import keras
    assert isinstance(model, keras.Model), 'model が Keras のモデルではありません。... を層に書き換えましたか / model is not a Keras model: did you replace the ... with layers?'
    assert model.output_shape == (None, 10), f'出力の形が {model.output_shape} です。10 クラスの確率にしてください / the output has shape {model.output_shape}: it must be 10 class probabilities'
    act = getattr(model.layers[-1], 'activation', None)
    name = getattr(act, '__name__', str(act))
    assert name == 'softmax', f"出力層の活性化関数が {name} です。Dense(10, activation='softmax') にしてください / the output layer's activation is {name}: use Dense(10, activation='softmax')"

