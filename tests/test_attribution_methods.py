"""Every attribution method on every model kind (2-D, 1-D waveform, two streams behind a log-mel
front end): finite maps of the right shape, compiled once, and checks whose answer is known
(integrated gradients' completeness, maps on the only cells a model reads)."""

import gc
import weakref

import keras
import numpy as np
import pytest
from test_attribution import two_stream_model  # tests/test_attribution.py
from tone_clips import tone_clips  # tests/tone_clips.py

from tfam import attribution as at
from tfam.surgery import with_linear_logits

FAST = {"masks": 64, "steps": 8, "smooth_samples": 4}  # few copies: these tests are about shapes
# noise drawn for the whole batch: other rows, other noise
RANDOM = ("saliency", "smoothgrad", "smoothgrad-squared", "vargrad", "rise")


def image_model():
    inputs = keras.Input((12, 12, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="tanh", name="conv")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(3, activation="softmax", name="out")(x)
    return keras.Model(inputs, x, name="image")


def waveform_model():
    inputs = keras.Input((256,))
    x = keras.layers.Reshape((256, 1))(inputs)
    x = keras.layers.Conv1D(6, 9, strides=2, padding="same", activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="logits")(x), name="waveform")


@pytest.fixture(scope="module")
def kinds():
    """{kind: (model, inputs, the maps' shape per row)}."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    clips, _ = tone_clips(1, seed=3, samples=8000)
    return {
        "2-D": (image_model(), rng.uniform(size=(3, 12, 12, 2)).astype(np.float32), (12, 12)),
        "1-D": (waveform_model(), rng.normal(size=(3, 256)).astype(np.float32), (256,)),
        # the log-mel of 8000 samples at 8 kHz: 64 bands, 126 frames
        "two streams": (two_stream_model(), clips, (64, 126)),
    }


@pytest.mark.parametrize("kind", ["2-D", "1-D", "two streams"])
def test_every_method_gives_finite_maps_and_compiles_once(kinds, kind):
    model, x, shape = kinds[kind]
    for method in at.METHODS:
        att = at.attribute(model, x, method, backend="tfam", **FAST)
        assert att.maps.shape == att.raw.shape == (len(x),) + shape, method
        assert np.all(np.isfinite(att.raw)), method
        if method not in at.CAM_METHODS:  # (an untrained model's CAM may be all zero: ReLU)
            spread = np.ptp(att.raw.reshape(len(x), -1), axis=1)
            assert np.all(spread > 0), method
        traced = at.tracing_count()
        # fewer rows, another step count: the compiled functions run again as they are
        again = at.attribute(model, x[:2], method, backend="tfam", **{**FAST, "steps": 9})
        assert at.tracing_count() == traced, method
        if method not in RANDOM:  # the same maps for the same rows
            if method != "integrated-gradients":
                assert np.allclose(again.raw, att.raw[:2], atol=1e-5, rtol=1e-4), method
    streams = at.attribute(model, x, "layercam").stream_maps
    assert len(streams) == (2 if kind == "two streams" else 1)


def test_the_cache_does_not_keep_a_model_alive():
    keras.utils.set_random_seed(0)
    model = waveform_model()
    at.attribute(model, np.zeros((1, 256), np.float32) + 0.1, "integrated-gradients", steps=4)
    assert model in at._functions
    held = weakref.ref(model)
    del model
    gc.collect()
    assert held() is None


def _target_logit(model, x, target):
    return with_linear_logits(model)(x, training=False).numpy()[:, target]


@pytest.mark.parametrize("baseline", ["zeros", "blurred", "noise"])
def test_integrated_gradients_add_up_to_the_change_of_the_logit(kinds, baseline):
    model, x, _ = kinds["2-D"]
    x = 4.0 * x  # where tanh bends: a path that is not straight in the logit
    att = at.attribute(model, x, "integrated-gradients", target=1, steps=128, baseline=baseline)
    start = at.baseline_for(baseline, x, seed=0)
    change = _target_logit(model, x, 1) - _target_logit(model, start, 1)
    assert np.all(np.abs(change) > 0.02), change  # a change worth explaining
    total = att.raw.sum(axis=(1, 2))
    assert np.all(np.abs(total - change) <= 0.01 * np.abs(change)), (total, change)


def test_integrated_gradients_over_a_front_end_from_silence(kinds):
    model, x, _ = kinds["two streams"]
    front, head, _ = at.split_at_frontend(model)
    att = at.attribute(model, x, "integrated-gradients", target=0, steps=128, baseline="silence")
    features = front(x).numpy()
    silence = front(np.zeros_like(x[:1])).numpy()
    change = _target_logit(head, features, 0) - _target_logit(head, silence, 0)
    total = att.raw.reshape(len(x), -1).sum(axis=1)
    assert np.all(np.abs(total - change) <= 0.01 * np.abs(change)), (total, change)


def test_maps_sit_on_the_only_cells_the_model_reads():
    # class 0 is the sum of the cells in rows 3-5, columns 7-9; class 1 the rest's mean
    region = np.zeros((12, 12), np.float32)
    region[3:6, 7:10] = 1.0
    inputs = keras.Input((12, 12, 1))
    flat = keras.layers.Flatten()(inputs)
    logits = keras.layers.Dense(2, use_bias=False, name="logits")(flat)
    model = keras.Model(inputs, logits)
    weights = np.stack([region.ravel(), (1 - region.ravel()) / 135.0], axis=1)
    model.get_layer("logits").set_weights([weights])
    x = np.random.default_rng(1).uniform(0.5, 1.0, (2, 12, 12, 1)).astype(np.float32)
    inside = region.astype(bool)
    for method in (
        "saliency",
        "smoothgrad",
        "smoothgrad-squared",
        "gradient-input",
        "integrated-gradients",
        "occlusion",
        "rise",
    ):
        att = at.attribute(model, x, method, target=0, patch=3, stride=1, grid=4, masks=2000)
        for m in att.maps:
            # (RISE's masks are smooth over a few cells: its map is too)
            margin = 0.15 if method == "rise" else 0.3
            assert m[inside].mean() > m[~inside].mean() + margin, method
            assert inside[np.unravel_index(m.argmax(), m.shape)], method
