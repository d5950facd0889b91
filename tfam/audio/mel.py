"""Seed 000's log-mel front end and a differentiable Griffin-Lim vocoder on tf.signal.

    waveform (B, samples) at 22050 Hz, in [-1, 1]
      -> reflect-pad n_fft//2 on both sides (librosa center=True)
      -> STFT, periodic Hann window 1024, hop 256: magnitude, not power (Tacotron 2 / WaveGlow)
      -> Slaney mel filterbank, 80 bands, 0-8000 Hz, area-normalized (librosa's default)
      -> log(max(x, 1e-5))
      -> (B, 80, frames); 3 s (66150 samples) gives 259 frames, the classifier saw crops of 160

Back to sound (the seed vocoded with a pretrained WaveGlow, which is not available offline):

    log-mel -> exp -> linear magnitude (clamped pseudo-inverse of the filterbank)
      -> fast Griffin-Lim (Perraudin et al. 2013), a fixed number of iterations in the graph
      -> waveform, differentiable with respect to the log-mel

Layouts: log-mel (B, n_mels, frames) like the seed (LogMel adds a trailing channel for Conv2D);
linear magnitudes for Griffin-Lim are (B, frames, bins), the layout of tf.signal.stft.
"""

import functools
import math

import keras
import numpy as np
import tensorflow as tf

SAMPLE_RATE = 22050
N_FFT = 1024
HOP = 256
WIN = 1024
N_MELS = 80
FMIN = 0.0
FMAX = 8000.0
LOG_FLOOR = 1e-5
CLIP_SAMPLES = 3 * SAMPLE_RATE  # 66150
CLIP_FRAMES = CLIP_SAMPLES // HOP + 1  # 259

# Fixed bounds of the [0, 1] scaling (the seed's exact bounds are unknown). The low end is the
# seed's floor. The high end: mel(x) = sum_k w_k |X_k| with |X_k| <= sum of the window = 512, so for
# |x| <= 1 no band exceeds max over bands of (sum of its weights) * 512 = 0.049 * 512 = 25.2;
# log(100) is a round bound that a waveform in [-1, 1] never reaches, and the scaled values stay
# in [0, 1] without clipping (clipping would stop gradients).
LOG_MIN = math.log(LOG_FLOOR)  # -11.51
LOG_MAX = math.log(100.0)  # 4.61

# sqrt(re^2 + im^2 + eps): the gradient of a plain |z| is NaN at z = 0, which happens on the
# zero padding of every seed clip; eps moves a magnitude by at most 1e-6, far below LOG_FLOOR
# after the filterbank (a band's weights sum to < 0.06).
_MAGNITUDE_EPS = 1e-12
# the same guard for Griffin-Lim's phase normalization a / |a| (librosa adds a tiny number)
_PHASE_EPS = 1e-16


# --- Slaney mel scale (librosa.hz_to_mel / mel_to_hz with htk=False) -----------------------------
# linear below 1 kHz (3 mels per 200 Hz), logarithmic above (27 mels per factor 6.4)
_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP  # 15
_LOGSTEP = math.log(6.4) / 27.0


def hz_to_mel(hz):
    """Slaney mel of frequencies in Hz (float64 NumPy)."""
    hz = np.asarray(hz, np.float64)
    linear = hz / _F_SP
    log = _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(hz >= _MIN_LOG_HZ, log, linear)


def mel_to_hz(mel):
    """Inverse of :func:`hz_to_mel`."""
    mel = np.asarray(mel, np.float64)
    linear = mel * _F_SP
    log = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(mel, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(mel >= _MIN_LOG_MEL, log, linear)


def mel_frequencies(n, fmin=FMIN, fmax=FMAX):
    """n frequencies (Hz) evenly spaced on the Slaney mel scale from fmin to fmax inclusive."""
    return mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n))


def mel_matrix(sample_rate=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX):
    """(n_fft//2 + 1, n_mels) float32 filterbank equal to librosa.filters.mel(..., htk=False,
    norm="slaney") transposed, so that mel = magnitude @ mel_matrix().

    Band i is a triangle on the linear-frequency axis from edge i to edge i+2 of n_mels + 2
    frequencies evenly spaced in Slaney mels between fmin and fmax, peaking at edge i+1; Slaney
    normalization scales it by 2 / (edge i+2 - edge i) so every triangle has unit area in Hz
    (roughly constant energy per band). Computed in float64 like librosa, then cast.
    """
    bins = np.arange(n_fft // 2 + 1) * sample_rate / n_fft  # np.fft.rfftfreq
    edges = mel_frequencies(n_mels + 2, fmin, fmax)
    widths = np.diff(edges)
    ramps = edges[:, None] - bins[None, :]  # (n_mels + 2, bins)
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.T.astype(np.float32)


@functools.lru_cache(maxsize=16)
def _basis_and_inverse(sample_rate, n_fft, n_mels, fmin, fmax):
    # cached: eager callers (and every trace) would otherwise rebuild them, pinv especially
    basis = mel_matrix(sample_rate, n_fft, n_mels, fmin, fmax)
    return basis, np.linalg.pinv(basis.astype(np.float64)).astype(np.float32)


# --- analysis -------------------------------------------------------------------------------------
# Framing and overlap-add by reshapes and slices when win is a multiple of hop (always here):
# tf.signal.frame / overlap_and_add are general but cost ~5-10 ms per call in eager mode and make
# tracing Griffin-Lim's loop slow; the slices are plain ops with cheap, deterministic gradients.
@functools.lru_cache(maxsize=None)
def _hann(win):
    # periodic Hann: scipy.signal.get_window("hann", win), which librosa and WaveGlow use
    return (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)).astype(np.float32)


def _dim(x, axis):
    return x.shape[axis] if x.shape[axis] is not None else tf.shape(x)[axis]


def _frame(x, win, hop):
    """(B, samples) -> (B, (samples - win) // hop + 1, win)."""
    if win % hop:
        return tf.signal.frame(x, win, hop)
    r = win // hop
    blocks = _dim(x, 1) // hop
    x = tf.reshape(x[:, : blocks * hop], [_dim(x, 0), blocks, hop])
    return tf.concat([x[:, j : j + blocks - r + 1] for j in range(r)], axis=2)


def _overlap_add(frames, hop):
    """(B, F, win) -> (B, (F - 1) * hop + win), frame t added at t * hop."""
    win = frames.shape[-1]
    if win % hop:
        return tf.signal.overlap_and_add(frames, hop)
    r = win // hop
    batch, count = _dim(frames, 0), _dim(frames, 1)
    parts = tf.reshape(frames, [batch, count, r, hop])
    total = tf.add_n([tf.pad(parts[:, :, j], [[0, 0], [j, r - 1 - j], [0, 0]]) for j in range(r)])
    return tf.reshape(total, [batch, (count + r - 1) * hop])


@functools.lru_cache(maxsize=64)
def _envelope(frames, win, hop):
    """Sum of the squared windows at every sample of a frames-long overlap-add."""
    out = np.zeros((frames - 1) * hop + win, np.float64)
    for t in range(frames):
        out[t * hop : t * hop + win] += _hann(win).astype(np.float64) ** 2
    return out.astype(np.float32)


def frame_count(samples, hop=HOP):
    """Frames of the centred STFT of `samples` samples (librosa center=True)."""
    return samples // hop + 1


def stft(waveform, n_fft=N_FFT, hop=HOP, win=WIN):
    """(B, samples) -> complex64 (B, frames, n_fft//2 + 1), centred like librosa (reflect padding;
    needs samples > win // 2).

    Padding by win//2 (not n_fft//2) centres frame t on sample t*hop when win < n_fft, as librosa
    does by centring the window inside the n_fft frame; the magnitudes are then identical."""
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    padded = tf.pad(waveform, [[0, 0], [win // 2, win // 2]], mode="REFLECT")
    return tf.signal.rfft(_frame(padded, win, hop) * _hann(win), [n_fft])  # zero-pads to n_fft


def _abs(z, eps):
    return tf.sqrt(tf.math.real(z) ** 2 + tf.math.imag(z) ** 2 + eps)


def stft_magnitude(waveform, n_fft=N_FFT, hop=HOP, win=WIN):
    """(B, samples) -> (B, frames, bins) STFT magnitude with a gradient that is finite at zero."""
    return _abs(stft(waveform, n_fft, hop, win), _MAGNITUDE_EPS)


def log_mel(
    waveform,
    sample_rate=SAMPLE_RATE,
    n_fft=N_FFT,
    hop=HOP,
    win=WIN,
    n_mels=N_MELS,
    fmin=FMIN,
    fmax=FMAX,
    floor=LOG_FLOOR,
):
    """(B, samples) or (B, samples, 1) waveform -> (B, n_mels, frames) log(max(mel, floor)),
    the seed's features (mel of the STFT magnitude)."""
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    if waveform.shape.rank == 3:
        waveform = waveform[..., 0]
    basis, _ = _basis_and_inverse(sample_rate, n_fft, n_mels, fmin, fmax)
    mel = tf.matmul(stft_magnitude(waveform, n_fft, hop, win), basis)  # (B, frames, n_mels)
    return tf.transpose(tf.math.log(tf.maximum(mel, floor)), [0, 2, 1])


def to_unit(log_mel_values, low=LOG_MIN, high=LOG_MAX):
    """Log-mel -> [0, 1] with the fixed bounds LOG_MIN (the floor) .. LOG_MAX; not clipped."""
    return (log_mel_values - low) / (high - low)


def from_unit(unit, low=LOG_MIN, high=LOG_MAX):
    """Inverse of :func:`to_unit`: [0, 1] -> log-mel."""
    return unit * (high - low) + low


@keras.saving.register_keras_serializable(package="tfam")
class LogMel(keras.layers.Layer):
    """(B, samples) or (B, samples, 1) -> (B, n_mels, frames, 1) log-mel (channel last for Conv2D),
    optionally mapped to [0, 1] with :func:`to_unit` like the seed's classifier inputs."""

    is_frontend = (
        True  # attribution splits a waveform model here (and needs no import of this module)
    )

    def __init__(
        self,
        sample_rate=SAMPLE_RATE,
        n_fft=N_FFT,
        hop=HOP,
        win=WIN,
        n_mels=N_MELS,
        fmin=FMIN,
        fmax=FMAX,
        floor=LOG_FLOOR,
        scale_to_unit=False,
        **kwargs,
    ):
        # tf.signal's FFTs have no bfloat16 kernels: a front end computes in float32 under a
        # mixed-precision policy too (the layers after it take bfloat16 again)
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.settings = dict(
            sample_rate=sample_rate,
            n_fft=n_fft,
            hop=hop,
            win=win,
            n_mels=n_mels,
            fmin=fmin,
            fmax=fmax,
            floor=floor,
        )
        self.scale_to_unit = scale_to_unit

    @property
    def sample_rate(self):
        """The rate the mel filters assume (tfam inspect shows it as the model's)."""
        return self.settings["sample_rate"]

    def call(self, waveform):
        x = log_mel(waveform, **self.settings)
        if self.scale_to_unit:
            x = to_unit(x)
        return x[..., None]

    def compute_output_shape(self, input_shape):
        samples = input_shape[1]
        frames = None if samples is None else frame_count(samples, self.settings["hop"])
        return (input_shape[0], self.settings["n_mels"], frames, 1)

    def get_config(self):
        return {**super().get_config(), **self.settings, "scale_to_unit": self.scale_to_unit}


# --- synthesis ------------------------------------------------------------------------------------
def istft(spectrum, length, n_fft=N_FFT, hop=HOP, win=WIN):
    """Inverse of :func:`stft`: complex (B, frames, bins) -> (B, length) least-squares waveform.

    Overlap-adds the windowed inverse FFTs and divides by the exact per-sample sum of squared
    windows, as librosa.istft does. (tf.signal.inverse_stft_window_fn divides by the steady-state
    sum instead, which is wrong over the first and last win - hop samples: even after removing the
    centring pad the first and last ~256 samples would come out up to 17 % too quiet.)"""
    frames = tf.signal.irfft(spectrum, [n_fft])[..., :win] * _hann(win)
    y = _overlap_add(frames, hop)
    count = spectrum.shape[-2]
    if count is not None:
        envelope = tf.constant(_envelope(count, win, hop))
    else:
        squares = tf.tile(tf.constant(_hann(win) ** 2)[None, None], [1, tf.shape(spectrum)[-2], 1])
        envelope = _overlap_add(squares, hop)[0]
    # zero only at the padded first sample, which is cut off below
    y = y / tf.where(envelope > 1e-10, envelope, tf.ones_like(envelope))
    y = y[:, win // 2 : win // 2 + length]
    return tf.pad(y, [[0, 0], [0, length - tf.shape(y)[1]]])  # librosa's fix_length


def _check_length(length, frames, hop):
    if length is None:
        if frames is None:
            raise ValueError("length is needed when the number of frames is not static")
        return hop * (frames - 1)  # librosa's default
    if frames is not None and frame_count(length, hop) != frames:
        raise ValueError(
            f"length {length} gives {frame_count(length, hop)} frames, the magnitude has {frames}"
        )
    return length


def griffin_lim(
    magnitude,
    n_iter=32,
    n_fft=N_FFT,
    hop=HOP,
    win=WIN,
    length=None,
    momentum=0.99,
    seed=0,
    phase_gradient=True,
):
    """Fast Griffin-Lim: (B, frames, n_fft//2 + 1) linear STFT magnitude -> (B, length) waveform.

    Each iteration projects S * phase onto consistent spectrograms (istft, then stft) and keeps
    the phase, with Perraudin et al.'s momentum; the update is librosa.griffinlim's:
    a = rebuilt - momentum / (1 + momentum) * previous rebuilt, phase = a / |a|.
    momentum 0 is the classic Griffin-Lim.

    seed (an int) starts from a fixed uniform random phase (stateless: the same every call, and
    the same for every row, so a row's output does not depend on the rest of the batch);
    seed=None starts from zero phase. The random start converges a little better (spectral
    convergence 0.093 vs 0.103 after 32 iterations on 3 s of chirp + tones). length defaults to
    hop * (frames - 1) like librosa; it must give the same number of frames (length // hop + 1).

    The n_iter iterations are a tf.while_loop in the graph (n_iter may be a tensor), differentiable
    end to end. phase_gradient=True backpropagates through every iteration: exact, but the tape
    keeps every iteration's spectrograms (~210 MB per 3 s clip at 32 iterations, 3x the time of
    the forward pass). False treats the final phase as a constant, so the gradient is that of the
    last istft only (~26 MB per clip, the cost of the forward pass; the usual straight-through
    choice).
    """
    magnitude = tf.convert_to_tensor(magnitude, tf.float32)
    length = _check_length(length, magnitude.shape[1], hop)
    spec = tf.complex(magnitude, tf.zeros_like(magnitude))
    loop_spec = spec if phase_gradient else tf.stop_gradient(spec)
    if seed is None:
        phase = tf.ones_like(spec)
    else:
        angle = 2 * math.pi * tf.random.stateless_uniform(tf.shape(magnitude)[1:], [seed, 0])
        phase = tf.complex(tf.cos(angle), tf.sin(angle)) * tf.ones_like(spec)  # same for every row
    beta = momentum / (1.0 + momentum)

    def body(i, phase, previous):
        rebuilt = stft(istft(loop_spec * phase, length, n_fft, hop, win), n_fft, hop, win)
        a = rebuilt - tf.cast(beta, tf.complex64) * previous
        norm = _abs(a, _PHASE_EPS)
        return i + 1, a / tf.complex(norm, tf.zeros_like(norm)), rebuilt

    _, phase, _ = tf.while_loop(
        lambda i, *_: i < n_iter,
        body,
        (tf.constant(0), phase, tf.zeros_like(spec)),
        maximum_iterations=n_iter,
    )
    if not phase_gradient:
        phase = tf.stop_gradient(phase)
    return istft(spec * phase, length, n_fft, hop, win)


def mel_to_magnitude(
    mel, from_log=False, sample_rate=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS, fmin=FMIN, fmax=FMAX
):
    """(B, n_mels, frames) mel (or log-mel with from_log=True) -> (B, frames, n_fft//2 + 1) linear
    magnitude, max(mel @ pinv(filterbank), 0).

    The pseudo-inverse gives the least-norm magnitude whose mel is exactly the input; the clamp
    makes it a magnitude. librosa's non-negative least squares is an iterative solver per frame,
    too slow inside an optimization loop; a normalized transpose (flat spectrum -> flat spectrum)
    blurs every band over its neighbours, so its mel is not the input. Measured on chirp + tones
    and on a harmonic voice-like signal: mel of the estimate off by 5-6 % (pinv, after the clamp)
    vs 22-23 % (transpose); after 32 Griffin-Lim iterations the log-mel error within 6 nats of the
    peak is 0.76 / 0.26 (pinv) vs 0.94 / 0.37 (transpose). The price: the clamp leaves holes in
    near-silent bands between strong tones, where the transpose is closer (log-mel RMSE over all
    bands 1.49 vs 0.89 on the chirp). Bins above fmax get 0 (no band covers them).
    """
    mel = tf.convert_to_tensor(mel, tf.float32)
    if from_log:
        mel = tf.exp(mel)
    _, inverse = _basis_and_inverse(sample_rate, n_fft, n_mels, fmin, fmax)
    magnitude = tf.matmul(tf.transpose(mel, [0, 2, 1]), inverse)
    return tf.nn.relu(magnitude)


def mel_griffin_lim(
    log_mel_values,
    n_iter=32,
    length=None,
    scaled_to_unit=False,
    momentum=0.99,
    seed=0,
    phase_gradient=True,
    sample_rate=SAMPLE_RATE,
    n_fft=N_FFT,
    hop=HOP,
    win=WIN,
    n_mels=N_MELS,
    fmin=FMIN,
    fmax=FMAX,
):
    """(B, n_mels, frames) or (B, n_mels, frames, 1) log-mel (or its [0, 1] scaling) -> (B, length)
    waveform: exp, pseudo-inverse filterbank, Griffin-Lim."""
    x = tf.convert_to_tensor(log_mel_values, tf.float32)
    if x.shape.rank == 4:
        x = x[..., 0]
    if scaled_to_unit:
        x = from_unit(x)
    magnitude = mel_to_magnitude(x, True, sample_rate, n_fft, n_mels, fmin, fmax)
    return griffin_lim(magnitude, n_iter, n_fft, hop, win, length, momentum, seed, phase_gradient)


@keras.saving.register_keras_serializable(package="tfam")
class MelGriffinLim(keras.layers.Layer):
    """(B, n_mels, frames) or (B, n_mels, frames, 1) log-mel -> (B, length) waveform by
    :func:`mel_griffin_lim`, so "mel generator -> Griffin-Lim -> raw-audio classifier" is one model.
    scaled_to_unit=True takes a generator's sigmoid output ([0, 1], see :func:`to_unit`); length
    (None: hop * (frames - 1)) may be cropped further by the next layer."""

    def __init__(
        self,
        n_iter=32,
        length=None,
        scaled_to_unit=False,
        momentum=0.99,
        seed=0,
        phase_gradient=True,
        sample_rate=SAMPLE_RATE,
        n_fft=N_FFT,
        hop=HOP,
        win=WIN,
        n_mels=N_MELS,
        fmin=FMIN,
        fmax=FMAX,
        **kwargs,
    ):
        # tf.signal's FFTs have no bfloat16 kernels: a front end computes in float32 under a
        # mixed-precision policy too (the layers after it take bfloat16 again)
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.settings = dict(
            n_iter=n_iter,
            length=length,
            scaled_to_unit=scaled_to_unit,
            momentum=momentum,
            seed=seed,
            phase_gradient=phase_gradient,
            sample_rate=sample_rate,
            n_fft=n_fft,
            hop=hop,
            win=win,
            n_mels=n_mels,
            fmin=fmin,
            fmax=fmax,
        )

    def call(self, log_mel_values):
        return mel_griffin_lim(log_mel_values, **self.settings)

    def compute_output_shape(self, input_shape):
        length = self.settings["length"]
        if length is None and input_shape[2] is not None:
            length = self.settings["hop"] * (input_shape[2] - 1)
        return (input_shape[0], length)

    def get_config(self):
        return {**super().get_config(), **self.settings}
