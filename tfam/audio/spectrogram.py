"""Seed 002's spectrogram as a Keras layer on tf.signal, so that gradients reach the waveform.

    waveform (B, 32000) at 8 kHz
      -> samples 8000:24000 (seconds 1-3)
      -> power spectrogram, NFFT 256, overlap 128, Hann window: 129 bins x 124 frames
      -> every 10th frame: 129 x 13
      -> per frequency row, values below row max / 50 set to zero
      -> z-score over the whole spectrogram (the seed meant one; its code had a precedence slip)
      -> (B, 129, 13, 1)

The same function makes the inputs of the spectrogram front end (train.py computes it in tf.data),
so both front ends see identical numbers.
"""

import keras
import tensorflow as tf

SAMPLE_RATE = 8000
SAMPLES = 32000  # the 4 s clips the seed's models take
START, STOP = 8000, 24000
NFFT, HOP, FRAME_STRIDE = 256, 128, 10
FLOOR = 1.0 / 50.0
BINS = NFFT // 2 + 1
FRAMES = ((STOP - START - NFFT) // HOP + 1 + FRAME_STRIDE - 1) // FRAME_STRIDE
SHAPE = (BINS, FRAMES, 1)  # (129, 13, 1)


def power_spectrogram(waveform, nfft=NFFT, hop=HOP):
    """(B, samples) -> (B, frequency bins, frames) power, periodic Hann window, no padding."""
    stft = tf.signal.stft(
        waveform,
        frame_length=nfft,
        frame_step=hop,
        fft_length=nfft,
        window_fn=tf.signal.hann_window,
        pad_end=False,
    )
    power = tf.math.real(stft) ** 2 + tf.math.imag(stft) ** 2
    return tf.transpose(power, [0, 2, 1])


def seed_spectrogram(
    waveform,
    start=START,
    stop=STOP,
    nfft=NFFT,
    hop=HOP,
    frame_stride=FRAME_STRIDE,
    floor=FLOOR,
    epsilon=1e-6,
):
    """(B, samples) or (B, samples, 1) float waveform -> (B, 129, 13, 1) normalized spectrogram."""
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    if waveform.shape.rank == 3:
        waveform = waveform[..., 0]
    spec = power_spectrogram(waveform[:, start:stop], nfft, hop)[:, :, ::frame_stride]
    row_max = tf.reduce_max(spec, axis=2, keepdims=True)
    spec = tf.where(spec < row_max * floor, tf.zeros_like(spec), spec)
    mean, variance = tf.nn.moments(spec, axes=[1, 2], keepdims=True)
    # sqrt(variance + eps): finite gradient for a silent input (variance 0)
    spec = (spec - mean) / tf.sqrt(variance + epsilon)
    return spec[..., None]


@keras.saving.register_keras_serializable(package="tfam")
class SeedSpectrogram(keras.layers.Layer):
    """Keras layer computing :func:`seed_spectrogram`; its settings are saved with the model."""

    is_frontend = (
        True  # attribution splits a waveform model here (and needs no import of this module)
    )
    sample_rate = SAMPLE_RATE  # the rate seed 002's spectrogram settings assume (tfam inspect)

    def __init__(
        self,
        start=START,
        stop=STOP,
        nfft=NFFT,
        hop=HOP,
        frame_stride=FRAME_STRIDE,
        floor=FLOOR,
        **kwargs,
    ):
        # tf.signal's FFTs have no bfloat16 kernels: a front end computes in float32 under a
        # mixed-precision policy too (the layers after it take bfloat16 again)
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.settings = dict(
            start=start, stop=stop, nfft=nfft, hop=hop, frame_stride=frame_stride, floor=floor
        )

    def call(self, waveform):
        return seed_spectrogram(waveform, **self.settings)

    def heard_span(self, samples):
        """(start, stop): the samples of a ``samples``-long input that its frames read (tfam.audio.heard)."""
        s = self.settings
        stop = min(s["stop"], samples)
        frames = (stop - s["start"] - s["nfft"]) // s["hop"] + 1
        last = (frames - 1) // s["frame_stride"] * s["frame_stride"]  # the last frame kept
        return s["start"], s["start"] + last * s["hop"] + s["nfft"]

    def compute_output_shape(self, input_shape):
        s = self.settings
        frames = (s["stop"] - s["start"] - s["nfft"]) // s["hop"] + 1
        return (input_shape[0], s["nfft"] // 2 + 1, -(-frames // s["frame_stride"]), 1)

    def get_config(self):
        return {**super().get_config(), **self.settings}
