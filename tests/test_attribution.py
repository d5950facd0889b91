"""Attribution maps on tfam's model kinds, checked where the answer is known: classes told apart by a
tone's frequency (the map must sit on that frequency) or by a burst's pitch at a random time (the map
must sit on the burst)."""

import keras
import numpy as np
import pytest
import scipy.ndimage
from tone_clips import RATE, TONES, tone_clips  # tests/tone_clips.py

from tfam import attribution as at
from tfam.audio import mel
from tfam.audio import salient as sa
from tfam.models import urbansound_cnn
from tfam.models.emotion import emotion_mel_cnn, emotion_raw_cnn


def burst_clips(per_class, seed, samples=1024, length=256):
    """Class 0: a 800 Hz burst, class 1: a 2400 Hz burst, each at a random time, class 2: noise alone;
    and the burst starts. With the noise class a model must hear each burst: with two classes it
    could tell one by the absence of the other, and under some seeds its maps of that class sat
    anywhere (measured: inside / outside about 2)."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / RATE
    labels = np.repeat(np.arange(3), per_class)
    clips, starts = [], []
    for c in labels:
        start = int(rng.integers(0, samples - length))
        envelope = np.zeros(samples)
        envelope[start : start + length] = np.hanning(length)
        clips.append(
            0.02 * rng.standard_normal(samples)
            + 0.5 * envelope * np.sin(2 * np.pi * (800.0, 2400.0, 0.0)[c] * t)
        )
        starts.append(start)
    return np.array(clips, np.float32), labels, np.array(starts)


def fit(model, x, y, epochs, batch_size, learning_rate=2e-3):
    model.compile(
        keras.optimizers.Adam(learning_rate),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, epochs=epochs, batch_size=batch_size, verbose=0)
    return model


@pytest.fixture(scope="module")
def tone_models(seed):
    """Seed 002's CNN trained on the tones with the waveform front end, and the same weights behind
    the 129x13x1 spectrogram input; test clips and labels."""
    keras.utils.set_random_seed(seed)
    x, y = tone_clips(12, seed=10 * seed)
    waveform = fit(urbansound_cnn(3, "waveform", width=0.0625), x, y, epochs=8, batch_size=12)
    spectrogram = urbansound_cnn(3, "spectrogram", width=0.0625)
    spectrogram.set_weights(waveform.get_weights())  # the front end has no weights
    xt, yt = tone_clips(3, seed=10 * seed + 1)
    return waveform, spectrogram, xt, yt


@pytest.fixture(scope="module")
def burst_model(seed):
    """Seed 000's raw-waveform CNN (1-D convs, small) trained on bursts at random times."""
    keras.utils.set_random_seed(seed)
    x, y, _ = burst_clips(16, seed=10 * seed)
    model = fit(
        emotion_raw_cnn(3, samples=1024, width=0.5, dilations=(1, 2, 4)),
        x,
        y,
        epochs=20,
        batch_size=12,
        learning_rate=5e-3,
    )
    xt, yt, starts = burst_clips(4, seed=10 * seed + 1)
    return model, xt, yt, starts


def two_stream_model(samples=8000, n_classes=3):
    """A small slow/fast model: log-mel front end, a fast pathway at every frame and a slow one at
    every 4th (strided in time), each averaged over time, heads concatenated."""
    wave = keras.Input((samples,), name="waveform")
    spec = mel.LogMel(**sa.mel_settings(RATE), name="log_mel")(wave)
    fast = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="fast_conv1")(spec)
    fast = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="fast_conv2")(fast)
    slow = keras.layers.Conv2D(
        8, 3, strides=(1, 4), padding="same", activation="relu", name="slow_conv1"
    )(spec)
    slow = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="slow_conv2")(slow)
    heads = [
        keras.layers.GlobalAveragePooling2D(name=f"{n}_pool")(s)
        for n, s in (("fast", fast), ("slow", slow))
    ]
    x = keras.layers.Concatenate(name="heads")(heads)
    return keras.Model(wave, keras.layers.Dense(n_classes, name="logits")(x), name="two_stream")


def linear_two_stream_model(bands=16, frames=32):
    """Two pathways whose Grad-CAM is known: the fast one is the input itself, the slow one the
    input averaged over every 4 frames; each is averaged and class 0 is their sum."""
    x = keras.Input((bands, frames, 1), name="features")
    ones = keras.initializers.Ones()
    fast = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer=ones, name="fast_conv")(x)
    slow = keras.layers.AveragePooling2D((1, 4), name="slow_pool")(x)
    slow = keras.layers.Conv2D(1, 1, use_bias=False, kernel_initializer=ones, name="slow_conv")(
        slow
    )
    heads = keras.layers.Concatenate()(
        [keras.layers.GlobalAveragePooling2D()(fast), keras.layers.GlobalAveragePooling2D()(slow)]
    )
    logits = keras.layers.Dense(
        2,
        use_bias=False,
        name="logits",
        kernel_initializer=keras.initializers.Constant([[1.0, -1.0], [1.0, -1.0]]),
    )(heads)
    return keras.Model(x, logits)


def peak_frequency(maps, freqs):
    """The frequency at which each row's map, averaged over time, is largest."""
    return freqs[maps.mean(axis=2).argmax(axis=1)]


@pytest.mark.trains
def test_the_trained_models_know_their_classes(tone_models, burst_model, measured):
    waveform, spectrogram, xt, yt = tone_models
    hear = sa.hearing(spectrogram)
    p = sa.probabilities(spectrogram, hear, xt)
    measured("tones: p(true class)", p[np.arange(len(yt)), yt])
    assert (p.argmax(1) == yt).all()
    raw, bt, by, _ = burst_model
    p = sa.probabilities(raw, sa.hearing(raw, RATE), bt)
    measured("bursts: p(true class)", p[np.arange(len(by)), by])
    assert (p.argmax(1) == by).all()


@pytest.mark.trains
@pytest.mark.parametrize("method", at.KERAS_VIS_METHODS)
@pytest.mark.parametrize("front", ["waveform", "spectrogram"])
def test_maps_sit_on_the_tone_of_the_class(tone_models, method, front, measured):
    waveform, spectrogram, xt, yt = tone_models
    model = waveform if front == "waveform" else spectrogram
    hear = sa.hearing(model)
    att = at.attribute(model, np.asarray(hear.model_input(xt)), method, target=yt)
    assert att.maps.shape == (len(xt), 129, 13)  # over the spectrogram, for both front ends
    assert att.features.shape == att.maps.shape
    assert att.maps.min() >= 0.0 and att.maps.max() <= 1.0
    assert np.allclose(att.maps.max(axis=(1, 2)), 1.0, atol=1e-3)
    assert att.frontend == ("spectrogram" if front == "waveform" else None)
    # tf-keras-vis' Grad-CAM++ weighs by sums; tfam's default, by measurement, by means
    assert att.backend == ("tfam" if method == "gradcam++" else "tf-keras-vis")
    peaks = peak_frequency(att.maps, hear.freqs)
    off = measured("Hz between the map's peak and the tone", np.abs(peaks - np.array(TONES)[yt]))
    on_tone = [np.all(off[yt == c] < 200) for c in range(len(TONES))]
    if method in ("saliency", "scorecam"):
        assert all(on_tone), peaks  # measured under seeds 0-7: 125 Hz off at most
    else:
        # Grad-CAM and Grad-CAM++ weigh each channel by its gradient: under some seeds one class's
        # maps sit far from its tone (1700-3400 Hz; Grad-CAM under 3 of seeds 0-7, Grad-CAM++ under
        # 1), where saliency and Score-CAM sit on it. The other classes' sit on theirs.
        assert sum(on_tone) >= len(TONES) - 1, peaks


@pytest.mark.parametrize("method", at.KERAS_VIS_METHODS)
def test_our_code_matches_tf_keras_vis_on_a_2d_model(tone_models, method):
    _, spectrogram, xt, yt = tone_models
    x = np.asarray(sa.hearing(spectrogram).model_input(xt))
    same = dict(gradcam_pp_weights="sum")  # tf-keras-vis' Grad-CAM++ (tfam's default: "mean")
    ours = at.attribute(spectrogram, x, method, target=yt, backend="tfam", **same)
    theirs = at.attribute(spectrogram, x, method, target=yt, backend="tf-keras-vis", **same)
    assert ours.backend == "tfam" and theirs.backend == "tf-keras-vis"
    assert ours.layers == theirs.layers == (() if method == "saliency" else ("conv4",))
    assert np.max(np.abs(ours.maps - theirs.maps)) < 1e-3


@pytest.mark.trains
@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "scorecam"])
def test_cam_over_time_sits_on_the_burst(burst_model, method, measured):
    model, xt, yt, starts = burst_model
    att = at.attribute(model, xt, method, target=yt)
    assert att.backend == "tfam" and att.layers == ("conv3",)  # 1-D: tfam's code
    assert att.maps.shape == xt.shape
    bursts = yt < 2  # the noise class has none
    inside = np.array([m[s : s + 256].mean() for m, s in zip(att.maps[bursts], starts[bursts])])
    outside = np.array(
        [np.delete(m, np.s_[s : s + 256]).mean() for m, s in zip(att.maps[bursts], starts[bursts])]
    )
    ratio = measured("map inside / outside the burst", inside / np.maximum(outside, 1e-12))
    if method == "gradcam++":
        # Grad-CAM++ (tfam's formula is tf-keras-vis') goes astray for one of the two classes under
        # some seeds: that class's maps miss the burst (inside / outside 0.5-2.5) or are all zero
        # (under 4 of seeds 0-7, where Grad-CAM and Score-CAM sit on it); the other class's sit on it.
        assert max(ratio[yt[bursts] == c].min() for c in (0, 1)) > 3, ratio
    else:
        assert np.all(ratio > 3), ratio  # measured under seeds 0-7: 5.7 and more


def test_saliency_of_a_raw_waveform_model(burst_model):
    model, xt, yt, _ = burst_model
    plain = at.attribute(model, xt, "saliency", target=yt)
    smooth = at.attribute(model, xt, "saliency", target=yt, smooth_samples=8)
    for att in (plain, smooth):
        assert att.maps.shape == xt.shape and att.backend == "tfam"
        assert att.maps.min() >= 0.0 and np.allclose(att.maps.max(axis=1), 1.0, atol=1e-3)
    assert not np.allclose(plain.maps, smooth.maps)
    with pytest.raises(ValueError, match="tf-keras-vis cannot"):
        at.attribute(model, xt, "gradcam", backend="tf-keras-vis")


def test_emotion_mel_cnn_maps_over_its_log_mel():
    keras.utils.set_random_seed(0)
    model = emotion_mel_cnn(4, width=0.0625)
    x = np.random.default_rng(0).uniform(size=(2, 80, 160, 1)).astype(np.float32)
    att = at.attribute(model, x, "gradcam++")
    assert att.maps.shape == (2, 80, 160) and att.layers == ("conv4",) and att.frontend is None


def test_two_streams_of_known_grad_cam_are_resized_and_combined():
    model = linear_two_stream_model()
    assert at.stream_layers(model) == ["fast_conv", "slow_conv"]
    x = np.full((2, 16, 32, 1), 0.1, np.float32)
    x[0, 3:6, 20:23] = 1.0  # an event: bands 3-5, frames 20-22
    x[1, 10:12, 5:7] = 1.0
    att = at.attribute(model, x, "gradcam", target=0)
    assert att.backend == "tfam" and att.layers == ("fast_conv", "slow_conv")
    # each stream's Grad-CAM is its activation / positions; weighted by positions and summed, the
    # map is the input plus its 4-frame average resized back to 32 frames
    pooled = x[..., 0].reshape(2, 16, 8, 4).mean(axis=-1)
    expected = at.normalize(x[..., 0] + at.resize_maps(pooled, (16, 32)).numpy()).numpy()
    assert np.allclose(
        att.maps, expected, atol=1e-3
    )  # (the normalization adds 1e-7 to tiny ranges)
    assert np.allclose(att.stream_maps["fast_conv"], at.normalize(x[..., 0]).numpy(), atol=1e-3)
    assert att.stream_maps["slow_conv"].shape == (2, 16, 32)
    for method in ("gradcam", "gradcam++", "scorecam"):
        maps = at.attribute(model, x, method, target=0).maps
        for m, (bands, frames) in zip(
            maps, ((slice(3, 6), slice(19, 24)), (slice(10, 12), slice(4, 8)))
        ):
            band, frame = np.unravel_index(m.argmax(), m.shape)
            assert bands.start <= band < bands.stop and frames.start <= frame < frames.stop, (
                method,
                band,
                frame,
            )


@pytest.mark.parametrize("method", at.KERAS_VIS_METHODS)
def test_a_slow_fast_model_on_a_log_mel_front_end(method):
    keras.utils.set_random_seed(0)
    model = two_stream_model()
    x, _ = tone_clips(1, seed=3, samples=8000)
    att = at.attribute(model, x, method, target=[0, 1, 2])
    hear = sa.hearing(model)
    shape = (3, len(hear.freqs), len(hear.times))  # the log-mel the model computes
    assert att.maps.shape == att.features.shape == shape and att.frontend == "log_mel"
    assert att.maps.min() >= 0.0 and att.maps.max() <= 1.0
    if method != "saliency":  # saliency needs no layer: tf-keras-vis computes it over the log-mel
        assert att.layers == ("fast_conv2", "slow_conv2") and att.backend == "tfam"
        assert all(m.shape == shape for m in att.stream_maps.values())


def test_layers_by_name_and_clear_errors(tone_models):
    _, spectrogram, xt, _ = tone_models
    x = np.asarray(sa.hearing(spectrogram).model_input(xt[:1]))
    att = at.attribute(spectrogram, x, "gradcam", layers="conv2", target=1)
    assert att.layers == ("conv2",) and att.targets.tolist() == [1]
    with pytest.raises(ValueError, match="unknown layer 'nope'"):
        at.attribute(spectrogram, x, "gradcam", layers="nope")
    with pytest.raises(ValueError, match="time or space axes"):
        at.attribute(spectrogram, x, "gradcam", layers="fc1")
    with pytest.raises(ValueError, match="out of range"):
        at.attribute(spectrogram, x, "gradcam", target=7)
    with pytest.raises(ValueError, match="unknown method"):
        at.attribute(spectrogram, x, "lime")
    with pytest.raises(ValueError, match="takes no layer"):
        at.attribute(spectrogram, x, "saliency", layers="conv2")
    dense = keras.Sequential([keras.Input((16,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="no convolutional layer"):
        at.attribute(dense, np.zeros((1, 16), np.float32), "gradcam")


def test_resize_keeps_the_corners_like_scipy_zoom():
    maps = np.random.default_rng(0).uniform(size=(2, 5, 3)).astype(np.float32)
    ours = at.resize_maps(maps, (17, 9)).numpy()
    theirs = scipy.ndimage.zoom(maps, (1, 17 / 5, 9 / 3), order=1)
    assert np.allclose(ours, theirs, atol=1e-5)
    assert np.allclose(
        at.resize_maps(maps[:, :, :1], (5, 4)).numpy(), np.repeat(maps[:, :, :1], 4, axis=2)
    )


def test_the_slow_fast_model_of_seed_003():
    from tfam.models.slowfast_audio import slowfast_audio, stream_features

    keras.utils.set_random_seed(0)
    model = slowfast_audio(
        3, input_shape=(64, None, 1), width=8, stages=(1, 1), sample_rate=RATE, samples=8000
    )
    # the last feature map of each stream: the residual blocks' outputs, as the model names them
    head = at.split_at_frontend(model)[1]
    assert at.stream_layers(head) == [
        stream_features(model)["slow"],
        stream_features(model)["fast"],
    ]
    x, _ = tone_clips(1, seed=4, samples=8000)
    att = at.attribute(model, x, "gradcam")
    hear = sa.hearing(model)
    assert att.frontend == "log_mel" and att.backend == "tfam" and len(att.layers) == 2
    assert att.maps.shape == (3, len(hear.freqs), len(hear.times)) == (3, 64, 101)  # 10 ms hop
