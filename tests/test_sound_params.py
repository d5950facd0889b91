"""The short-time-spectrum and magnitude-constrained (MACO) parameterizations of a waveform: they
hold the loudness, the silence outside the heard span and the band themselves, and a dream through
them raises its objective."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfam import engine, objectives
from tfam.audio.sound_params import maco, mean_magnitude, pink_magnitude, stft
from tfam.layout import layout_of
from tfam.regularizers import high_band_fraction

SAMPLES = 2048


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(2)
    inputs = keras.Input((SAMPLES,))
    x = keras.layers.Reshape((SAMPLES, 1))(inputs)
    x = keras.layers.Conv1D(6, 9, strides=2, padding="same", activation="relu")(x)
    return keras.Model(inputs, keras.layers.Dense(4)(keras.layers.GlobalAveragePooling1D()(x)))


@pytest.mark.parametrize("make", [stft, maco], ids=["stft", "maco"])
def test_a_dream_through_it_rises_at_its_loudness_in_its_span_and_band(model, make):
    param = make(8000, rms=0.05, heard=(500, 1500), cutoff_hz=3000)
    result = engine.dream(
        model,
        objectives.class_logit([0, 1]),
        param=param,
        steps=60,
        learning_rate=0.05,
        verbose=0,
        spatial_rank=1,
    )
    x = result.x
    assert np.all(result.best_value > result.history[0] + 0.003), result.history[[0, -1]]
    np.testing.assert_allclose(np.sqrt(np.mean(x[:, 500:1500] ** 2, axis=1)), 0.05, rtol=1e-4)
    assert not x[:, :500].any() and not x[:, 1500:].any()
    high = high_band_fraction(x, 3000, 8000, layout_of((None, SAMPLES))).numpy()
    assert np.all(high < 1e-3), high  # white noise: 0.25


def test_the_stft_inverse_covers_every_sample_evenly():
    # constant coefficients in one bin: a steady tone of even level from the first sample to the
    # last (lead-in and tail frames, so the window's overlap-add is complete everywhere)
    param = stft(8000, frame=256, hop=64, rms=0.1)
    shape = param.shape((SAMPLES,), layout_of((None, SAMPLES)))
    coefficients = np.zeros((1,) + shape, np.float32)
    coefficients[0, :, 32, 0] = 1.0  # 1 kHz
    x = param.to_input(tf.constant(coefficients), (SAMPLES,), layout_of((None, SAMPLES))).numpy()
    envelope = np.abs(x[0]).reshape(-1, 64).max(axis=1)  # peak per 8 ms
    np.testing.assert_allclose(envelope, envelope.mean(), rtol=0.02)


def test_maco_keeps_its_magnitude_and_takes_one_per_row():
    layout = layout_of((None, SAMPLES))
    wanted = np.stack([pink_magnitude(SAMPLES), np.ones(SAMPLES // 2 + 1, np.float32)])
    param = maco(8000, magnitude=wanted, rms=0.1, fade=0)  # no ramp at the ends
    phase = np.random.default_rng(0).uniform(-np.pi, np.pi, (2, SAMPLES // 2 + 1))
    x = param.to_input(tf.constant(phase, tf.float32), (SAMPLES,), layout).numpy()
    got = np.abs(np.fft.rfft(x, axis=1))
    scale = got[:, 1:].sum(axis=1, keepdims=True) / wanted[:, 1:].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(got[:, 1:-1], scale * wanted[:, 1:-1], rtol=1e-3, atol=1e-4)
    clips = np.random.default_rng(1).standard_normal((4, SAMPLES))
    assert mean_magnitude(clips).shape == (SAMPLES // 2 + 1,)
    with pytest.raises(ValueError, match="bins"):
        maco(8000, magnitude=np.ones(10)).to_input(tf.zeros((1, 1025)), (SAMPLES,), layout)
    with pytest.raises(ValueError, match="one waveform"):
        stft(8000).shape((32, 32), layout_of((None, 32, 32)))


@pytest.mark.parametrize("heard", [(500, 1500), (517, 1499), (70, SAMPLES), (0, 1900)])
def test_the_stft_optimizes_only_the_frames_that_reach_the_heard_span(heard):
    # the frames that reach no heard sample are left out of the parameters: the waveform is the
    # one the whole spectrum makes with those frames at zero
    layout = layout_of((None, SAMPLES))
    part = stft(8000, frame=256, hop=128, rms=0.1, heard=heard, cutoff_hz=3500, fade=20)
    whole = stft(8000, frame=256, hop=128, rms=0.1, heard=None, cutoff_hz=3500)
    part_shape, whole_shape = part.shape((SAMPLES,), layout), whole.shape((SAMPLES,), layout)
    assert part_shape[0] < whole_shape[0] or heard[1] - heard[0] > SAMPLES - 256
    assert part_shape[1] == whole_shape[1] == 113  # bins at or below 3.5 kHz of 129
    coefficients = np.random.default_rng(0).standard_normal((2,) + part_shape).astype(np.float32)
    placed = np.zeros((2,) + whole_shape, np.float32)
    first = heard[0] // 128
    placed[:, first : first + part_shape[0]] = coefficients
    wave = whole.synthesize(tf.constant(placed), (SAMPLES,), layout)
    expected = part.finish(wave, (SAMPLES,), layout).numpy()  # silent outside the heard span
    got = part.to_input(tf.constant(coefficients), (SAMPLES,), layout).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-6)
