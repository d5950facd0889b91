"""WaveGAN (Donahue et al. 2019): a raw-waveform generator and its critic, for WGAN-GP training.

    generator      z (100) [+ label] -> dense 16 x 1024 -> ReLU
                   -> upconv1..upconvK: Conv1DTranspose kernel 25 stride 4 (512, 256, 128, 64, then 1
                      channel), ReLU between -> tanh -> (B, samples) in [-1, 1]
    discriminator  (B, samples) [+ label] -> conv1..convK: Conv1D kernel 25 stride 4 (64 ... 1024),
                   leaky ReLU 0.2, phase shuffle after all but the last -> flatten -> dense -> 1

``samples`` = 16 x 4^K; 16384 (1 s at 16 kHz) gives WaveGAN's K = 5 layers. For other lengths the
depth follows K and the channels keep the paper's ladder: the last hidden layer has 64 x width
channels and each layer nearer the dense has twice as many (K = 4: dense 16 x 512, 256, 128, 64).
``width`` scales every channel count (width 1/16 trains on a CPU).

Conditional models (``n_classes`` given) take a second input "label" (int class index, shape (B,)):
the generator embeds it (Embedding n_classes -> latent_dim) and concatenates it with z; the
discriminator is a projection discriminator (Miyato & Koyama 2018): critic = dense(features) +
<embedding(label), features>, the features being the flattened last conv block. Projection keeps
the critic a plain function of the input for every label, which suits the gradient penalty, and it
adds no input channel that the first convolution would have to learn to ignore.
"""

import math

import keras
from keras import layers

from tfam.models.parts import generator_inputs, label_input, projection_critic, units

LATENT_DIM = 100
SAMPLES = 16384
SAMPLE_RATE = 16000
KERNEL, STRIDE, START_LENGTH = 25, 4, 16
LEAK = 0.2


def upsampling_layers(samples):
    """K such that samples = 16 x 4^K; a clear error for any other length."""
    k = round(math.log(max(samples, 1) / START_LENGTH, STRIDE)) if samples >= START_LENGTH else -1
    if k < 1 or START_LENGTH * STRIDE**k != samples:
        valid = ", ".join(str(START_LENGTH * STRIDE**i) for i in range(1, 7))
        raise ValueError(f"WaveGAN needs samples = 16 x 4^k (k >= 1): {valid}, ...; got {samples}")
    return k


@keras.saving.register_keras_serializable(package="tfam")
class PhaseShuffle(keras.layers.Layer):
    """WaveGAN's phase shuffle: while training, shift (B, time, channels) in time by a random integer
    in [-n, n], filling the edge by reflection (no new values, no zeros), so that the critic cannot
    judge by the phase of periodic artifacts. Identity at inference.

    One shift per call (per batch and layer), as WaveGAN's own code does: a pad and a slice. A shift
    per example (a gather, or masked sums of the 2n + 1 views) made a WGAN-GP critic update 1.5-4x
    slower on CPU, the penalty's second derivatives being the expensive part."""

    def __init__(self, n=2, seed=None, **kwargs):
        super().__init__(**kwargs)
        if n < 0:
            raise ValueError(f"phase shuffle n must be >= 0, got {n}")
        self.n, self.seed = int(n), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=None):
        if not training or self.n == 0:
            return x
        ops, n = keras.ops, self.n
        shift = keras.random.randint((), -n, n + 1, seed=self.seed_generator)
        padded = ops.pad(x, [[0, 0], [n, n], [0, 0]], mode="reflect")
        # y[t] = x[t - s] = padded[t + n - s]
        return ops.slice(padded, ops.stack([0, n - shift, 0]), ops.shape(x))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "n": self.n, "seed": self.seed}


def wavegan_generator(latent_dim=LATENT_DIM, samples=SAMPLES, width=1.0, n_classes=None):
    """z (B, latent_dim) [and label (B,) int] -> waveform (B, samples) in [-1, 1]."""
    k = upsampling_layers(samples)
    inputs, x = generator_inputs(latent_dim, n_classes)
    channels = units(64 * 2 ** (k - 1), width)  # 1024 x width for K = 5
    x = layers.Dense(START_LENGTH * channels, name="dense")(x)
    x = layers.Reshape((START_LENGTH, channels), name="reshape")(x)
    x = layers.ReLU(name="relu0")(x)
    for i in range(1, k + 1):
        last = i == k
        filters = 1 if last else units(64 * 2 ** (k - 1 - i), width)
        x = layers.Conv1DTranspose(
            filters, KERNEL, strides=STRIDE, padding="same", name=f"upconv{i}"
        )(x)
        x = layers.Activation("tanh", name="tanh")(x) if last else layers.ReLU(name=f"relu{i}")(x)
    outputs = layers.Reshape((samples,), name="waveform")(x)
    return keras.Model(inputs, outputs, name="wavegan_generator")


def wavegan_discriminator(samples=SAMPLES, width=1.0, n_classes=None, phase_shuffle=2):
    """waveform (B, samples) [and label (B,) int] -> critic score (B, 1), unbounded (WGAN)."""
    k = upsampling_layers(samples)
    waveform = keras.Input((samples,), name="waveform")
    label = label_input(n_classes)
    x = layers.Reshape((samples, 1), name="channels")(waveform)
    for i in range(1, k + 1):
        x = layers.Conv1D(
            units(64 * 2 ** (i - 1), width), KERNEL, strides=STRIDE, padding="same", name=f"conv{i}"
        )(x)
        x = layers.LeakyReLU(LEAK, name=f"lrelu{i}")(x)
        if i < k and phase_shuffle:
            x = PhaseShuffle(phase_shuffle, name=f"phase_shuffle{i}")(x)
    features = layers.Flatten(name="flatten")(x)
    outputs = projection_critic(features, label, n_classes)
    inputs = [waveform, label] if label is not None else waveform
    return keras.Model(inputs, outputs, name="wavegan_discriminator")
