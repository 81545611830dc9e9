import numpy as np
import pytest
import torch

from course_lib import keras_models as km
from course_lib.models import MLP, LeNet5, SmallCNN, count_parameters
from course_lib.tensorflow_setup import load_tensorflow


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


@pytest.mark.parametrize(
    "torch_model, keras_model",
    [
        (lambda: MLP(), lambda: km.keras_mlp(compile=False)),
        (
            lambda: MLP(hidden=(64, 32, 16), num_classes=4, dropout=0.3),
            lambda: km.keras_mlp(hidden=(64, 32, 16), num_classes=4, dropout=0.3, compile=False),
        ),
        (lambda: LeNet5(), lambda: km.keras_lenet5(compile=False)),
        (lambda: SmallCNN(), lambda: km.keras_small_cnn(compile=False)),
        (
            lambda: SmallCNN(num_classes=5, channels=(8, 8, 16)),
            lambda: km.keras_small_cnn(num_classes=5, channels=(8, 8, 16), compile=False),
        ),
    ],
)
def test_twins_have_the_same_parameter_counts_and_output_shapes(torch_model, keras_model):
    t, k = torch_model(), keras_model()
    assert _trainable(k) == count_parameters(t)
    x = torch.rand(3, 1, 28, 28)
    assert tuple(k(km.to_keras_images(x)).shape) == tuple(t(x).shape)


def test_small_cnn_batch_norm_uses_pytorch_settings():
    tf = load_tensorflow()
    bns = [
        layer
        for layer in km.keras_small_cnn(compile=False).layers
        if isinstance(layer, tf.keras.layers.BatchNormalization)
    ]
    assert len(bns) == 3 and all(bn.momentum == pytest.approx(0.9) and bn.epsilon == pytest.approx(1e-5) for bn in bns)


def test_to_keras_images_is_channels_last():
    x = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    out = km.to_keras_images(x)
    assert out.shape == (2, 4, 5, 3) and out.dtype == np.float32 and out.flags["C_CONTIGUOUS"]
    assert out[1, 2, 3, 0] == x[1, 0, 2, 3]
    images, labels = km.keras_mnist(torch.rand(4, 1, 28, 28), torch.tensor([3, 1, 4, 1]))
    assert images.shape == (4, 28, 28, 1) and labels.dtype == np.int64 and labels.tolist() == [3, 1, 4, 1]
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        km.to_keras_images(torch.rand(28, 28))
    with pytest.raises(ValueError, match="4 images, 3 labels"):
        km.keras_mnist(torch.rand(4, 1, 28, 28), torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match="in_features is 784"):
        km.keras_mlp(input_shape=(32, 32, 1))


def test_compiled_keras_mlp_learns():
    tf = load_tensorflow()
    tf.keras.utils.set_random_seed(0)
    from course_lib.data import load_mnist

    images, labels = km.keras_mnist(*load_mnist(train=False, limit=256))
    model = km.keras_mlp(learning_rate=3e-3)
    before = model.evaluate(images, labels, verbose=0)[0]
    model.fit(images, labels, epochs=5, batch_size=64, verbose=0)
    loss, acc = model.evaluate(images, labels, verbose=0)
    assert loss < 0.5 * before and acc > 0.9
