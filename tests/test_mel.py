import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfam.audio import mel as M

SR = M.SAMPLE_RATE


# --- independent NumPy references (scalar formulas, loops; written without looking at tfam.audio.mel) ---
def slaney_mel(hz):
    return 3.0 * hz / 200.0 if hz < 1000.0 else 15.0 + 27.0 * math.log(hz / 1000.0) / math.log(6.4)


def slaney_hz(mel):
    return 200.0 * mel / 3.0 if mel < 15.0 else 1000.0 * 6.4 ** ((mel - 15.0) / 27.0)


def reference_filterbank(sr=SR, n_fft=M.N_FFT, n_mels=M.N_MELS, fmin=M.FMIN, fmax=M.FMAX):
    lo, hi = slaney_mel(fmin), slaney_mel(fmax)
    edges = [slaney_hz(lo + (hi - lo) * j / (n_mels + 1)) for j in range(n_mels + 2)]
    fb = np.zeros((n_fft // 2 + 1, n_mels))
    for i in range(n_mels):
        a, b, c = edges[i : i + 3]
        height = 2.0 / (c - a)  # unit-area triangle
        for k in range(n_fft // 2 + 1):
            f = k * sr / n_fft
            if a < f <= b:
                fb[k, i] = height * (f - a) / (b - a)
            elif b < f < c:
                fb[k, i] = height * (c - f) / (c - b)
    return fb


def reference_magnitude(y, n_fft=M.N_FFT, hop=M.HOP, win=M.WIN):
    """librosa.stft(center=True, pad_mode="reflect") magnitude, (frames, bins)."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)  # periodic Hann
    left = (n_fft - win) // 2
    window = np.pad(window, (left, n_fft - win - left))  # librosa centres a short window
    y = np.pad(y.astype(np.float64), n_fft // 2, mode="reflect")
    n = 1 + (len(y) - n_fft) // hop
    frames = np.stack([y[t * hop : t * hop + n_fft] for t in range(n)])
    return np.abs(np.fft.rfft(frames * window, axis=1))


def reference_log_mel(y, **kw):
    return np.log(np.maximum(reference_magnitude(y, **kw) @ reference_filterbank(), 1e-5)).T


def tone(freq, samples, amplitude=0.5):
    return (amplitude * np.sin(2 * np.pi * freq * np.arange(samples) / SR)).astype(np.float32)


def chirp_and_tones(samples):
    t = np.arange(samples) / SR
    duration = samples / SR
    chirp = 0.3 * np.sin(2 * np.pi * (100 * t + (4000 - 100) / (2 * duration) * t**2))
    return (chirp + 0.2 * np.sin(2 * np.pi * 440 * t) + 0.1 * np.sin(2 * np.pi * 1250 * t)).astype(
        np.float32
    )


def spectral_convergence(magnitude, waveform):
    rebuilt = M.stft_magnitude(waveform).numpy()
    return np.linalg.norm(magnitude - rebuilt) / np.linalg.norm(magnitude)


# --- filterbank --------------------------------------------------------------------------------
def test_mel_scale_matches_librosa_documented_values():
    # librosa's docstring examples (hz_to_mel, mel_to_hz, mel_frequencies(n_mels=40))
    np.testing.assert_allclose(M.hz_to_mel([60, 110, 220, 440]), [0.9, 1.65, 3.3, 6.6], rtol=1e-12)
    np.testing.assert_allclose(
        M.mel_to_hz([1, 2, 3, 4, 5]), [66.667, 133.333, 200.0, 266.667, 333.333], atol=1e-3
    )
    librosa_40 = [
        0.0,
        85.317,
        170.635,
        255.952,
        341.269,
        426.586,
        511.904,
        597.221,
        682.538,
        767.855,
        853.173,
        938.49,
        1024.856,
        1119.114,
        1222.042,
        1334.436,
        1457.167,
        1591.187,
        1737.532,
        1897.337,
        2071.84,
        2262.393,
        2470.47,
        2697.686,
        2945.799,
        3216.731,
        3512.582,
        3835.643,
        4188.417,
        4573.636,
        4994.285,
        5453.621,
        5955.205,
        6502.92,
        7101.009,
        7754.107,
        8467.272,
        9246.028,
        10096.408,
        11025.0,
    ]
    np.testing.assert_allclose(M.mel_frequencies(40, 0.0, 11025.0), librosa_40, atol=1e-3)
    hz = np.linspace(0, 11025, 101)
    np.testing.assert_allclose(M.mel_to_hz(M.hz_to_mel(hz)), hz, atol=1e-9)


@pytest.mark.parametrize(
    "settings",
    [
        {},
        dict(n_fft=512, n_mels=40, fmin=50.0, fmax=11025.0),
        dict(sr=16000, n_fft=400, n_mels=64, fmin=125.0, fmax=7600.0),
    ],
)
def test_mel_matrix_matches_independent_numpy_slaney(settings):
    sr = settings.pop("sr", SR)
    expected = reference_filterbank(
        sr, **{**dict(n_fft=M.N_FFT, n_mels=M.N_MELS, fmin=M.FMIN, fmax=M.FMAX), **settings}
    )
    got = M.mel_matrix(sr, **settings)
    assert got.dtype == np.float32 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-8)


def test_mel_matrix_properties():
    w = M.mel_matrix().astype(np.float64)
    bins = np.arange(w.shape[0]) * SR / M.N_FFT
    assert w.shape == (513, 80) and w.min() >= 0
    # band edges: nothing at DC (fmin 0 is a zero of band 0) or above fmax 8000 Hz
    covered = np.nonzero(w.sum(axis=1))[0]
    assert bins[covered[0]] > 0 and bins[covered[-1]] < 8000 < bins[covered[-1] + 1]
    centres = M.mel_frequencies(82)[1:-1]
    for i in range(80):
        support = np.nonzero(w[:, i])[0]
        assert np.all(np.diff(support) == 1)  # one contiguous piece
        peak = support[np.argmax(w[support, i])]
        assert abs(bins[peak] - centres[i]) <= SR / M.N_FFT  # peak within a bin of the centre
        rising, falling = (
            np.diff(w[support[0] : peak + 1, i]),
            np.diff(w[peak : support[-1] + 1, i]),
        )
        assert np.all(rising > 0) and np.all(falling < 0)  # triangle
        # Slaney normalization: unit area in Hz, so the Riemann sum is ~1 (coarse for narrow bands)
        assert w[:, i].sum() * SR / M.N_FFT == pytest.approx(1.0, abs=0.1)
    wide = w[:, 40:].sum(axis=0) * SR / M.N_FFT
    np.testing.assert_allclose(wide, 1.0, atol=0.015)
    # mel spacing: linear below 1 kHz (constant Hz steps), geometric above
    assert np.allclose(np.diff(centres[centres < 1000]), np.diff(centres)[0])
    above = centres[centres > 1000]
    assert np.allclose(above[1:] / above[:-1], above[1] / above[0])


# --- log-mel -----------------------------------------------------------------------------------
def test_log_mel_shapes_seed_clip():
    y = np.zeros((2, M.CLIP_SAMPLES), np.float32)
    assert M.CLIP_SAMPLES == 66150 and M.CLIP_FRAMES == 259
    assert M.log_mel(y).shape == (2, 80, 259)
    assert M.log_mel(y[..., None]).shape == (2, 80, 259)
    assert M.LogMel()(y).shape == (2, 80, 259, 1)


@pytest.mark.parametrize("win", [M.WIN, 512])
def test_log_mel_matches_numpy_reference(win):
    rng = np.random.default_rng(0)
    y = np.stack([0.3 * rng.normal(size=5000), chirp_and_tones(5000)]).astype(np.float32)
    got = M.log_mel(y, win=win).numpy()
    assert got.shape == (2, 80, 5000 // 256 + 1)
    for row, x in zip(got, y):
        expected = reference_log_mel(x, win=win)
        # float32 FFT: absolute error ~1e-6 of the loudest bin, so compare linear mels
        np.testing.assert_allclose(
            np.exp(row), np.exp(expected), rtol=1e-4, atol=2e-6 * np.exp(expected).max()
        )
        np.testing.assert_allclose(row, expected, atol=2e-3)


@pytest.mark.parametrize("band", [3, 20, 45, 70])
def test_pure_tone_peaks_in_its_mel_band(band):
    centres = M.mel_frequencies(82)[1:-1]
    out = M.log_mel(tone(centres[band], 8192)[None]).numpy()[0]
    # the first and last frames see the reflected (kinked) signal
    assert np.all(np.argmax(out[:, 1:-1], axis=0) == band)
    # half-way between two centres one of the two wins
    between = M.log_mel(tone((centres[band] + centres[band + 1]) / 2, 8192)[None]).numpy()[0]
    assert np.all(np.isin(np.argmax(between[:, 1:-1], axis=0), [band, band + 1]))


def test_log_mel_floor_and_finite_gradient_on_silence():
    y = tf.zeros((1, 4096))
    with tf.GradientTape() as tape:
        tape.watch(y)
        out = M.log_mel(y)
    np.testing.assert_allclose(out.numpy(), math.log(1e-5), rtol=1e-6)
    assert np.all(np.isfinite(tape.gradient(out, y).numpy()))
    # a quiet tone: bands far from it sit exactly on the floor, the tone's band above it
    quiet = M.log_mel(tone(1000.0, 4096, 1e-3)[None]).numpy()
    assert quiet.min() == pytest.approx(math.log(1e-5)) and quiet.max() > math.log(1e-3)


def test_unit_scaling_bounds_and_inverse():
    assert M.LOG_MIN == pytest.approx(math.log(1e-5)) and M.LOG_MAX == pytest.approx(math.log(100))
    # the loudest signals in [-1, 1] stay inside [0, 1]
    n = 8192
    loud = np.stack(
        [tone(f, n, 1.0) for f in (100.0, 1000.0, 7000.0)]
        + [
            np.sign(tone(200.0, n, 1.0)),
            np.ones(n, np.float32),
            np.sign(np.random.default_rng(1).normal(size=n)).astype(np.float32),
        ]
    )
    unit = M.to_unit(M.log_mel(loud)).numpy()
    assert unit.min() >= -1e-6 and unit.max() < 1.0
    assert M.to_unit(tf.constant(math.log(1e-5))).numpy() == pytest.approx(0.0, abs=1e-7)
    x = np.random.default_rng(2).uniform(-11.5, 4.6, size=(2, 80, 7)).astype(np.float32)
    np.testing.assert_allclose(M.from_unit(M.to_unit(tf.constant(x))).numpy(), x, atol=1e-5)
    layer = M.LogMel(scale_to_unit=True)
    np.testing.assert_allclose(layer(loud).numpy()[..., 0], unit, atol=1e-6)


def test_log_mel_layer_saves_and_loads_in_safe_mode(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6000, 1))
    x = M.LogMel(scale_to_unit=True, name="logmel")(inputs)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inputs, keras.layers.Dense(4)(x))
    assert model.get_layer("logmel").output.shape == (None, 80, 24, 1)
    path = str(tmp_path / "mel.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    y = np.random.default_rng(3).normal(scale=0.3, size=(2, 6000, 1)).astype(np.float32)
    np.testing.assert_allclose(loaded(y).numpy(), model(y).numpy(), atol=1e-6)
    assert loaded.get_layer("logmel").get_config() == model.get_layer("logmel").get_config()


# --- Griffin-Lim --------------------------------------------------------------------------------
def test_istft_inverts_stft_exactly_including_edges():
    y = chirp_and_tones(6000)[None]
    np.testing.assert_allclose(M.istft(M.stft(y), 6000).numpy(), y, atol=1e-5)


@pytest.fixture(scope="module")
def gl_run():
    """Spectral convergence of fast Griffin-Lim on 1.5 s of chirp + tones, by iterations."""
    y = chirp_and_tones(33075)[None]
    magnitude = M.stft_magnitude(y).numpy()
    run = tf.function(lambda s, n: M.griffin_lim(s, n, length=33075))  # n a tensor: one trace
    return {
        n: spectral_convergence(magnitude, run(magnitude, tf.constant(n))) for n in (0, 8, 32, 64)
    }


def test_griffin_lim_reconstructs_magnitude(gl_run):
    assert gl_run[64] < 0.1
    assert gl_run[32] < 0.15
    assert gl_run[0] > gl_run[8] > gl_run[32] > gl_run[64]


def test_griffin_lim_is_deterministic_batched_and_works_in_tf_function():
    rng = np.random.default_rng(4)
    y = np.stack([chirp_and_tones(4096), 0.2 * rng.normal(size=4096).astype(np.float32)])
    magnitude = M.stft_magnitude(y).numpy()  # (2, 17, 513)
    eager = M.griffin_lim(magnitude, 8).numpy()
    assert eager.shape == (2, 16 * 256)
    np.testing.assert_array_equal(M.griffin_lim(magnitude, 8).numpy(), eager)
    graph = tf.function(lambda s: M.griffin_lim(s, 8))(magnitude).numpy()
    np.testing.assert_allclose(graph, eager, atol=1e-5)
    # rows are independent: the second row alone gives the same waveform (same initial phase)
    for seed in (0, None):
        single = M.griffin_lim(magnitude[1:], 8, seed=seed).numpy()
        np.testing.assert_allclose(
            M.griffin_lim(magnitude, 8, seed=seed).numpy()[1:], single, atol=1e-5
        )
    assert M.griffin_lim(magnitude, 8, length=4096 + 100).shape == (2, 4196)
    with pytest.raises(ValueError, match="frames"):
        M.griffin_lim(magnitude, 8, length=5000)


@pytest.mark.parametrize("phase_gradient", [True, False])
def test_gradients_reach_the_magnitude(phase_gradient):
    magnitude = tf.constant(M.stft_magnitude(chirp_and_tones(4096)[None]))
    probe = tf.constant(np.random.default_rng(5).normal(size=(1, 4096)).astype(np.float32))

    @tf.function
    def grad(s):
        with tf.GradientTape() as tape:
            tape.watch(s)
            loss = tf.reduce_sum(M.griffin_lim(s, 8, phase_gradient=phase_gradient) * probe)
        return tape.gradient(loss, s)

    g = grad(magnitude).numpy()
    assert np.all(np.isfinite(g)) and np.abs(g).max() > 0


def test_gradients_reach_the_log_mel_through_mel_griffin_lim():
    lm = M.log_mel(chirp_and_tones(4096)[None])
    silence = tf.fill(lm.shape, math.log(1e-5))
    for x in (lm, silence):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(M.mel_griffin_lim(x, 8) ** 2)
        g = tape.gradient(loss, x).numpy()
        assert np.all(np.isfinite(g)) and np.abs(g).max() > 0


def test_mel_to_magnitude_is_a_nonnegative_right_inverse():
    y = chirp_and_tones(8192)[None]
    magnitude = M.stft_magnitude(y).numpy()
    mel = magnitude @ M.mel_matrix()  # (1, frames, 80)
    back = M.mel_to_magnitude(np.transpose(mel, [0, 2, 1])).numpy()
    assert back.shape == magnitude.shape and back.min() >= 0
    assert np.all(back[..., 372:] == 0)  # above fmax
    # clamping costs a little consistency: the mel of the estimate stays close to the input
    assert np.linalg.norm(back @ M.mel_matrix() - mel) / np.linalg.norm(mel) < 0.1
    from_log = M.mel_to_magnitude(M.log_mel(y), from_log=True).numpy()
    np.testing.assert_allclose(from_log, back, atol=1e-3)


def test_mel_griffin_lim_round_trip_keeps_the_loud_bands():
    y = chirp_and_tones(16384)[None]
    lm = M.log_mel(y).numpy()
    out = tf.function(lambda x: M.mel_griffin_lim(x, 32, length=16384))(lm)
    again = M.log_mel(out).numpy()
    loud = lm > lm.max() - 6
    assert np.sqrt(np.mean((again - lm)[loud] ** 2)) < 1.0


def test_mel_griffin_lim_layer_composes_with_a_raw_classifier_and_reloads(tmp_path):
    keras.utils.set_random_seed(6)
    inputs = keras.Input((80, 17, 1))
    audio = M.MelGriffinLim(n_iter=4, scaled_to_unit=True, length=4096, name="vocoder")(inputs)
    x = keras.layers.Reshape((4096, 1))(audio)
    x = keras.layers.Conv1D(4, 9, strides=4, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(4)(x))
    assert model.get_layer("vocoder").output.shape == (None, 4096)
    path = str(tmp_path / "vocoder.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    unit = np.random.default_rng(7).uniform(0.2, 0.8, size=(2, 80, 17, 1)).astype(np.float32)
    np.testing.assert_allclose(loaded(unit).numpy(), model(unit).numpy(), atol=1e-5)
    # the layer itself: same numbers as the function
    direct = M.mel_griffin_lim(M.from_unit(unit[..., 0]), 4, length=4096)
    np.testing.assert_allclose(
        M.MelGriffinLim(4, 4096, True)(unit).numpy(), direct.numpy(), atol=1e-6
    )
    x = tf.constant(unit)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logit = loaded(x)[:, 0]
    g = tape.gradient(logit, x).numpy()
    assert np.all(np.isfinite(g)) and np.abs(g).max() > 0
