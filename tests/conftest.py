import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Multi-threaded reductions make training differ from run to run in the last bits, and a model
# trained for 20 epochs on 1,437 digits differs enough that a test about it could pass or fail by
# luck. Deterministic kernels make every run of the suite see the same models.
tf.config.experimental.enable_op_determinism()


@pytest.fixture(scope="session")
def digits():
    from tfam.data.digits import embedded_digits
    return embedded_digits()


@pytest.fixture(scope="session")
def digits_cnn(digits):
    """The seed-004 MNIST CNN trained on the embedded digits (about 97% test accuracy)."""
    from tfam.models.mnist_cnn import mnist_cnn, train_mnist_cnn
    (x, y), _ = digits
    model = mnist_cnn()
    train_mnist_cnn(model, x, y, epochs=20, batch_size=32, seed=0)
    return model


@pytest.fixture
def tiny_image_model():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((12, 12, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)  # linear: no dead units
    x = keras.layers.ReLU(name="relu")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8, name="dense")(x)
    x = keras.layers.ReLU()(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs)


@pytest.fixture
def tiny_audio_model():
    keras.utils.set_random_seed(2)
    inputs = keras.Input((256,))
    x = keras.layers.Reshape((256, 1))(inputs)
    x = keras.layers.Conv1D(6, 9, strides=2, padding="same", activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    outputs = keras.layers.Dense(4, name="logits")(x)
    return keras.Model(inputs, outputs)
