"""Random robustness transforms applied to the input at every step, for any rank (see tfam.layout).

Each transform is ``fn(x, seed, layout) -> x``: differentiable in x, random per row, and driven by a
stateless seed so that a run is reproducible. A dream that survives them is less of an adversarial
pattern and more of a feature.
"""

import math

import numpy as np
import tensorflow as tf

from tfam.immutable import Immutable, factory


class Transform(Immutable):
    """``small_ops``: XLA can compile ``fn`` (the engine then compiles it with the small ops around
    the model); False for ops XLA lacks on CPU."""

    def __init__(self, fn, name, small_ops=True):
        self._set(fn=fn, name=name, small_ops=small_ops)

    def __call__(self, x, seed, layout):
        return self.fn(x, seed, layout)

    def __repr__(self):
        return self.name


def _per_row_shape(x, axis):
    """Shape that broadcasts a (B, L) tensor along ``axis`` of x."""
    shape = [1] * x.shape.rank
    shape[0], shape[axis] = tf.shape(x)[0], tf.shape(x)[axis]
    return tf.stack(shape)


def shift_rows(x, shifts, axis):
    """Move each row b of x by shifts[b] along ``axis``, filling the gap with zeros."""
    n = tf.shape(x)[axis]
    index = tf.range(n)[None, :] - shifts[:, None]
    inside = tf.logical_and(index >= 0, index < n)
    moved = tf.gather(x, tf.clip_by_value(index, 0, n - 1), axis=axis, batch_dims=1)
    return moved * tf.reshape(tf.cast(inside, x.dtype), _per_row_shape(x, axis))


def _roll_gather(x, shifts, spatial_rank):
    """np.roll of each row b by shifts[b, k] along spatial axis k+1, as one gather on flat positions.

    One plain gather over the whole batch: tf.gather with batch_dims is built from many small ops.
    """
    shape = tf.shape(x)
    batch = shape[0]
    flat_index = tf.zeros([batch] + [1] * spatial_rank, tf.int32)
    for k in range(spatial_rank):
        size = shape[k + 1]
        index = (tf.range(size)[None, :] - shifts[:, k : k + 1]) % size  # (B, size)
        index = tf.reshape(
            index, tf.stack([batch] + [1] * k + [size] + [1] * (spatial_rank - 1 - k))
        )
        flat_index = flat_index * size + index
    positions = tf.reduce_prod(shape[1 : 1 + spatial_rank])
    flat_index = tf.reshape(flat_index, [batch, positions]) + tf.range(batch)[:, None] * positions
    flat = tf.reshape(x, tf.stack([batch * positions, -1]))
    return tf.reshape(tf.gather(flat, tf.reshape(flat_index, [-1])), shape)


def roll_rows(x, shifts, spatial_rank):
    """Roll each row of x by its own shifts (B, spatial_rank); the gradient is the opposite roll,
    which is much cheaper than the scatter that a gather's gradient would be."""

    @tf.custom_gradient
    def roll(x):
        return _roll_gather(x, shifts, spatial_rank), lambda dy: _roll_gather(
            dy, -shifts, spatial_rank
        )

    return roll(x)


def _random_ints(seed, batch, limit):
    return tf.random.stateless_uniform([batch], seed, -limit, limit + 1, dtype=tf.int32)


@factory
def jitter(pixels, per_row=True):
    """Roll each row by a random whole number of positions in [-pixels, pixels] per spatial axis.

    ``per_row=False`` rolls the whole batch by one shift, as tf-keras-vis does: one op instead of a
    gather, for when the rows need no independent jitter.
    """

    def fn(x, seed, layout):
        if not per_row:
            shift = tf.random.stateless_uniform(
                [layout.spatial_rank], seed, -pixels, pixels + 1, dtype=tf.int32
            )
            return tf.roll(x, shift, list(layout.spatial_axes))
        shifts = tf.random.stateless_uniform(
            [tf.shape(x)[0], layout.spatial_rank], seed, -pixels, pixels + 1, dtype=tf.int32
        )
        return roll_rows(x, shifts, layout.spatial_rank)

    return Transform(fn, f"jitter({pixels}{'' if per_row else ', per_row=False'})")


@factory
def time_shift(max_shift, per_row=True):
    """Delay or advance each row by up to ``max_shift`` samples (or frames) along the last spatial
    axis (time, for waveforms and time-last spectrograms), filling with silence instead of wrapping.
    The shift stays within a quarter of the axis: a shift as long as a short clip would leave
    only silence (0.16 s is 2,560 samples at 16 kHz, longer than a model's 64-sample input).

    ``per_row=False`` moves the whole batch by one shift: a slice of the padded batch instead of a
    gather, whose gradient is a scatter (6 ms of a 60 ms sound-dream step). When the rows do not
    interact (inference mode), each row still sees the same random shifts in law."""

    def fn(x, seed, layout):
        axis = layout.spatial_axes[-1]
        length = x.shape[axis]
        limit = max_shift if length is None else min(max_shift, length // 4)
        if per_row:
            return shift_rows(x, _random_ints(seed, tf.shape(x)[0], limit), axis)
        shift = tf.random.stateless_uniform([], seed, -limit, limit + 1, dtype=tf.int32)
        padding = [[0, 0]] * x.shape.rank
        padding[axis] = [limit, limit]
        # a roll of the padded batch, then a fixed window: what rolls around is padding. (A slice
        # at a random start made XLA compile the step again for every new seed: its start must be
        # a compile-time constant there; a roll's shift need not.)
        rolled = tf.roll(tf.pad(x, padding), shift, axis)
        window = [slice(None)] * x.shape.rank
        window[axis] = slice(limit, limit + tf.shape(x)[axis])
        return rolled[tuple(window)]

    return Transform(fn, f"time_shift({max_shift}{'' if per_row else ', per_row=False'})")


def zoom_rows(x, factors, axis):
    """Zoom each row b by factors[b] about the centre along ``axis`` (linear interpolation, edges held)."""
    n = tf.shape(x)[axis]
    size = tf.cast(n, tf.float32)
    centre = (size - 1.0) / 2.0
    pos = centre + (tf.range(size)[None, :] - centre) / factors[:, None]
    pos = tf.clip_by_value(pos, 0.0, size - 1.0)
    lo = tf.cast(tf.floor(pos), tf.int32)
    hi = tf.minimum(lo + 1, n - 1)
    frac = tf.reshape(pos - tf.floor(pos), _per_row_shape(x, axis))
    a = tf.gather(x, lo, axis=axis, batch_dims=1)
    b = tf.gather(x, hi, axis=axis, batch_dims=1)
    return a + (b - a) * frac


@factory
def random_scale(low=0.9, high=1.1):
    """Zoom each row by a random factor in [low, high] along all spatial axes (for audio: a small
    resampling, which shifts pitch and tempo together)."""

    def fn(x, seed, layout):
        factors = tf.random.stateless_uniform([tf.shape(x)[0]], seed, low, high)
        for axis in layout.spatial_axes:
            x = zoom_rows(x, factors, axis)
        return x

    return Transform(fn, f"random_scale({low:g}, {high:g})")


def rotate_rows(x, radians):
    """Rotate each 2-D row (B, H, W, C) by radians[b] about its centre (bilinear, edges reflected)."""
    h = tf.cast(tf.shape(x)[1], tf.float32)
    w = tf.cast(tf.shape(x)[2], tf.float32)
    cos, sin = tf.cos(radians), tf.sin(radians)
    cx, cy = (w - 1.0) / 2.0, (h - 1.0) / 2.0
    # the projective transform maps output (x, y) to input (a0 x + a1 y + a2, b0 x + b1 y + b2)
    zeros = tf.zeros_like(radians)
    transform = tf.stack(
        [cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy, zeros, zeros],
        axis=1,
    )
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=x,
        transforms=transform,
        output_shape=tf.shape(x)[1:3],
        fill_value=0.0,
        interpolation="BILINEAR",
        fill_mode="REFLECT",
    )


@factory
def rotate(degrees=5.0):
    """Rotate each 2-D row by a random angle in [-degrees, degrees]."""

    def fn(x, seed, layout):
        if layout.spatial_rank != 2:
            raise ValueError("rotate works on 2-D inputs (images, spectrograms), not on 1-D audio")
        limit = degrees * math.pi / 180.0
        radians = tf.random.stateless_uniform([tf.shape(x)[0]], seed, -limit, limit)
        if layout.channel_axis is None:
            return rotate_rows(x[..., None], radians)[..., 0]
        return rotate_rows(x, radians)

    # ImageProjectiveTransformV3 has no XLA kernel on CPU
    return Transform(fn, f"rotate({degrees:g})", small_ops=False)


@factory
def gain(min_db=-6.0, max_db=6.0):
    """Scale each row by a random gain in [min_db, max_db] decibels."""

    def fn(x, seed, layout):
        db = tf.random.stateless_uniform([tf.shape(x)[0]], seed, min_db, max_db)
        return x * tf.reshape(tf.pow(10.0, db / 20.0), [-1] + [1] * (x.shape.rank - 1))

    return Transform(fn, f"gain({min_db:g}, {max_db:g})")


def _per_row(values, x):
    """(B,) values shaped to broadcast over x's other axes."""
    return tf.reshape(values, [-1] + [1] * (x.shape.rank - 1))


@factory
def noise(min_snr_db=10.0, max_snr_db=30.0):
    """Add white noise to each row at a random signal-to-noise ratio in [min_snr_db, max_snr_db]
    decibels of the row's own RMS: a dream that survives it does not rest on quiet detail."""

    def fn(x, seed, layout):
        axes = list(range(1, x.shape.rank))
        rms = tf.stop_gradient(tf.sqrt(tf.reduce_mean(tf.square(x), axis=axes) + 1e-12))
        snr = tf.random.stateless_uniform([tf.shape(x)[0]], seed, min_snr_db, max_snr_db)
        white = tf.random.stateless_normal(
            tf.shape(x), tf.random.experimental.stateless_fold_in(seed, 1)
        )
        return x + white * _per_row(rms * tf.pow(10.0, -snr / 20.0), x)

    return Transform(fn, f"noise(snr {min_snr_db:g}-{max_snr_db:g} dB)")


@factory
def spectral_tilt(max_db_per_octave=3.0):
    """Tilt each row's spectrum by a random slope in [-max, max] decibels per octave about the
    middle of the band (a random EQ: brighter or duller), by an FFT along the time axis; for
    waveforms (B, samples[, channels])."""

    def fn(x, seed, layout):
        axis = layout.spatial_axes[-1]
        lines = tf.experimental.numpy.moveaxis(x, axis, -1)  # time last
        n = lines.shape[-1]
        octaves = np.log2(np.maximum(np.arange(n // 2 + 1), 1.0) / (n / 4.0))  # 0 at fs/4
        slope = tf.random.stateless_uniform(
            [tf.shape(x)[0]], seed, -max_db_per_octave, max_db_per_octave
        )
        shape = [-1] + [1] * (lines.shape.rank - 2) + [1]
        gain = tf.pow(10.0, tf.reshape(slope, shape) * tf.constant(octaves, tf.float32) / 20.0)
        tilted = tf.signal.irfft(tf.signal.rfft(lines) * tf.cast(gain, tf.complex64), [n])
        return tf.experimental.numpy.moveaxis(tilted, -1, axis)

    return Transform(fn, f"spectral_tilt({max_db_per_octave:g} dB/octave)")


def apply_all(transforms, x, seed, layout):
    """Apply transforms in order, each with its own seed derived from the step's seed."""
    for i, t in enumerate(transforms):
        x = t(x, tf.random.experimental.stateless_fold_in(seed, i), layout)
    return x
