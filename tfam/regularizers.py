"""Penalties and projections that keep a dreamed input natural, for any rank (see tfam.layout).

Penalties return one value per row and are subtracted from the objective. Projections rewrite the
input after each update (Yosinski et al. 2015); they act on the pixels or samples themselves, so they
need the direct parameterization.
"""
import numpy as np
import tensorflow as tf

from tfam.frozen import Frozen

EPSILON = 1e-12


class Penalty(Frozen):
    """``weight * fn(x, layout)`` per row, subtracted from the objective."""

    def __init__(self, fn, weight, name):
        self._set(fn=fn, weight=float(weight), name=name)

    def __call__(self, x, layout):
        return self.weight * self.fn(x, layout)

    def __repr__(self):
        return f"{self.name}(weight={self.weight:g})"


class Projection(Frozen):
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


def lp_norm(weight=1.0, p=6.0):
    """The Lp norm of each row, divided by the number of elements per row (as keras-vis)."""
    def fn(x, layout):
        s = tf.reduce_sum(_abs_pow(x, p), axis=list(range(1, x.shape.rank)))
        return (s if p == 1 else tf.pow(s + EPSILON, 1.0 / p)) / _per_row_size(x)

    return Penalty(fn, weight, f"lp_norm(p={p:g})")


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
        lines = tf.gather(lines, mirror_index(tf.range(-radius, shape[-1] + radius), shape[-1]), axis=1)
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


def blur(sigma=1.0, every=4):
    """Gaussian blur along the spatial axes (per channel) on every ``every``-th step (0, k, 2k, ...)."""
    def fn(x, step, layout):
        return tf.cond(tf.equal(step % every, 0), lambda: gaussian_blur(x, sigma, layout), lambda: x)

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


def norm_crop(percentile=30.0):
    """Zero the positions whose L2 norm across channels is below the per-row percentile."""
    def fn(x, step, layout):
        if layout.channel_axis is None:
            magnitude = tf.abs(x)
        else:
            magnitude = tf.norm(x, axis=layout.channel_axis, keepdims=True)
        return _zero_below_percentile(x, magnitude, percentile)

    return Projection(fn, f"norm_crop({percentile:g})")


def contribution_crop(percentile=30.0):
    """Zero the elements whose |x| is below the per-row percentile (as seed 001 implements it)."""
    return Projection(lambda x, step, layout: _zero_below_percentile(x, tf.abs(x), percentile),
                      f"contribution_crop({percentile:g})")
