"""Faithfulness metrics where the answer is known: a hand-built detector of a tone in noise reads
only the tone's mel bands, so a map on those bands (the oracle) must beat a random one."""

import keras
import numpy as np
import pytest
from tone_clips import RATE, tone_clips  # tests/tone_clips.py

from tfam import attribution as at
from tfam import faithfulness as ff
from tfam.audio import mel
from tfam.audio import salient as sa

SAMPLES = 8000


def tone_detector(clips, noise):
    """Log-mel front end, the mean over frames per band, and class 0 ('tone') from the mean
    level of the tone's bands (class 1: a logit of 0): about p 1 on the clips, 0 on noise.
    Returns (model, the tone's bands)."""
    settings = sa.mel_settings(RATE)
    lift = (sa.clip_log_mel(clips, settings) - sa.clip_log_mel(noise, settings)).mean(axis=(0, 2))
    bands = lift > 2.0  # the tone's bands: 2 nepers louder than the noise
    wave = keras.Input((SAMPLES,), name="waveform")
    spec = mel.LogMel(**settings, name="log_mel")(wave)
    pooled = keras.layers.AveragePooling2D((1, spec.shape[2]), name="over_time")(spec)
    dense = keras.layers.Dense(2, name="logits")
    logits = dense(keras.layers.Flatten()(pooled))
    model = keras.Model(wave, logits, name="tone_detector")
    contrast = np.where(bands, 1.0 / bands.sum(), 0.0)  # the tone's bands alone
    levels = [
        float(contrast @ sa.clip_log_mel(c, settings).mean(axis=(0, 2))) for c in (clips, noise)
    ]
    scale = 8.0 / (levels[0] - levels[1])
    kernel = np.stack([scale * contrast, np.zeros_like(contrast)], axis=1).astype(np.float32)
    bias = np.array([-scale * (levels[0] + levels[1]) / 2.0, 0.0], np.float32)
    dense.set_weights([kernel, bias])
    return model, bands


@pytest.fixture(scope="module")
def detector():
    clips, _ = tone_clips(1, seed=5, samples=SAMPLES)  # 600, 1800 and 3000 Hz
    clips = clips[1:2].repeat(3, axis=0) + 0.05 * np.random.default_rng(1).standard_normal(
        (3, SAMPLES)
    ).astype(np.float32)  # three clips of the 1800 Hz tone
    noise = 0.1 * np.random.default_rng(2).standard_normal((3, SAMPLES)).astype(np.float32)
    model, bands = tone_detector(clips, noise)
    features = at.split_at_frontend(model)[0](clips).numpy()[..., 0]  # (3, bands, frames)
    oracle = np.broadcast_to(bands[None, :, None], features.shape).astype(np.float32)
    random = np.random.default_rng(3).uniform(size=features.shape).astype(np.float32)
    return model, clips, noise, oracle, random


def test_the_detector_hears_the_tone(detector):
    model, clips, noise, *_ = detector
    p = keras.ops.softmax(model(clips)).numpy()[:, 0]
    q = keras.ops.softmax(model(noise)).numpy()[:, 0]
    assert np.all(p > 0.95) and np.all(q < 0.05), (p, q)


@pytest.mark.parametrize("removal", ["log-mel floor", "mel magnitude"])
def test_the_oracle_map_beats_a_random_one(detector, removal):
    model, clips, _, oracle, random = detector
    if removal == "log-mel floor":  # on the features the rest of the model reads
        options = dict(perturbation=ff.baseline(np.log(mel.LOG_FLOOR)))
    else:  # on the clip, as salient_audio removes a part, heard through Griffin-Lim
        options = dict(perturbation=sa.mel_removal(sa.hearing(model), n_iter=8))
    results = {}
    for name, maps in (("oracle", oracle), ("random", random)):
        results[name] = (
            ff.deletion(model, clips, maps, 0, steps=10, **options),
            ff.insertion(model, clips, maps, 0, steps=10, **options),
        )
    (oracle_deletion, oracle_insertion), (random_deletion, random_insertion) = results.values()
    assert oracle_deletion.scores.shape == (3, 11) and oracle_deletion.fractions[-1] == 1.0
    # measured: deletion 0.05 against 0.14-0.22 (floor), 0.14 against 0.64-0.68 (mel
    # magnitude); insertion 0.93 against 0.07-0.15 and 0.58-0.61
    assert np.all(oracle_deletion.auc < 0.5 * random_deletion.auc), (
        oracle_deletion.auc,
        random_deletion.auc,
    )
    assert np.all(oracle_insertion.auc > random_insertion.auc + 0.3), (
        oracle_insertion.auc,
        random_insertion.auc,
    )


def test_mu_fidelity_ranks_the_oracle_first(detector):
    model, clips, _, oracle, random = detector
    floor = ff.baseline(np.log(mel.LOG_FLOOR))
    options = dict(samples=40, perturbation=floor, score="logit", grid=(16, 4))
    good = ff.mu_fidelity(model, clips, oracle, 0, **options)
    bad = ff.mu_fidelity(model, clips, random, 0, **options)
    assert np.all(good > 0.7) and np.all(good > bad + 0.5), (good, bad)


def test_randomizing_the_model_changes_its_maps_and_not_an_edge_detector(detector):
    model, clips, *_ = detector
    check = ff.model_randomization(
        model, lambda m: at.attribute(m, clips, "integrated-gradients", target=0, steps=16).maps
    )
    assert np.all(check.spearman < 0.5), check.spearman
    # a "map" that is the input itself explains the input, not the model: the check says so
    features = at.split_at_frontend(model)[0](clips).numpy()[..., 0]
    same = ff.model_randomization(model, lambda m: features)
    assert np.all(same.spearman > 0.99)


def test_maps_must_lie_over_the_input_or_the_front_end(detector):
    model, clips, _, oracle, _ = detector
    with pytest.raises(ValueError, match="lie neither over the input"):
        ff.deletion(model, clips, oracle[:, :10])
    with pytest.raises(ValueError, match="3 maps for 2 inputs"):
        ff.insertion(model, clips[:2], oracle)
