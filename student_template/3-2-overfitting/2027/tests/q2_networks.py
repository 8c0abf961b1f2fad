from otter.test_files import test_case

OK_FORMAT = False

name = "q2_networks"
points = 2

@test_case(points=0, hidden=False)
def test_networks_form(build_network):
    from tensorflow import keras
    assert callable(build_network), 'build_network は関数です / build_network must be a function'
    net = build_network(4)
    assert isinstance(net, keras.Model), 'build_network はモデルを返してください / build_network must return a Keras model'
    assert net.output_shape == (None, 10), f'出力は 10 クラス / the output must have 10 classes (got {net.output_shape})'

