"""Penalties and projections that keep a dreamed input natural, for any rank (see tfam.layout).

Penalties return one value per row and are subtracted from the objective. Projections rewrite the
input after each update (Yosinski et al. 2015); they act on the pixels or samples themselves, so they
need the direct parameterization.
"""

import numpy as np
import tensorflow as tf

from tfam.immutable import Immutable, factory

EPSILON = 1e-12


class Penalty(Immutable):
    """``weight * fn(x, layout)`` per row, subtracted from the objective."""

    def __init__(self, fn, weight, name):
        self._set(fn=fn, weight=float(weight), name=name)

    def __call__(self, x, layout):
        return self.weight * self.fn(x, layout)

    def __repr__(self):
        return f"{self.name}(weight={self.weight:g})"


class LatentPenalty(Penalty):
    """A penalty on the optimized parameters (a generator's latent z), not on the input."""


@factory
def latent_l2(weight=100.0):
    """Seed 000's prior on z: ``weight * sum(z**2) / D`` per row (keeps z near the Gaussian shell the
    generator was trained on)."""

    def fn(z, layout):
        return tf.reduce_mean(tf.square(z), axis=list(range(1, z.shape.rank)))

    return LatentPenalty(fn, weight, "latent_l2")


class Projection(Immutable):
    """``fn(x, step, layout) -> x`` applied to the input after every update."""

    def __init__(self, fn, name):
        self._set(fn=fn, name=name)

    def __call__(self, x, step, layout):
        return self.fn(x, step, layout)

    def __repr__(self):
        return self.name


def _per_row_size(x):
    return tf.cast(tf.reduce_prod(tf.shape(x)[1:]), x.dtype)


def _abs_pow(x, p):
    """|x|**p, with the common powers spelled out (fewer ops in the loop, and no NaN gradient at 0)."""
    if p == 1:
        return tf.abs(x)
    if p == 2:
        return tf.square(x)
    return tf.pow(tf.abs(x) + EPSILON, p)


@factory
def total_variation(weight=1.0, beta=2.0):
    """Sum over spatial axes of |x[i+1] - x[i]|**beta, divided by the number of elements per row."""

    def fn(x, layout):
        total = 0.0
        for axis in layout.spatial_axes:
            before = (slice(None),) * axis
            diff = x[before + (slice(1, None),)] - x[before + (slice(None, -1),)]
            total += tf.reduce_sum(_abs_pow(diff, beta), axis=list(range(1, x.shape.rank)))
        return total / _per_row_size(x)

    return Penalty(fn, weight, f"total_variation(beta={beta:g})")


@factory
def lp_norm(weight=1.0, p=6.0):
    """The Lp norm of each row, divided by the number of elements per row (as keras-vis)."""

    def fn(x, layout):
        s = tf.reduce_sum(_abs_pow(x, p), axis=list(range(1, x.shape.rank)))
        return (s if p == 1 else tf.pow(s + EPSILON, 1.0 / p)) / _per_row_size(x)

    return Penalty(fn, weight, f"lp_norm(p={p:g})")


@factory
def l2_decay(rate=0.1):
    """x <- x * (1 - rate) after every step."""
    return Projection(lambda x, step, layout: x * (1.0 - rate), f"l2_decay({rate:g})")


def gaussian_kernel(sigma, truncate=4.0):
    """The 1-D kernel of scipy.ndimage.gaussian_filter1d."""
    radius = int(truncate * sigma + 0.5)
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def _filter_axis(x, kernel, axis):
    """Convolve every line of x along ``axis`` with ``kernel``, mirroring the edges (scipy 'reflect')."""
    radius = (len(kernel) - 1) // 2
    perm = [a for a in range(x.shape.rank) if a != axis] + [axis]
    moved = tf.transpose(x, perm)
    shape = tf.shape(moved)
    lines = tf.reshape(moved, [-1, shape[-1]])
    length = x.shape[axis]
    if length is not None and radius <= length:
        lines = tf.pad(lines, [[0, 0], [radius, radius]], mode="SYMMETRIC")
    else:
        # tf.pad SYMMETRIC cannot pad by more than the length: build scipy's repeated reflection
        # (d c b a | a b c d | d c b a | ...) as an index instead
        lines = tf.gather(
            lines, mirror_index(tf.range(-radius, shape[-1] + radius), shape[-1]), axis=1
        )
    out = tf.nn.conv1d(lines[:, :, None], tf.constant(kernel)[:, None, None], 1, "VALID")[:, :, 0]
    return tf.transpose(tf.reshape(out, shape), np.argsort(perm))


def mirror_index(positions, size):
    """Map any integer positions onto 0..size-1 by repeated mirroring with the edge repeated
    (d c b a | a b c d | d c b a): scipy's 'reflect' and NumPy's 'symmetric' padding, to any width."""
    period = 2 * size
    index = positions % period
    return tf.where(index < size, index, period - 1 - index)


def gaussian_blur(x, sigma, layout):
    kernel = gaussian_kernel(sigma)
    for axis in layout.spatial_axes:
        x = _filter_axis(x, kernel, axis)
    return x


@factory
def blur(sigma=1.0, every=4):
    """Gaussian blur along the spatial axes (per channel) on every ``every``-th step (0, k, 2k, ...)."""

    def fn(x, step, layout):
        return tf.cond(
            tf.equal(step % every, 0), lambda: gaussian_blur(x, sigma, layout), lambda: x
        )

    return Projection(fn, f"blur(sigma={sigma:g}, every={every})")


def row_percentile(values, q):
    """np.percentile(values[b], q) for each row b of a (B, N) tensor (linear interpolation)."""
    n = tf.shape(values)[1]
    ordered = tf.sort(values, axis=1)
    pos = (q / 100.0) * tf.cast(n - 1, tf.float32)
    lo = tf.cast(tf.floor(pos), tf.int32)
    hi = tf.minimum(lo + 1, n - 1)
    frac = pos - tf.floor(pos)
    a, b = ordered[:, lo], ordered[:, hi]
    return a + (b - a) * frac


def _zero_below_percentile(x, magnitude, percentile):
    """Zero x wherever ``magnitude`` (broadcastable to x) is below its per-row percentile."""
    flat = tf.reshape(magnitude, [tf.shape(magnitude)[0], -1])
    threshold = row_percentile(flat, percentile)
    threshold = tf.reshape(threshold, [-1] + [1] * (magnitude.shape.rank - 1))
    return x * tf.cast(magnitude >= threshold, x.dtype)


@factory
def norm_crop(percentile=30.0):
    """Zero the positions whose L2 norm across channels is below the per-row percentile."""

    def fn(x, step, layout):
        if layout.channel_axis is None:
            magnitude = tf.abs(x)
        else:
            magnitude = tf.norm(x, axis=layout.channel_axis, keepdims=True)
        return _zero_below_percentile(x, magnitude, percentile)

    return Projection(fn, f"norm_crop({percentile:g})")


@factory
def contribution_crop(percentile=30.0):
    """Zero the elements whose |x| is below the per-row percentile (as seed 001 implements it)."""
    return Projection(
        lambda x, step, layout: _zero_below_percentile(x, tf.abs(x), percentile),
        f"contribution_crop({percentile:g})",
    )


# ----------------------------------------------------------------------------- audio


def row_rms(x):
    """(B,) the root mean square of each row over all its samples (and channels)."""
    return tf.sqrt(tf.reduce_mean(tf.square(x), axis=list(range(1, x.shape.rank))))


@factory
def loudness_bound(max_rms=0.1, span=None):
    """Scale down every row whose RMS exceeds ``max_rms`` to exactly ``max_rms``; quieter rows are
    left as they are. Keeps a raw-waveform dream from growing into full-scale noise.

    ``span`` (start, stop): the RMS is that of samples [start, stop) of the time axis, the part a
    listener hears when the rest is silent (silence_outside)."""
    max_rms = float(max_rms)
    if not max_rms > 0:
        raise ValueError(f"max_rms must be positive, got {max_rms:g}")

    def fn(x, step, layout):
        heard = x
        if span is not None:
            before = (slice(None),) * layout.spatial_axes[-1]
            heard = x[before + (slice(int(span[0]), int(span[1])),)]
        # max_rms / max(rms, max_rms): exactly 1 for rows at or below the bound, no division by 0
        scale = max_rms / tf.maximum(row_rms(heard), max_rms)
        return x * tf.reshape(scale, [-1] + [1] * (x.shape.rank - 1))

    where = "" if span is None else f", span=({int(span[0])}, {int(span[1])})"
    return Projection(fn, f"loudness_bound({max_rms:g}{where})")


def span_mask(length, start, stop, fade):
    """(length,) 1 on [start, stop), 0 elsewhere, with a raised-cosine ramp of ``fade`` samples
    just inside each edge (no click where the sound starts or stops)."""
    if not 0 <= start < stop <= length:
        raise ValueError(f"the span [{start}, {stop}) does not fit an axis of {length}")
    mask = np.zeros(length, np.float32)
    mask[start:stop] = 1.0
    fade = min(int(fade), (stop - start) // 2)
    if fade > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(fade) + 0.5) / fade)
        mask[start : start + fade] = ramp
        mask[stop - fade : stop] = ramp[::-1]
    return mask


@factory
def silence_outside(start, stop, fade=0):
    """Keep samples [start, stop) of the time axis (the last spatial axis) and silence the rest,
    after every update: the part of a waveform that a model does not hear stays silent instead of
    keeping its random start. ``fade`` samples at each edge of the span are ramped."""
    start, stop, fade = int(start), int(stop), int(fade)

    def fn(x, step, layout):
        axis = layout.spatial_axes[-1]
        shape = [1] * x.shape.rank
        shape[axis] = x.shape[axis]
        mask = span_mask(x.shape[axis], start, stop, fade).reshape(shape)
        return x * tf.constant(mask, x.dtype)

    return Projection(fn, f"silence_outside({start}, {stop}, fade={fade})")


def _waveform_lines(x, layout):
    """x as (lines, samples): the time axis last, one line per row and channel."""
    if layout.spatial_rank != 1:
        raise ValueError(
            f"high_band works on 1-D waveforms (B, samples[, channels]), not on "
            f"inputs of shape {tuple(x.shape)}"
        )
    if layout.channel_axis is not None:
        x = tf.transpose(x, [0, 2, 1])  # (B, C, samples)
    return x


def high_band_fraction(x, cutoff_hz, sample_rate, layout):
    """(B,) the fraction of each row's energy at frequencies above ``cutoff_hz``.

    Energies are those of the rfft bins along the time axis, counted as in the full spectrum
    (Parseval: the bins between DC and Nyquist stand for two), summed over channels."""
    lines = _waveform_lines(x, layout)
    n = tf.shape(lines)[-1]
    spectrum = tf.signal.rfft(lines)
    energy = tf.square(tf.math.real(spectrum)) + tf.square(tf.math.imag(spectrum))
    bins = tf.range(n // 2 + 1)
    # every bin counts twice except DC and, for even lengths, the Nyquist bin
    counts = tf.where(tf.logical_and(bins > 0, 2 * bins < n), 2.0, 1.0)
    # bin k is at k * sample_rate / n Hz; compared without the division (exact for whole numbers)
    above = tf.cast(bins, tf.float64) * sample_rate > cutoff_hz * tf.cast(n, tf.float64)
    counts = tf.cast(counts, energy.dtype)
    high = counts * tf.cast(above, energy.dtype)
    axes = list(range(1, energy.shape.rank))  # the frequency axis, and channels if any
    return tf.reduce_sum(energy * high, axis=axes) / (
        tf.reduce_sum(energy * counts, axis=axes) + EPSILON
    )


@factory
def high_band(weight, cutoff_hz, sample_rate):
    """``weight`` times the fraction of each row's energy above ``cutoff_hz`` (of a waveform at
    ``sample_rate``): keeps a dream in the band the model hears, without hiss above it.

    Works inside the engine's XLA-compiled parts (XLA has an FFT on CPU and GPU)."""
    cutoff_hz, sample_rate = float(cutoff_hz), float(sample_rate)
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate:g}")
    if not 0 < cutoff_hz < sample_rate / 2:
        raise ValueError(
            f"cutoff_hz must be between 0 and the Nyquist frequency {sample_rate / 2:g} Hz, "
            f"got {cutoff_hz:g}"
        )

    def fn(x, layout):
        return high_band_fraction(x, cutoff_hz, sample_rate, layout)

    return Penalty(fn, weight, f"high_band(cutoff_hz={cutoff_hz:g}, sample_rate={sample_rate:g})")


@factory
def low_pass(cutoff_hz, sample_rate):
    """Remove every frequency above ``cutoff_hz`` from a waveform (at ``sample_rate``) after each
    update: an FFT along the time axis, the bins above the cutoff set to zero, and back. Where a
    penalty on the high band only discourages hiss that a model rewards, this leaves none."""
    cutoff_hz, sample_rate = float(cutoff_hz), float(sample_rate)
    if not 0 < cutoff_hz < sample_rate / 2:
        raise ValueError(
            f"cutoff_hz must be between 0 and the Nyquist frequency {sample_rate / 2:g} Hz, "
            f"got {cutoff_hz:g}"
        )

    def fn(x, step, layout):
        lines = _waveform_lines(x, layout)
        n = lines.shape[-1]
        keep = np.arange(n // 2 + 1) * sample_rate <= cutoff_hz * n
        spectrum = tf.signal.rfft(lines) * tf.constant(keep, tf.complex64)
        lines = tf.signal.irfft(spectrum, fft_length=[n])
        return tf.transpose(lines, [0, 2, 1]) if layout.channel_axis is not None else lines

    return Projection(fn, f"low_pass(cutoff_hz={cutoff_hz:g}, sample_rate={sample_rate:g})")
