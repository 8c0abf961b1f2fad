from otter.test_files import test_case

OK_FORMAT = False

name = "q3_dropout"
points = 2

@test_case(points=0, hidden=False)
def test_dropout_form(build_dropout_network):
    from tensorflow import keras
    net = build_dropout_network(8, 0.5)
    assert isinstance(net, keras.Model), 'build_dropout_network はモデルを返してください / it must return a Keras model'

