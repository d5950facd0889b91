"""The MNIST CNN of seed 004 (keras-vis activation maximization notebook)."""

import keras
from keras import layers


def mnist_cnn(n_classes=10, input_shape=(28, 28, 1)):
    """Conv 9@5x5 -> pool -> conv 9@5x5 -> pool -> conv 16@3x3 -> pool -> dense 25 -> dense softmax.

    The output layer is named ``predictions`` and ends in softmax as in the seed; tfam swaps it for
    linear on a copy when a class is dreamed.
    """
    inputs = keras.Input(input_shape, name="image")
    x = layers.Conv2D(9, 5, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Conv2D(9, 5, padding="same", activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv3")(x)
    x = layers.MaxPooling2D(2, name="pool3")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(25, activation="relu", name="fc1")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="mnist_cnn")


def train_mnist_cnn(
    model, x, y, epochs=10, batch_size=128, seed=0, verbose=0, validation_data=None
):
    """Train as the seed did: RMSprop, sparse categorical cross-entropy."""
    keras.utils.set_random_seed(seed)
    model.compile(
        optimizer=keras.optimizers.RMSprop(),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model.fit(
        x, y, epochs=epochs, batch_size=batch_size, verbose=verbose, validation_data=validation_data
    )
