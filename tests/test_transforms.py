import itertools

import numpy as np
import pytest
import tensorflow as tf

from tfam.layout import layout_of
from tfam.transforms import (
    gain,
    jitter,
    noise,
    random_scale,
    rotate,
    rotate_rows,
    spectral_tilt,
    time_shift,
)

SHAPES_1D = [(3, 50), (2, 40, 2)]
SHAPES_2D = [(2, 9, 11), (2, 9, 11, 3)]
SHAPES = SHAPES_1D + SHAPES_2D


def sample(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def seed(a, b=0):
    return tf.constant([a, b], tf.int32)


def apply(t, x, s=None):
    s = seed(1) if s is None else s
    return t(tf.constant(x), s, layout_of(x.shape)).numpy()


def find_roll(row, out_row, pixels, axes):
    """The shift (each within [-pixels, pixels]) with np.roll(row, shift) == out_row, or None."""
    for shift in itertools.product(range(-pixels, pixels + 1), repeat=len(axes)):
        if np.array_equal(np.roll(row, shift, axes), out_row):
            return shift
    return None


def row_axes(shape):
    """The spatial axes of one row (batch axis removed)."""
    return tuple(a - 1 for a in layout_of(shape).spatial_axes)


@pytest.mark.parametrize("shape", SHAPES)
def test_jitter_rolls_each_row_within_range(shape):
    x = sample((16,) + shape[1:])
    out = apply(jitter(3), x)
    shifts = [find_roll(x[b], out[b], 3, row_axes(shape)) for b in range(16)]
    assert None not in shifts
    assert len(set(shifts)) >= 4  # rows move independently


@pytest.mark.parametrize("shape", SHAPES)
def test_jitter_is_deterministic_in_the_seed(shape):
    x = sample((16,) + shape[1:])
    t = jitter(3)
    np.testing.assert_array_equal(apply(t, x, seed(5, 2)), apply(t, x, seed(5, 2)))
    assert not np.array_equal(apply(t, x, seed(5, 2)), apply(t, x, seed(6, 2)))


@pytest.mark.parametrize("shape", SHAPES)
def test_jitter_whole_batch_rolls_all_rows_by_one_shift(shape):
    x = sample(shape)
    out = apply(jitter(4, per_row=False), x, seed(3))
    batch_axes = tuple(layout_of(shape).spatial_axes)
    assert find_roll(x, out, 4, batch_axes) is not None


@pytest.mark.parametrize("shape", SHAPES)
def test_jitter_gradient_is_the_inverse_roll(shape):
    x = tf.constant(sample((8,) + shape[1:]))
    w = sample((8,) + shape[1:], 1)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = jitter(3)(x, seed(7), layout_of(x.shape))
        loss = tf.reduce_sum(w * y)
    grad = tape.gradient(loss, x).numpy()
    axes = row_axes(shape)
    for b in range(8):
        shift = find_roll(x.numpy()[b], y.numpy()[b], 3, axes)
        np.testing.assert_allclose(grad[b], np.roll(w[b], tuple(-s for s in shift), axes))


def shift_with_zeros(row, shift, axis):
    out = np.zeros_like(row)
    n = row.shape[axis]
    src = [slice(None)] * row.ndim
    dst = [slice(None)] * row.ndim
    src[axis] = slice(max(0, -shift), min(n, n - shift))
    dst[axis] = slice(max(0, shift), min(n, n + shift))
    out[tuple(dst)] = row[tuple(src)]
    return out


@pytest.mark.parametrize("shape", SHAPES)
def test_time_shift_moves_rows_along_last_spatial_axis_with_zero_fill(shape):
    x = sample((16,) + shape[1:])
    out = apply(time_shift(4), x)
    axis = row_axes(shape)[-1]
    shifts = []
    for b in range(16):
        found = [s for s in range(-4, 5) if np.array_equal(shift_with_zeros(x[b], s, axis), out[b])]
        assert len(found) == 1
        shifts.append(found[0])
    assert len(set(shifts)) >= 4
    assert any(s != 0 for s in shifts)


@pytest.mark.parametrize("shape", SHAPES)
def test_time_shift_of_the_whole_batch_moves_every_row_by_one_random_shift(shape):
    x = sample((4,) + shape[1:])
    axis = row_axes(shape)[-1]
    shifts = set()
    for step in range(12):
        out = apply(time_shift(4, per_row=False), x, seed(1, step))
        found = [s for s in range(-4, 5) if np.array_equal(shift_with_zeros(x[0], s, axis), out[0])]
        assert len(found) == 1
        for b in range(4):  # the same shift for every row
            assert np.array_equal(shift_with_zeros(x[b], found[0], axis), out[b])
        shifts.add(found[0])
    assert len(shifts) >= 4  # random over steps


def test_time_shift_of_the_whole_batch_passes_the_gradient_back_along_the_same_shift():
    x, weights = tf.constant(sample((3, 50))), sample((3, 50), seed=1)
    for step in range(4):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = time_shift(4, per_row=False)(x, seed(2, step), layout_of(x.shape))
            total = tf.reduce_sum(out * weights)
        grad = tape.gradient(total, x).numpy()
        shift = next(
            s for s in range(-4, 5) if np.array_equal(shift_with_zeros(x.numpy(), s, 1), out)
        )
        np.testing.assert_allclose(grad, shift_with_zeros(weights, -shift, 1), rtol=1e-6)


def test_time_shift_longer_than_the_clip_keeps_three_quarters_of_it():
    """A recipe's 0.16 s shift is longer than a short model input: it must not shift it away."""
    x = sample((32, 64))
    out = apply(time_shift(2560), x)
    kept = (out != 0).sum(axis=1)
    assert kept.min() >= 48, kept  # at most 64 // 4 samples shifted out of each row
    assert len({int(k) for k in kept}) > 4  # still a random shift per row


@pytest.mark.parametrize("shape", SHAPES)
def test_random_scale_of_one_is_identity(shape):
    x = sample(shape)
    np.testing.assert_allclose(apply(random_scale(1.0, 1.0), x), x, atol=1e-6)


def zoom_reference(row, factor, axes):
    """Zoom about the centre along each axis by linear interpolation, clamping at the edges."""
    for axis in axes:
        n = row.shape[axis]
        centre = (n - 1) / 2
        pos = centre + (np.arange(n) - centre) / factor
        row = np.apply_along_axis(
            lambda line, pos=pos, n=n: np.interp(pos, np.arange(n), line), axis, row
        )
    return row


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("factor", [0.8, 1.25])
def test_random_scale_with_fixed_factor_matches_interpolation(shape, factor):
    x = sample(shape)
    out = apply(random_scale(factor, factor), x)
    axes = row_axes(shape)
    for b in range(shape[0]):
        np.testing.assert_allclose(out[b], zoom_reference(x[b], factor, axes), atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES_2D)
def test_rotate_by_zero_degrees_is_identity(shape):
    x = sample(shape)
    np.testing.assert_allclose(apply(rotate(0.0), x), x, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES_2D)
def test_rotate_changes_rows_differently(shape):
    x = sample((4,) + shape[1:])
    out = apply(rotate(20.0), x)
    assert out.shape == x.shape
    changes = [np.abs(out[b] - x[b]).mean() for b in range(4)]
    assert min(changes) > 1e-3 and len(set(np.round(changes, 6))) == 4


def test_rotate_rows_by_90_degrees_is_rot90_counterclockwise():
    x = sample((2, 9, 9, 3))
    out = rotate_rows(tf.constant(x), tf.constant([np.pi / 2] * 2, tf.float32)).numpy()
    np.testing.assert_allclose(out, np.rot90(x, 1, axes=(1, 2)), atol=1e-4)
    assert not np.allclose(out, np.rot90(x, -1, axes=(1, 2)), atol=1e-2)


def test_rotate_without_channels_matches_rotate_with_one_channel():
    x = sample((4, 9, 11))
    t = rotate(30.0)
    without = t(tf.constant(x), seed(2), layout_of(x.shape)).numpy()
    with_one = t(tf.constant(x[..., None]), seed(2), layout_of(x[..., None].shape)).numpy()
    np.testing.assert_allclose(without, with_one[..., 0], atol=1e-6)


@pytest.mark.parametrize("shape", SHAPES_1D)
def test_rotate_rejects_1d_input(shape):
    with pytest.raises(ValueError):
        apply(rotate(5.0), sample(shape))


@pytest.mark.parametrize("shape", SHAPES)
def test_gain_scales_each_row_within_db_range(shape):
    x = sample((8,) + shape[1:])
    out = apply(gain(-6.0, 6.0), x)
    factors = []
    for b in range(8):
        f = np.sum(out[b] * x[b]) / np.sum(x[b] * x[b])
        np.testing.assert_allclose(out[b], f * x[b], rtol=1e-5, atol=1e-6)
        factors.append(f)
    factors = np.array(factors)
    assert np.all(factors >= 10 ** (-6 / 20) - 1e-6) and np.all(factors <= 10 ** (6 / 20) + 1e-6)
    assert len(np.unique(np.round(factors, 5))) == 8


@pytest.mark.parametrize(
    "t", [jitter(3), time_shift(4), random_scale(0.8, 1.2), gain(-6, 6)], ids=repr
)
@pytest.mark.parametrize("shape", SHAPES)
def test_transforms_are_stateless_in_the_seed(t, shape):
    x = sample((8,) + shape[1:])
    np.testing.assert_array_equal(apply(t, x, seed(9, 1)), apply(t, x, seed(9, 1)))
    assert not np.array_equal(apply(t, x, seed(9, 1)), apply(t, x, seed(10, 1)))


@pytest.mark.parametrize("shape", [(16, 4000), (16, 4000, 2)])
def test_noise_is_added_at_a_random_snr_within_range(shape):
    x = sample(shape)
    out = apply(noise(10.0, 30.0), x)
    axes = tuple(range(1, x.ndim))
    snr = 10 * np.log10(np.mean(x**2, axis=axes) / np.mean((out - x) ** 2, axis=axes))
    assert np.all(snr > 9.5) and np.all(snr < 30.5) and np.ptp(snr) > 5, snr


@pytest.mark.parametrize("shape", [(8, 1024), (8, 1024, 2)])
def test_spectral_tilt_leaves_the_middle_and_tilts_the_octaves_around_it(shape):
    t = np.arange(1024)
    middle, low = np.cos(2 * np.pi * 256 * t / 1024), np.cos(2 * np.pi * 64 * t / 1024)
    expand = (lambda a: a[None, :, None]) if len(shape) == 3 else (lambda a: a[None])
    x = np.broadcast_to(expand(middle + low), shape).astype(np.float32)
    out = apply(spectral_tilt(3.0), x)
    spectrum = np.abs(np.fft.rfft(np.moveaxis(out, 1, -1), axis=-1))
    np.testing.assert_allclose(spectrum[..., 256], 512, rtol=1e-3)  # fs/4: untouched
    db = 20 * np.log10(spectrum[..., 64] / 512)  # two octaves below: +-6 dB at most
    assert np.all(np.abs(db) <= 6.0 + 1e-3) and np.ptp(db) > 2, db
