"""Seed 002's four-conv UrbanSound8K CNN, and a second architecture to test transferability.

Two front ends: "spectrogram" takes the seed's 129x13x1 input; "waveform" takes 4 s of 8 kHz
audio (32000 samples in [-1, 1]) and computes the same spectrogram inside the model, so that AM and
deep dream can optimize the waveform itself.
"""

import keras
from keras import layers

from tfam.audio import spectrogram

SAMPLES = spectrogram.SAMPLES
FRONTENDS = ("spectrogram", "waveform")
# The frozen graph's nodes (seed 002 read its logits from fc2/fully_connected/fc_out).
INPUT_NODE, OUTPUT_NODE = "input", "fc2/fully_connected/fc_out"


def _front_end(frontend):
    if frontend == "spectrogram":
        inputs = keras.Input(spectrogram.SHAPE, name="spectrogram")
        return inputs, inputs
    if frontend == "waveform":
        inputs = keras.Input((SAMPLES,), name="waveform")
        return inputs, spectrogram.SeedSpectrogram(name="spectrogram")(inputs)
    raise ValueError(f"unknown front end '{frontend}'; choose one of: {', '.join(FRONTENDS)}")


def urbansound_cnn(n_classes=9, frontend="spectrogram", width=1.0, dropout=0.5):
    """conv1 64, conv2 128, pool1, dropout, conv3 256, conv4 512, pool2, flatten, fc1 2048, dropout,
    fc2 (linear logits). 3x3 convs and 2x2 pools, SAME padding, leaky ReLU 0.2 (Keras's default
    slope), dropout rate 0.5 (the seed's keep 0.5). ``width`` scales every conv and fc1 (the seed's
    model is width 1: 138 M weights, most in fc1; the demo and tests train narrower ones)."""

    def units(n):
        return max(1, int(round(n * width)))

    inputs, x = _front_end(frontend)
    x = layers.Conv2D(units(64), 3, padding="same", activation="leaky_relu", name="conv1")(x)
    x = layers.Conv2D(units(128), 3, padding="same", activation="leaky_relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, padding="same", name="pool1")(x)
    x = layers.Dropout(dropout, name="dropout1")(x)
    x = layers.Conv2D(units(256), 3, padding="same", activation="leaky_relu", name="conv3")(x)
    x = layers.Conv2D(units(512), 3, padding="same", activation="leaky_relu", name="conv4")(x)
    x = layers.MaxPooling2D(2, padding="same", name="pool2")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(units(2048), activation="leaky_relu", name="fc1")(x)
    x = layers.Dropout(dropout, name="dropout2")(x)
    outputs = layers.Dense(n_classes, name="fc2")(x)
    return keras.Model(inputs, outputs, name=f"urbansound_cnn_{frontend}")


def urbansound_timepool_cnn(n_classes=9, frontend="waveform", width=1.0, dropout=0.3):
    """Another architecture on the same front end, for transferability: three conv blocks (5x5
    then 3x3 kernels, batch norm, ReLU, max pool over frequency only), then the mean over time
    (what sounds, not when) and one dense layer to the logits; 30x fewer weights than the seed's."""

    def units(n):
        return max(1, int(round(n * width)))

    inputs, x = _front_end(frontend)
    for i, (filters, kernel) in enumerate(((32, 5), (64, 3), (128, 3)), start=1):
        x = layers.Conv2D(units(filters), kernel, padding="same", use_bias=False, name=f"conv{i}")(
            x
        )
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)  # 0.9: settles in short runs
        x = layers.ReLU(name=f"relu{i}")(x)
        x = layers.MaxPooling2D((2, 1), padding="same", name=f"pool{i}")(x)
    x = layers.AveragePooling2D((1, x.shape[2]), name="time_mean")(
        x
    )  # no Lambda: safe_mode loads it
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = layers.Dense(n_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=f"urbansound_timepool_cnn_{frontend}")


ARCHITECTURES = {"seed002": urbansound_cnn, "timepool": urbansound_timepool_cnn}
