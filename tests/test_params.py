import keras
import numpy as np
import pytest
import tensorflow as tf

from tfam import params
from tfam.layout import layout_of

FOURIER_SHAPES = [(64,), (64, 2), (28, 28, 1), (9, 11, 3), (8, 12), (10, 7, 2)]


def layout(input_shape):
    return layout_of((None,) + tuple(input_shape))


def rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("input_shape", [(50,), (40, 2), (9, 11), (9, 11, 3)])
def test_direct_init_is_in_range_with_batch_shape(input_shape):
    p = params.direct(value_range=(-1.0, 2.0), noise=0.5)
    x = p.init(5, input_shape, layout(input_shape), rng())
    assert x.shape == (5,) + input_shape and x.dtype == np.float32
    assert x.min() >= -1.0 and x.max() <= 2.0 and x.std() > 0.1
    np.testing.assert_array_equal(p.to_input(tf.constant(x), input_shape, layout(input_shape)), x)


def test_direct_project_clips_into_range():
    p = params.direct(value_range=(0.0, 1.0))
    x = np.array([[-0.5, 0.2, 1.5, 1.0]], np.float32)
    np.testing.assert_array_equal(p.project(tf.constant(x)).numpy(), np.clip(x, 0.0, 1.0))


def test_direct_start_is_broadcast_to_the_batch_and_clipped():
    start = np.linspace(-0.5, 1.5, 9 * 11).reshape(9, 11).astype(np.float32)
    p = params.direct(start=start)
    x = p.init(3, (9, 11), layout((9, 11)), rng())
    assert x.shape == (3, 9, 11)
    for b in range(3):
        np.testing.assert_array_equal(x[b], np.clip(start, 0.0, 1.0))


def test_direct_start_of_a_full_batch_is_kept():
    start = rng(1).uniform(0, 1, (2, 40, 2)).astype(np.float32)
    x = params.direct(start=start).init(2, (40, 2), layout((40, 2)), rng())
    np.testing.assert_array_equal(x, start)


@pytest.mark.parametrize("bad", [np.zeros((9, 10)), np.zeros((4, 9, 11)), np.zeros((11, 9))])
def test_direct_start_of_wrong_shape_raises(bad):
    with pytest.raises(ValueError):
        params.direct(start=bad).init(3, (9, 11), layout((9, 11)), rng())


def test_direct_start_with_nan_raises():
    start = np.zeros((50,), np.float32)
    start[3] = np.nan
    with pytest.raises(ValueError):
        params.direct(start=start).init(2, (50,), layout((50,)), rng())


@pytest.mark.parametrize("input_shape", FOURIER_SHAPES)
def test_fourier_gives_inputs_of_the_model_shape_inside_range(input_shape):
    p = params.fourier(value_range=(-1.0, 3.0), sd=0.5)
    lay = layout(input_shape)
    z = p.init(4, input_shape, lay, rng())
    assert z.shape == (4,) + p.shape(input_shape, lay)
    x = p.to_input(tf.constant(z), input_shape, lay).numpy()
    assert x.shape == (4,) + input_shape and x.dtype == np.float32
    assert x.min() >= -1.0 and x.max() <= 3.0 and x.std() > 0.01


@pytest.mark.parametrize("input_shape", FOURIER_SHAPES)
def test_fourier_gradients_reach_the_parameters(input_shape):
    p = params.fourier()
    lay = layout(input_shape)
    z = tf.constant(p.init(2, input_shape, lay, rng()))
    w = tf.constant(rng(1).normal(size=(2,) + input_shape).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss = tf.reduce_sum(w * p.to_input(z, input_shape, lay))
    grad = tape.gradient(loss, z).numpy()
    assert grad.shape == z.shape and np.all(np.isfinite(grad)) and np.abs(grad).max() > 0


def logit_of(x, value_range):
    lo, hi = value_range
    u = (x.astype(np.float64) - lo) / (hi - lo)
    return np.log(u / (1 - u))


@pytest.mark.parametrize("input_shape, channel", [((64,), None), ((64, 2), 1)])
def test_fourier_single_coefficient_is_a_sinusoid_1d(input_shape, channel):
    p = params.fourier(value_range=(0.0, 1.0))
    lay = layout(input_shape)
    z = np.zeros((1,) + p.shape(input_shape, lay), np.float32)
    k = 5
    z[0, channel or 0, k, 0] = 1.0
    x = p.to_input(tf.constant(z), input_shape, lay).numpy()[0]
    if channel is not None:
        np.testing.assert_allclose(x[:, 0], 0.5, atol=1e-6)  # the other channel is flat
        x = x[:, channel]
    s = logit_of(x, (0.0, 1.0))
    assert np.argmax(np.abs(np.fft.rfft(x - x.mean()))) == k
    wave = np.cos(2 * np.pi * k * np.arange(64) / 64)
    np.testing.assert_allclose(s, s.max() * wave, atol=1e-4)


@pytest.mark.parametrize("input_shape", [(28, 28, 1), (9, 11, 3), (8, 12), (10, 7, 2)])
def test_fourier_single_coefficient_is_a_sinusoid_2d(input_shape):
    p = params.fourier(value_range=(0.0, 1.0))
    lay = layout(input_shape)
    h, w = input_shape[:2]
    ky, kx = 2, 3
    z = np.zeros((1,) + p.shape(input_shape, lay), np.float32)
    z[0, 0, ky, kx, 0] = 1.0
    x = p.to_input(tf.constant(z), input_shape, lay).numpy()[0]
    if lay.channel_axis is not None:
        x = x[..., 0]
    peak = np.unravel_index(np.argmax(np.abs(np.fft.rfft2(x - x.mean()))), (h, w // 2 + 1))
    assert peak == (ky, kx)
    yy, xx = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    wave = np.cos(2 * np.pi * (ky * yy / h + kx * xx / w))
    s = logit_of(x, (0.0, 1.0))
    np.testing.assert_allclose(s, s.max() * wave, atol=1e-4)


def test_fourier_low_frequencies_have_larger_amplitude():
    p = params.fourier()
    lay = layout((64,))
    amplitudes = []
    for k in (1, 4, 16):
        z = np.zeros((1,) + p.shape((64,), lay), np.float32)
        z[0, 0, k, 0] = 0.1
        amplitudes.append(np.ptp(logit_of(p.to_input(tf.constant(z), (64,), lay).numpy(), (0, 1))))
    assert amplitudes[0] > amplitudes[1] > amplitudes[2]


def tiny_generator(out_shape, dim=4):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((dim,)),
            keras.layers.Dense(int(np.prod(out_shape))),
            keras.layers.Reshape(out_shape),
        ]
    )


@pytest.mark.parametrize("input_shape", [(9, 11, 3), (40, 2)])
def test_latent_gives_the_generator_output(input_shape):
    gen = tiny_generator(input_shape)
    p = params.latent(gen)
    lay = layout(input_shape)
    assert p.shape(input_shape, lay) == (4,)
    z = p.init(3, input_shape, lay, rng())
    assert z.shape == (3, 4) and z.dtype == np.float32
    x = p.to_input(tf.constant(z), input_shape, lay).numpy()
    assert x.shape == (3,) + input_shape
    np.testing.assert_allclose(x, gen(z).numpy(), rtol=1e-6)
    np.testing.assert_array_equal(p.project(tf.constant(z)).numpy(), z)


def test_latent_gradients_reach_z():
    gen = tiny_generator((9, 11, 3))
    p = params.latent(gen)
    z = tf.constant(p.init(2, (9, 11, 3), layout((9, 11, 3)), rng()))
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss = tf.reduce_sum(p.to_input(z, (9, 11, 3), layout((9, 11, 3))))
    assert np.abs(tape.gradient(loss, z).numpy()).max() > 0


def test_latent_uniform_init_is_in_unit_box():
    gen = tiny_generator((50,))
    z = params.latent(gen, distribution="uniform").init(6, (50,), layout((50,)), rng())
    assert z.shape == (6, 4) and z.min() >= -1 and z.max() <= 1


@pytest.mark.parametrize("model_input", [(9, 11, 1), (11, 9, 3), (40, 2)])
def test_latent_raises_when_generator_output_does_not_fit(model_input):
    p = params.latent(tiny_generator((9, 11, 3)))
    with pytest.raises(ValueError):
        p.shape(model_input, layout(model_input))
    with pytest.raises(ValueError):
        p.init(2, model_input, layout(model_input), rng())


@pytest.mark.parametrize("shape", [(256,), (16384,), (32, 32, 1), (128, 96, 3)])
def test_fourier_signal_amplitude_does_not_grow_with_size(shape):
    """A unit-variance spectrum gives a signal of about unit variance at every size and rank, so
    the same learning rate suits a 256-sample clip and a 16k one."""
    fourier = params.fourier(sd=1.0, value_range=(-1e6, 1e6))  # a wide range: sigmoid ~ linear
    layout = layout_of((None,) + shape)
    p = fourier.init(8, shape, layout, np.random.default_rng(0))
    x = fourier.to_input(tf.constant(p), shape, layout).numpy()
    pre_sigmoid_std = np.std(x) / (2e6 / 4)  # sigmoid'(0) = 1/4
    assert 0.7 < pre_sigmoid_std < 1.6, pre_sigmoid_std
