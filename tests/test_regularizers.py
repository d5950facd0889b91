import numpy as np
import pytest
import tensorflow as tf
from scipy.ndimage import gaussian_filter1d

from tfam.layout import layout_of
from tfam.regularizers import (
    blur,
    contribution_crop,
    high_band,
    l2_decay,
    loudness_bound,
    low_pass,
    lp_norm,
    norm_crop,
    row_percentile,
    silence_outside,
    span_mask,
    total_variation,
)

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
    expected = (
        sum(
            np.sum(np.abs(np.diff(x, axis=a)) ** beta, axis=tuple(range(1, x.ndim)))
            for a in layout.spatial_axes
        )
        / per_row
    )
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
    expected = gaussian_filter1d(
        gaussian_filter1d(x, 1.0, axis=1, mode="reflect", truncate=4.0),
        1.0,
        axis=2,
        mode="reflect",
        truncate=4.0,
    )
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


@pytest.mark.parametrize(
    "shape, sigma", [((2, 3, 5, 1), 1.0), ((2, 4, 9), 1.0), ((2, 9, 11), 3.0), ((3, 6), 2.5)]
)
def test_blur_matches_scipy_when_kernel_is_longer_than_the_axis(shape, sigma):
    x = sample(shape, 6)
    expected = x.astype(np.float64)
    for axis in layout_of(shape).spatial_axes:
        expected = gaussian_filter1d(expected, sigma, axis=axis, mode="reflect", truncate=4.0)
    np.testing.assert_allclose(run(blur(sigma, every=1), x, tf.constant(0)), expected, atol=1e-5)


def test_blur_on_short_axis_of_unknown_length():
    x = sample((2, 3, 5, 1), 7)
    f = tf.function(
        lambda x: blur(1.0, every=1)(x, tf.constant(0), layout_of(x.shape)),
        input_signature=[tf.TensorSpec([None, None, None, 1])],
    )
    expected = gaussian_filter1d(
        gaussian_filter1d(x, 1.0, axis=1, mode="reflect", truncate=4.0),
        1.0,
        axis=2,
        mode="reflect",
        truncate=4.0,
    )
    np.testing.assert_allclose(f(tf.constant(x)).numpy(), expected, atol=1e-5)


# ----------------------------------------------------------------------------- audio

AUDIO_SHAPES = [(4, 300), (3, 255), (2, 200, 1), (2, 64, 2)]


def loudness_reference(x, max_rms):
    rms = np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=tuple(range(1, x.ndim))))
    with np.errstate(divide="ignore"):  # a silent row: scale 1
        scale = np.minimum(1.0, max_rms / rms)
    return (x * scale.reshape((-1,) + (1,) * (x.ndim - 1))).astype(np.float32), rms


@pytest.mark.parametrize("shape", AUDIO_SHAPES)
def test_loudness_bound_scales_loud_rows_down_to_the_bound(shape):
    # rows of RMS about 0.5, 0.05, 0.5, ...: some above the bound of 0.1, some below
    levels = np.where(np.arange(shape[0]) % 2, 0.05, 0.5).reshape((-1,) + (1,) * (len(shape) - 1))
    x = (sample(shape, 8) * levels).astype(np.float32)
    expected, rms = loudness_reference(x, 0.1)
    got = run(loudness_bound(0.1), x, 0)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-7)
    after = np.sqrt(np.mean(got.astype(np.float64) ** 2, axis=tuple(range(1, x.ndim))))
    quiet = rms <= 0.1
    assert quiet.any() and not quiet.all()
    np.testing.assert_array_equal(got[quiet], x[quiet])  # untouched, bit for bit
    np.testing.assert_allclose(after[~quiet], 0.1, rtol=1e-5)


def test_loudness_bound_leaves_silence_alone_and_compiles_with_xla():
    x = np.zeros((2, 50), np.float32)
    x[1] = sample((50,), 9)
    proj = loudness_bound(0.2)
    f = tf.function(lambda x: proj(x, tf.constant(0), layout_of(x.shape)), jit_compile=True)
    got = f(tf.constant(x)).numpy()
    assert np.all(np.isfinite(got))
    np.testing.assert_array_equal(got[0], 0.0)
    np.testing.assert_allclose(got, loudness_reference(x, 0.2)[0], rtol=1e-5, atol=1e-7)


def high_band_reference(x, cutoff_hz, sample_rate):
    """np.fft.rfft energies over the time axis (1), the bins between DC and Nyquist counted twice."""
    n = x.shape[1]
    energy = np.abs(np.fft.rfft(x.astype(np.float64), axis=1)) ** 2
    counts = np.full(n // 2 + 1, 2.0)
    counts[0] = 1.0
    if n % 2 == 0:
        counts[-1] = 1.0
    high = counts * (np.fft.rfftfreq(n, 1.0 / sample_rate) > cutoff_hz)
    shape = (-1,) + (1,) * (x.ndim - 2)
    axes = tuple(range(1, x.ndim))
    return np.sum(energy * high.reshape(shape), axis=axes) / np.sum(
        energy * counts.reshape(shape), axis=axes
    )


@pytest.mark.parametrize("shape", AUDIO_SHAPES)
@pytest.mark.parametrize("cutoff", [700.0, 2010.0, 3900.0])
def test_high_band_matches_numpy(shape, cutoff):
    x = sample(shape, 10)
    expected = high_band_reference(x, cutoff, 8000)
    got = high_band(weight=1.5, cutoff_hz=cutoff, sample_rate=8000)(
        tf.constant(x), layout_of(shape)
    ).numpy()
    assert got.shape == (shape[0],)
    np.testing.assert_allclose(got, 1.5 * expected, rtol=1e-4, atol=1e-6)
    if len(shape) == 2:
        # the same as the fraction of the energy of the full two-sided spectrum above the cutoff
        energy = np.abs(np.fft.fft(x.astype(np.float64), axis=1)) ** 2
        above = np.abs(np.fft.fftfreq(shape[1], 1 / 8000)) > cutoff
        np.testing.assert_allclose(got, 1.5 * energy[:, above].sum(1) / energy.sum(1), rtol=1e-4)


def test_high_band_of_pure_tones():
    t = np.arange(800) / 8000.0
    x = np.stack(
        [
            np.sin(2 * np.pi * 500 * t),
            np.sin(2 * np.pi * 3000 * t),
            np.sin(2 * np.pi * 500 * t) + np.sin(2 * np.pi * 3000 * t),
            np.zeros_like(t),
        ]
    )
    got = high_band(1.0, 2000, 8000)(tf.constant(x, tf.float32), layout_of(x.shape)).numpy()
    np.testing.assert_allclose(got, [0.0, 1.0, 0.5, 0.0], atol=1e-4)


def test_high_band_compiles_with_xla_and_its_gradient_matches_graph_mode():
    x = tf.constant(sample((3, 257), 11))
    penalty = high_band(1.0, 1500, 8000)

    def value_and_grad(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            value = tf.reduce_sum(penalty(x, layout_of(x.shape)))
        return value, tape.gradient(value, x)

    v_xla, g_xla = tf.function(value_and_grad, jit_compile=True)(x)
    v, g = tf.function(value_and_grad)(x)
    np.testing.assert_allclose(v_xla.numpy(), v.numpy(), rtol=1e-5)
    np.testing.assert_allclose(g_xla.numpy(), g.numpy(), rtol=1e-4, atol=1e-8)
    assert np.abs(g.numpy()).max() > 0


def test_gradient_descent_on_high_band_lowers_the_high_band_fraction_of_white_noise():
    x = tf.Variable(sample((2, 512), 12) * 0.3)
    penalty = high_band(1.0, 2000, 8000)
    layout = layout_of(x.shape)
    before = high_band_reference(x.numpy(), 2000, 8000)
    assert np.all(before > 0.4)  # white noise: about half its energy is above a quarter of the rate
    for _ in range(100):
        with tf.GradientTape() as tape:
            value = tf.reduce_sum(penalty(x, layout))
        grad = tape.gradient(value, x)
        x.assign_sub(0.05 * grad / (tf.math.reduce_std(grad) + 1e-12))
    after = high_band_reference(x.numpy(), 2000, 8000)
    assert np.all(after < 0.5 * before), (before, after)


def test_high_band_rejects_images_and_cutoffs_outside_the_band():
    with pytest.raises(ValueError, match="1-D waveforms"):
        high_band(1.0, 1000, 8000)(tf.zeros((2, 9, 11, 3)), layout_of((2, 9, 11, 3)))
    for cutoff in (0.0, 4000.0, 5000.0):
        with pytest.raises(ValueError, match="Nyquist"):
            high_band(1.0, cutoff, 8000)
    with pytest.raises(ValueError, match="max_rms must be positive"):
        loudness_bound(0.0)


@pytest.mark.parametrize("jit_compile", ["auto", False])
def test_audio_regularizers_in_the_engine(tiny_audio_model, jit_compile):
    import tfam
    from tfam import objectives, params

    common = dict(
        param=params.direct((-1.0, 1.0)),
        steps=40,
        learning_rate=0.05,
        verbose=0,
        jit_compile=jit_compile,
    )
    bound = loudness_bound(0.05)
    free = tfam.dream(tiny_audio_model, objectives.class_logit([0, 1, 2]), **common)
    kept = tfam.dream(
        tiny_audio_model,
        objectives.class_logit([0, 1, 2]),
        regularizers=[high_band(2.0, 2000, 8000), bound],
        **common,
    )

    def rms(x):
        return np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=1))

    assert np.all(rms(free.x) > 0.05)  # without the bound, the dream is louder than it
    assert np.all(rms(kept.x) <= 0.05 * (1 + 1e-5)), rms(kept.x)
    assert np.all(kept.best_value > kept.history[0])
    assert np.all(high_band_reference(kept.x, 2000, 8000) < high_band_reference(free.x, 2000, 8000))


@pytest.mark.parametrize("shape", [(2, 400), (2, 400, 2)])
def test_silence_outside_keeps_the_span_and_fades_its_edges(shape):
    x = sample(shape, 10)
    got = run(silence_outside(100, 300, fade=20), x, 0)
    mask = np.zeros(400)
    mask[100:300] = 1.0
    ramp = np.sin(np.pi / 2 * (np.arange(20) + 0.5) / 20) ** 2  # raised cosine, = 0.5 - 0.5 cos
    mask[100:120], mask[280:300] = ramp, ramp[::-1]
    mask = mask.reshape((1, 400) + (1,) * (len(shape) - 2))
    np.testing.assert_allclose(got, x * mask, rtol=1e-6, atol=1e-7)
    assert not got[:, :100].any() and not got[:, 300:].any()  # exactly silent outside
    np.testing.assert_array_equal(got[:, 120:280], x[:, 120:280])
    with pytest.raises(ValueError, match="does not fit"):
        span_mask(400, 300, 500, 0)


def test_loudness_bound_over_a_span_measures_only_the_span():
    x = np.zeros((1, 400), np.float32)
    x[0, 100:300] = 0.5  # RMS 0.5 over the span, 0.35 over the whole row
    got = run(loudness_bound(0.1, span=(100, 300)), x, 0)
    np.testing.assert_allclose(np.sqrt(np.mean(got[0, 100:300] ** 2)), 0.1, rtol=1e-5)


@pytest.mark.parametrize("shape", [(2, 800), (2, 800, 2)])
def test_low_pass_removes_tones_above_the_cutoff_and_keeps_those_below(shape):
    t = np.arange(800) / 8000.0
    low, high = np.sin(2 * np.pi * 500 * t), np.sin(2 * np.pi * 3800 * t)  # whole periods in 0.1 s
    x = np.broadcast_to((low + high).reshape((1, 800) + (1,) * (len(shape) - 2)), shape)
    f = tf.function(
        lambda x: low_pass(3500, 8000)(x, tf.constant(0), layout_of(x.shape)), jit_compile=True
    )
    got = f(tf.constant(x, tf.float32)).numpy()
    expected = np.broadcast_to(low.reshape((1, 800) + (1,) * (len(shape) - 2)), shape)
    np.testing.assert_allclose(got, expected, atol=1e-4)
    with pytest.raises(ValueError, match="Nyquist"):
        low_pass(4000, 8000)
