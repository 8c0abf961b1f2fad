from otter.test_files import test_case

OK_FORMAT = False

name = "q3_dropout"
points = 2

@test_case(points=0, hidden=False, 
    success_message="答えの形式（型・範囲）は大丈夫です。正しいかどうかは提出後に採点されます / The form of your answer (type, range) is fine; whether it is right is graded after you submit.")
def test_dropout_form(build_dropout_network):
    from tensorflow import keras
    net = build_dropout_network(8, 0.5)
    assert isinstance(net, keras.Model), 'build_dropout_network はモデルを返してください / it must return a Keras model'
    n = sum((isinstance(layer, keras.layers.Dropout) for layer in net.layers))
    assert n == 2, f'Dropout 層が {n} 個です。隠れ層ごとに 1 つ、合わせて 2 つ入れてください / found {n} Dropout layers: put one after each hidden layer, 2 in all'

