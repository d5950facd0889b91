"""Parameterizations of a waveform for sound dreams, beside tfam.params' direct and Fourier ones.

- ``stft``: the short-time spectrum (real and imaginary parts of an STFT, scaled by 1/f like lucid's
  Fourier one) made into a waveform by the inverse STFT inside the graph: neighbouring samples and
  neighbouring frames are decorrelated, and a sound is built from frames as a listener hears it.
- ``maco``: magnitude-constrained (MACO, Fel et al. 2023): the magnitude spectrum is fixed (a 1/f
  profile, pink, or the mean magnitude of real clips of the class) and only the phase is optimized,
  so the dream keeps a natural spectrum and the model can steer only where things happen.

Both give the waveform at a fixed loudness (``rms``, measured over the ``heard`` span), silent
outside that span and with nothing above ``cutoff_hz``: the projections of the direct recipe
(silence_outside, low_pass, loudness_bound) cannot act on these parameters, so the
parameterization itself holds them.
"""

import numpy as np
import tensorflow as tf

from tfam.params import Parameterization
from tfam.regularizers import span_mask


def _finish(wave, samples, rms, heard, fade):
    """(B, samples) waveforms silent outside ``heard`` and scaled to RMS ``rms`` over it."""
    start, stop = (0, samples) if heard is None else heard
    mask = tf.constant(span_mask(samples, start, stop, fade))
    wave = wave * mask
    level = tf.sqrt(tf.reduce_mean(tf.square(wave[:, start:stop]), axis=1, keepdims=True))
    return wave * (rms / (level + 1e-8))


def _as_input(wave, layout):
    return wave if layout.channel_axis is None else wave[..., None]


def _check_waveform(input_shape, layout):
    if layout.spatial_rank != 1 or (layout.channel_axis is not None and input_shape[-1] != 1):
        raise ValueError(
            f"sound parameterizations make one waveform (samples,) or (samples, 1), not "
            f"{tuple(input_shape)}"
        )
    return int(input_shape[0])


class Stft(Parameterization):
    """Optimize an STFT (frames of ``frame`` samples every ``hop``); the input is its inverse."""

    def __init__(
        self,
        sample_rate,
        frame=256,
        hop=128,
        rms=0.1,
        heard=None,
        cutoff_hz=None,
        decay_power=1.0,
        sd=0.01,
        fade=40,
    ):
        if int(frame) % int(hop):
            raise ValueError(f"the frame ({frame}) must be a whole number of hops ({hop})")
        self._set(
            sample_rate=float(sample_rate),
            frame=int(frame),
            hop=int(hop),
            rms=float(rms),
            heard=None if heard is None else (int(heard[0]), int(heard[1])),
            cutoff_hz=None if cutoff_hz is None else float(cutoff_hz),
            decay_power=float(decay_power),
            sd=float(sd),
            fade=int(fade),
        )

    def _segment(self, samples):
        """(first, stop): the whole hops that cover the heard span (or the input). Frames that
        reach no heard sample would be silenced anyway: leaving them out halved the inverse STFT,
        its gradient and the optimizer's state for seed 002's model (it hears 1.95 s of 4)."""
        start, stop = (0, samples) if self.heard is None else self.heard
        return start // self.hop * self.hop, -(-stop // self.hop) * self.hop

    def _frames(self, samples):
        # every sample under frame // hop frames: frame // hop - 1 frames of lead-in and of tail
        first, stop = self._segment(samples)
        return (stop - first) // self.hop + self.frame // self.hop - 1

    def _bins(self):
        """The bins at or below the cutoff: those above it are always zero, so they are not
        optimized either."""
        bins = np.arange(self.frame // 2 + 1)
        if self.cutoff_hz is None:
            return len(bins)
        return int(np.sum(bins * self.sample_rate / self.frame <= self.cutoff_hz))

    def _scale(self):
        return (1.0 / np.maximum(np.arange(self._bins()), 1.0) ** self.decay_power).astype(
            np.float32
        )

    def shape(self, input_shape, layout):
        samples = _check_waveform(input_shape, layout)
        return (self._frames(samples), self._bins(), 2)

    def init(self, batch, input_shape, layout, rng):
        shape = (batch,) + self.shape(input_shape, layout)
        return (self.sd * rng.standard_normal(shape)).astype(np.float32)

    def synthesize(self, params, input_shape, layout):
        samples = int(input_shape[0])
        first, stop = self._segment(samples)
        spectrum = tf.complex(params[..., 0], params[..., 1]) * tf.cast(self._scale(), tf.complex64)
        above = self.frame // 2 + 1 - self._bins()
        spectrum = tf.pad(spectrum, [[0, 0], [0, 0], [0, above]])
        window = tf.signal.inverse_stft_window_fn(self.hop, tf.signal.hann_window)
        wave = tf.signal.inverse_stft(spectrum, self.frame, self.hop, self.frame, window)
        # the first frames start before the segment: frame // hop - 1 extra frames of lead-in
        lead = self.frame - self.hop
        wave = wave[:, lead : lead + min(stop, samples) - first]
        return tf.pad(wave, [[0, 0], [first, max(samples - stop, 0)]])

    def finish(self, signal, input_shape, layout):
        wave = _finish(signal, int(input_shape[0]), self.rms, self.heard, self.fade)
        return _as_input(wave, layout)


def pink_magnitude(samples):
    """(samples // 2 + 1,) the magnitude spectrum of pink noise (power 1/f), DC removed."""
    magnitude = 1.0 / np.sqrt(np.maximum(np.arange(samples // 2 + 1), 1.0))
    magnitude[0] = 0.0
    return magnitude.astype(np.float32)


def mean_magnitude(clips):
    """(samples // 2 + 1,) the mean magnitude spectrum of (N, samples) clips (each at unit RMS)."""
    clips = np.asarray(clips, np.float64)
    clips = clips / (np.sqrt(np.mean(clips**2, axis=1, keepdims=True)) + 1e-12)
    return np.mean(np.abs(np.fft.rfft(clips, axis=1)), axis=0).astype(np.float32)


class Maco(Parameterization):
    """Optimize the phase of a fixed magnitude spectrum (samples // 2 + 1 bins, one for every row
    or one per row as (rows, bins)); the input is the inverse FFT."""

    def __init__(self, sample_rate, magnitude=None, rms=0.1, heard=None, cutoff_hz=None, fade=40):
        magnitude = None if magnitude is None else np.array(magnitude, np.float32)
        self._set(
            sample_rate=float(sample_rate),
            magnitude=magnitude,
            rms=float(rms),
            heard=None if heard is None else (int(heard[0]), int(heard[1])),
            cutoff_hz=None if cutoff_hz is None else float(cutoff_hz),
            fade=int(fade),
        )

    def _magnitude(self, samples):
        magnitude = pink_magnitude(samples) if self.magnitude is None else self.magnitude
        if magnitude.shape[-1] != samples // 2 + 1:
            raise ValueError(
                f"the magnitude has {magnitude.shape[-1]} bins; a waveform of {samples} samples "
                f"has {samples // 2 + 1}"
            )
        if self.cutoff_hz is not None:
            freqs = np.arange(samples // 2 + 1) * self.sample_rate / samples
            magnitude = np.where(freqs > self.cutoff_hz, 0.0, magnitude).astype(np.float32)
        return magnitude

    def shape(self, input_shape, layout):
        return (_check_waveform(input_shape, layout) // 2 + 1,)

    def init(self, batch, input_shape, layout, rng):
        return rng.uniform(-np.pi, np.pi, (batch,) + self.shape(input_shape, layout)).astype(
            np.float32
        )

    def synthesize(self, params, input_shape, layout):
        samples = int(input_shape[0])
        magnitude = tf.constant(self._magnitude(samples))
        spectrum = tf.complex(magnitude * tf.cos(params), magnitude * tf.sin(params))
        return tf.signal.irfft(spectrum, fft_length=[samples])

    def finish(self, signal, input_shape, layout):
        wave = _finish(signal, int(input_shape[0]), self.rms, self.heard, self.fade)
        return _as_input(wave, layout)


stft = Stft
maco = Maco
