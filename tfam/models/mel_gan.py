"""Seed 000's GAN prior on log-mel spectrograms: a generator of 80 x 160 mels scaled to [0, 1] and
its critic, for WGAN-GP training.

    generator      z (512) [+ label] -> dense 5 x 10 x 512 -> batch norm -> leaky ReLU 0.2
                   -> upconv1..upconv3: Conv2DTranspose 5x5 stride 2 (256, 128, 64), batch norm,
                      leaky ReLU 0.2 -> upconv4: Conv2DTranspose 5x5 stride 2 (1) -> sigmoid
                   -> mel (B, n_mels, frames, 1) in [0, 1]
    discriminator  mel (B, n_mels, frames, 1) [+ label] -> conv1..conv4: Conv2D 5x5 stride 2
                   (64, 128, 256, 512), leaky ReLU 0.2 -> flatten -> dense -> 1

Four stride-2 layers: n_mels and frames must be multiples of 16 (80 x 160 starts from 5 x 10).
``width`` scales every channel count. The critic has no batch norm (the gradient penalty is per
example). Conditional models (``n_classes`` given) take a second input "label" (int, shape (B,)):
the generator concatenates an embedding of it (n_classes -> latent_dim) with z; the discriminator
is a projection discriminator (critic = dense(features) + <embedding(label), features>), as in
tfam.models.wavegan.
"""

import keras
from keras import layers

from tfam.models.parts import generator_inputs, label_input, projection_critic, units

LATENT_DIM = 512
N_MELS, FRAMES = 80, 160
KERNEL, LAYERS = 5, 4
LEAK = 0.2


def _check_shape(n_mels, frames):
    step = 2**LAYERS
    if n_mels < step or frames < step or n_mels % step or frames % step:
        raise ValueError(
            f"the mel GAN needs n_mels and frames that are multiples of {step}; "
            f"got {n_mels} x {frames}"
        )


def mel_generator(latent_dim=LATENT_DIM, n_mels=N_MELS, frames=FRAMES, width=1.0, n_classes=None):
    """z (B, latent_dim) [and label (B,) int] -> mel (B, n_mels, frames, 1) in [0, 1]."""
    _check_shape(n_mels, frames)
    inputs, x = generator_inputs(latent_dim, n_classes)
    height, length = n_mels // 2**LAYERS, frames // 2**LAYERS
    channels = units(512, width)
    x = layers.Dense(height * length * channels, use_bias=False, name="dense")(x)
    x = layers.Reshape((height, length, channels), name="reshape")(x)
    x = layers.BatchNormalization(name="bn0")(x)
    x = layers.LeakyReLU(LEAK, name="lrelu0")(x)
    for i, filters in enumerate((256, 128, 64), start=1):
        x = layers.Conv2DTranspose(
            units(filters, width),
            KERNEL,
            strides=2,
            padding="same",
            use_bias=False,
            name=f"upconv{i}",
        )(x)
        x = layers.BatchNormalization(name=f"bn{i}")(x)
        x = layers.LeakyReLU(LEAK, name=f"lrelu{i}")(x)
    x = layers.Conv2DTranspose(1, KERNEL, strides=2, padding="same", name=f"upconv{LAYERS}")(x)
    outputs = layers.Activation("sigmoid", name="mel")(x)
    return keras.Model(inputs, outputs, name="mel_generator")


def mel_discriminator(n_mels=N_MELS, frames=FRAMES, width=1.0, n_classes=None):
    """mel (B, n_mels, frames, 1) [and label (B,) int] -> critic score (B, 1), unbounded (WGAN)."""
    _check_shape(n_mels, frames)
    mel = keras.Input((n_mels, frames, 1), name="mel")
    label = label_input(n_classes)
    x = mel
    for i, filters in enumerate((64, 128, 256, 512), start=1):
        x = layers.Conv2D(
            units(filters, width), KERNEL, strides=2, padding="same", name=f"conv{i}"
        )(x)
        x = layers.LeakyReLU(LEAK, name=f"lrelu{i}")(x)
    features = layers.Flatten(name="flatten")(x)
    outputs = projection_critic(features, label, n_classes)
    inputs = [mel, label] if label is not None else mel
    return keras.Model(inputs, outputs, name="mel_discriminator")
