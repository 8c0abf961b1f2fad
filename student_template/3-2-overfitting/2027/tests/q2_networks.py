from otter.test_files import test_case

OK_FORMAT = False

name = "q2_networks"
points = 2

@test_case(points=0, hidden=False, 
    success_message="答えの形式（型・範囲）は大丈夫です。正しいかどうかは提出後に採点されます / The form of your answer (type, range) is fine; whether it is right is graded after you submit.")
def test_networks_form(build_network):
    from tensorflow import keras
    assert callable(build_network), 'build_network は関数です / build_network must be a function'
    net = build_network(4)
    assert isinstance(net, keras.Model), 'build_network はモデルを返してください / build_network must return a Keras model'
    assert net.output_shape == (None, 10), f'出力の形が {net.output_shape} です。10 クラスにしてください / the output has shape {net.output_shape}: it must have 10 classes'
    act = getattr(net.layers[-1], 'activation', None)
    name = getattr(act, '__name__', str(act))
    assert name == 'softmax', f"出力層の活性化関数が {name} です。Dense(10, activation='softmax') にしてください / the output layer's activation is {name}: use Dense(10, activation='softmax')"

