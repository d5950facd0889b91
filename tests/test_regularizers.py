import numpy as np
import pytest
import tensorflow as tf
from scipy.ndimage import gaussian_filter1d

from tfam.layout import layout_of
from tfam.regularizers import (blur, contribution_crop, l2_decay, lp_norm, norm_crop,
                               row_percentile, total_variation)

# 1-D: (B, samples) and (B, samples, C); 2-D: (B, H, W) and (B, H, W, C)
SHAPES = [(3, 50), (2, 40, 2), (2, 9, 11), (2, 9, 11, 3)]


def sample(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def run(fn, x, *args):
    return fn(tf.constant(x), *args, layout_of(x.shape)).numpy()


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("beta", [1.0, 2.0, 1.5])
def test_total_variation_matches_numpy(shape, beta):
    x = sample(shape)
    layout = layout_of(shape)
    per_row = np.prod(shape[1:])
    expected = sum(np.sum(np.abs(np.diff(x, axis=a)) ** beta, axis=tuple(range(1, x.ndim)))
                   for a in layout.spatial_axes) / per_row
    got = total_variation(weight=0.7, beta=beta)(tf.constant(x), layout).numpy()
    assert got.shape == (shape[0],)
    np.testing.assert_allclose(got, 0.7 * expected, rtol=1e-5, atol=1e-6)


def test_total_variation_ignores_batch_and_channel_axes():
    # constant along space, varying across rows and channels: no variation
    x = np.broadcast_to(np.arange(6, dtype=np.float32).reshape(2, 1, 1, 3), (2, 5, 5, 3))
    got = total_variation()(tf.constant(x), layout_of(x.shape)).numpy()
    np.testing.assert_allclose(got, 0.0, atol=1e-7)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("p", [1.0, 2.0, 6.0])
def test_lp_norm_matches_numpy(shape, p):
    x = sample(shape, 1)
    axes = tuple(range(1, x.ndim))
    expected = np.sum(np.abs(x.astype(np.float64)) ** p, axis=axes) ** (1 / p) / np.prod(shape[1:])
    got = lp_norm(weight=2.0, p=p)(tf.constant(x), layout_of(shape)).numpy()
    assert got.shape == (shape[0],)
    np.testing.assert_allclose(got, 2.0 * expected, rtol=1e-5)


@pytest.mark.parametrize("shape", SHAPES)
def test_l2_decay_scales_by_one_minus_rate(shape):
    x = sample(shape)
    np.testing.assert_allclose(run(l2_decay(0.1), x, 3), 0.9 * x, rtol=1e-6)


@pytest.mark.parametrize("shape", SHAPES)
def test_blur_matches_scipy_along_spatial_axes_only(shape):
    x = sample(shape, 2)
    expected = x.astype(np.float64)
    for axis in layout_of(shape).spatial_axes:
        expected = gaussian_filter1d(expected, 1.2, axis=axis, mode="reflect", truncate=4.0)
    proj = blur(sigma=1.2, every=3)
    for step in (0, 3, 6):
        np.testing.assert_allclose(run(proj, x, tf.constant(step)), expected, atol=1e-5)
    for step in (1, 2, 4):
        np.testing.assert_array_equal(run(proj, x, tf.constant(step)), x)


def test_blur_inside_tf_function():
    x = sample((2, 9, 11, 3))
    proj = blur(sigma=1.0, every=2)
    f = tf.function(lambda x, step: proj(x, step, layout_of(x.shape)))
    expected = gaussian_filter1d(gaussian_filter1d(x, 1.0, axis=1, mode="reflect", truncate=4.0),
                                 1.0, axis=2, mode="reflect", truncate=4.0)
    np.testing.assert_allclose(f(tf.constant(x), tf.constant(4)).numpy(), expected, atol=1e-5)
    np.testing.assert_array_equal(f(tf.constant(x), tf.constant(5)).numpy(), x)


@pytest.mark.parametrize("q", [0.0, 30.0, 50.0, 87.5, 100.0])
def test_row_percentile_matches_numpy(q):
    values = sample((4, 37), 3)
    got = row_percentile(tf.constant(values), q).numpy()
    np.testing.assert_allclose(got, np.percentile(values, q, axis=1), rtol=1e-5, atol=1e-6)


def crop_reference(x, magnitude, q):
    """Zero x where the (broadcastable) magnitude is below its per-row np.percentile."""
    out = x.copy()
    for b in range(x.shape[0]):
        keep = magnitude[b] >= np.percentile(magnitude[b], q)
        out[b] = x[b] * np.broadcast_to(keep, x[b].shape)
    return out


@pytest.mark.parametrize("shape", SHAPES)
def test_norm_crop_zeros_positions_with_small_channel_norm(shape):
    x = sample(shape, 4)
    layout = layout_of(shape)
    if layout.channel_axis is None:
        magnitude = np.abs(x)
    else:
        magnitude = np.linalg.norm(x, axis=-1, keepdims=True)
    got = run(norm_crop(30.0), x, 0)
    np.testing.assert_array_equal(got, crop_reference(x, magnitude, 30.0))
    if layout.channel_axis is not None:  # whole positions go together
        assert np.all((got == 0).all(-1) | (got != 0).all(-1))
    assert 0 < np.mean(got == 0) < 0.5


@pytest.mark.parametrize("shape", SHAPES)
def test_contribution_crop_zeros_small_elements(shape):
    x = sample(shape, 5)
    got = run(contribution_crop(40.0), x, 0)
    np.testing.assert_array_equal(got, crop_reference(x, np.abs(x), 40.0))
    assert 0.3 < np.mean(got == 0) < 0.5


@pytest.mark.parametrize("shape, sigma",
                         [((2, 3, 5, 1), 1.0), ((2, 4, 9), 1.0), ((2, 9, 11), 3.0), ((3, 6), 2.5)])
def test_blur_matches_scipy_when_kernel_is_longer_than_the_axis(shape, sigma):
    x = sample(shape, 6)
    expected = x.astype(np.float64)
    for axis in layout_of(shape).spatial_axes:
        expected = gaussian_filter1d(expected, sigma, axis=axis, mode="reflect", truncate=4.0)
    np.testing.assert_allclose(run(blur(sigma, every=1), x, tf.constant(0)), expected, atol=1e-5)


def test_blur_on_short_axis_of_unknown_length():
    x = sample((2, 3, 5, 1), 7)
    f = tf.function(lambda x: blur(1.0, every=1)(x, tf.constant(0), layout_of(x.shape)),
                    input_signature=[tf.TensorSpec([None, None, None, 1])])
    expected = gaussian_filter1d(gaussian_filter1d(x, 1.0, axis=1, mode="reflect", truncate=4.0),
                                 1.0, axis=2, mode="reflect", truncate=4.0)
    np.testing.assert_allclose(f(tf.constant(x)).numpy(), expected, atol=1e-5)
