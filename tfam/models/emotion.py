"""Seed 000's speech-emotion classifiers (neutral, happy, sad, angry), on log-mel crops and on raw
audio. Both end in linear logits named ``logits``."""

import keras
from keras import layers

from tfam.models.parts import units

N_CLASSES = 4
MEL_SHAPE = (80, 160, 1)  # 80 mel bands x 160 frames, scaled to [0, 1]
RAW_SAMPLES = 32768  # about 1.5 s at 22050 Hz, in [-1, 1]


def emotion_mel_cnn(n_classes=N_CLASSES, input_shape=MEL_SHAPE, width=1.0):
    """The seed's best mel classifier (test accuracy 0.915): conv 64 (11x11), then three blocks of
    conv 3x3, max pool 2, batch norm, ReLU (128, 256, 512), global average pool, linear."""
    inputs = keras.Input(input_shape, name="mel")
    x = layers.Conv2D(units(64, width), 11, padding="same", name="conv1")(inputs)
    for i, filters in enumerate((128, 256, 512), start=2):
        x = layers.Conv2D(units(filters, width), 3, padding="same", name=f"conv{i}")(x)
        x = layers.MaxPooling2D(2, padding="same", name=f"pool{i}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)  # 0.9: settles in short runs
        x = layers.ReLU(name=f"relu{i}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(n_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="emotion_mel_cnn")


def emotion_raw_cnn(
    n_classes=N_CLASSES,
    samples=RAW_SAMPLES,
    width=1.0,
    residual_channels=32,
    stacks=2,
    dilations=None,
):
    """The seed's raw-audio classifier (test accuracy about 0.87): a WaveNet-style stack of gated,
    dilated 1-D convolutions (dilations 1..512, ``stacks`` times: the seed's twice) with residual
    and skip connections, then three blocks of conv + max pool 8 (16, 32, 64 channels), flatten,
    linear. ``dilations``: the rates of the dilated layers instead of ``stacks`` of 1..512."""
    if dilations is None:
        dilations = tuple(2**i for i in range(10)) * stacks
    channels = units(residual_channels, width)
    inputs = keras.Input((samples,), name="waveform")
    x = layers.Reshape((samples, 1), name="samples")(inputs)
    x = layers.Conv1D(channels, 1, name="stem")(x)
    skips = []
    for i, rate in enumerate(dilations):
        # gated activation unit (WaveNet): tanh(filter) * sigmoid(gate)
        f = layers.Conv1D(
            channels,
            2,
            dilation_rate=rate,
            padding="causal",
            activation="tanh",
            name=f"dilated{i}_filter",
        )(x)
        g = layers.Conv1D(
            channels,
            2,
            dilation_rate=rate,
            padding="causal",
            activation="sigmoid",
            name=f"dilated{i}_gate",
        )(x)
        h = layers.Multiply(name=f"dilated{i}_gated")([f, g])
        skips.append(layers.Conv1D(channels, 1, name=f"dilated{i}_skip")(h))
        x = layers.Add(name=f"dilated{i}_residual")(
            [x, layers.Conv1D(channels, 1, name=f"dilated{i}_out")(h)]
        )
    x = layers.ReLU(name="skips_relu")(layers.Add(name="skips")(skips))
    for i, filters in enumerate((16, 32, 64), start=1):
        x = layers.Conv1D(
            units(filters, width), 3, padding="same", activation="relu", name=f"conv{i}"
        )(x)
        x = layers.MaxPooling1D(8, padding="same", name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(n_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name="emotion_raw_cnn")
