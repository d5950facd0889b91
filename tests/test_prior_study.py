"""Seed 000's study on models trained here: latent AM through a mel GAN raises the classes'
probabilities, the vocoded pair fits a raw-audio classifier, the report and the gallery are complete,
and the gallery loads in a real browser."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfam.audio import mel
from tfam.data import emotion
from tfam.demos.prior_study import Pair, latent_dreams, markdown_table, run_study, vocoded
from tfam.models.emotion import emotion_mel_cnn, emotion_raw_cnn
from tfam.train.gan import GanConfig, GanTrainer, waveforms_to_mels

FRAMES = 32  # a short mel crop keeps the models tiny
RAW = mel.HOP * (FRAMES - 1)  # what Griffin-Lim makes of FRAMES frames: 7936 samples
N_CLASSES = 4


def centre(x, length):
    start = (x.shape[-1] - length) // 2
    return x[..., start : start + length]


@pytest.fixture(scope="module")
def study_models(tmp_path_factory, seed):
    """A mel CNN and a small raw CNN trained on synthetic emotions, and a mel GAN trained briefly."""
    root = tmp_path_factory.mktemp("prior_study")
    emotion.synthesize_packed(root / "emotion.npz", clips_per_class=(24, 8, 0), seed=seed)
    splits, class_names = emotion.load_packed(root / "emotion.npz")
    (x, y), (xv, yv) = splits["train"], splits["validate"]
    mels = waveforms_to_mels(np.concatenate([x, xv]), emotion.SAMPLE_RATE)  # (N, 80, 259)
    mels = centre(mels, FRAMES)[..., None]
    waves = centre(np.concatenate([x, xv]), RAW)
    labels = np.concatenate([y, yv])
    train = np.arange(len(x))

    keras.utils.set_random_seed(seed)
    mel_cnn = emotion_mel_cnn(N_CLASSES, input_shape=(80, FRAMES, 1), width=0.125)
    raw_cnn = emotion_raw_cnn(N_CLASSES, samples=RAW, width=0.25, dilations=(1, 2, 4, 8))
    for model, inputs in ((mel_cnn, mels), (raw_cnn, waves)):
        model.compile(
            keras.optimizers.Adam(3e-3),
            keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        model.fit(inputs[train], labels[train], batch_size=16, epochs=15, verbose=0)

    config = GanConfig(
        kind="mel",
        iterations=50,
        batch_size=16,
        n_mels=80,
        frames=FRAMES,
        width=1 / 16,
        learning_rate=1e-3,
        logdir=str(root / "gan"),
        summary_every=1000,
        seed=seed,
    )
    gan = GanTrainer(config, mels[train][..., 0], progress_every=1000)
    gan.train()
    real = {
        mel_cnn: (mels[len(x) :], labels[len(x) :]),
        raw_cnn: (waves[len(x) :], labels[len(x) :]),
    }
    return mel_cnn, raw_cnn, gan.generator, real, class_names


@pytest.mark.trains
def test_the_classifiers_learned(study_models, measured):
    mel_cnn, raw_cnn, _, real, _ = study_models
    for name, model in (("mel", mel_cnn), ("raw", raw_cnn)):
        x, y = real[model]
        accuracy = measured(
            f"{name} accuracy", np.mean(model.predict(x, verbose=0).argmax(-1) == y)
        )
        # chance: 0.25; measured on 32 clips under seeds 0-5: mel 1.0, raw 0.69-0.88
        assert accuracy > {"mel": 0.8, "raw": 0.5}[name], (name, accuracy)


@pytest.mark.trains
def test_latent_am_raises_the_class_probabilities(study_models, measured):
    mel_cnn, _, generator, _, _ = study_models
    _, dreams, before, after = latent_dreams(
        Pair("mel", generator, mel_cnn), N_CLASSES, per_class=3, steps=150
    )
    assert dreams.shape == (12, 80, FRAMES, 1)
    before, after = before.reshape(N_CLASSES, 3).mean(1), after.reshape(N_CLASSES, 3).mean(1)
    gain = measured("p(target) after - before, per class", after - before)
    # Seed 000's objective, the target logit minus the MEAN of the others, can be raised by a rival
    # class rising above the target while the rest fall: under seeds 1 and 4 'happy' ends as 'angry'
    # (p 0). So: on average the target probability rises by far, and the dreams of all classes but
    # at most one are their class (measured under seeds 0-5: mean rise 0.44-0.90; 3 or 4 classes).
    assert gain.mean() > 0.25, (before, after)
    assert np.sum(after > 0.5) >= N_CLASSES - 1, (before, after)


@pytest.mark.trains
def test_vocoded_generator_feeds_a_raw_classifier(study_models, measured):
    _, raw_cnn, generator, _, _ = study_models
    voiced = vocoded(generator, RAW, n_iter=4)
    z = (
        np.random.default_rng(0)
        .standard_normal((2, generator.inputs[0].shape[1]))
        .astype(np.float32)
    )
    wave = voiced(z).numpy()
    assert wave.shape == (2, RAW) and np.all(np.isfinite(wave)) and np.abs(wave).max() > 0
    # it is Griffin-Lim of the generated mel: the sound's log-mel follows the generated one
    heard = mel.LogMel(scale_to_unit=True)(wave).numpy().ravel()
    correlation = measured(
        "log-mel correlation", np.corrcoef(heard, generator(z).numpy().ravel())[0, 1]
    )
    assert correlation > 0.7, correlation
    zt = tf.constant(z)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(zt)
        sound = voiced(zt)
        energy, logits = tf.reduce_sum(sound**2), raw_cnn(sound)
        score = tf.reduce_sum(logits[:, 0])
    # gradients reach z through the vocoder, and the raw classifier's reach the sound
    energy = tape.gradient(energy, zt).numpy()
    assert np.all(np.isfinite(energy)) and np.abs(energy).max() > 0
    assert logits.shape == (2, N_CLASSES) and np.all(np.isfinite(logits))
    through = tape.gradient(score, zt).numpy()
    assert np.all(np.isfinite(through))
    # (not > 0: under seed 5 the raw CNN's conv1 ReLUs are all off for these quiet sounds, so its
    # logits, and their gradient, are the same for any z)
    measured("largest gradient of the raw logit with respect to z", np.abs(through).max())
    with pytest.raises(ValueError, match="the classifier takes"):
        vocoded(generator, RAW + mel.HOP)


def test_study_report_table_and_gallery(study_models, tmp_path):
    from tfam.demos.emotion import write_results

    mel_cnn, raw_cnn, generator, real, class_names = study_models
    pairs = [
        Pair("mel GAN -> mel CNN", generator, mel_cnn),
        Pair("mel GAN -> Griffin-Lim -> raw CNN", vocoded(generator, RAW, n_iter=4), raw_cnn),
    ]
    report = run_study(pairs, real, N_CLASSES, per_class=3, steps=20)
    assert [p["name"] for p in report["pairs"]] == [p.name for p in pairs]
    assert len(report["direct"]) == 2
    for run in report["pairs"] + report["direct"]:
        assert len(run["classes"]) == N_CLASSES and len(run["dreams"]) == 3 * N_CLASSES
        assert run["seconds"] > 0
        for record in run["classes"]:
            assert 0.0 <= record["p_after"] <= 1.0 and record["fd"] >= 0.0
    table = markdown_table(report, class_names)
    assert table.count("\n") == 1 + 2 * N_CLASSES and "mel GAN -> mel CNN | angry" in table

    examples = [real[raw_cnn][0][real[raw_cnn][1] == c][0] for c in range(N_CLASSES)]
    seconds = {"train mel_cnn": 12.5, "study": 30.0}
    write_results(
        str(tmp_path), report, class_names, 3, emotion.SAMPLE_RATE, examples, ["test"], seconds
    )
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [p["name"] for p in summary["pairs"]] == [p.name for p in pairs]
    assert summary["seconds"] == seconds  # the time of every phase the demo printed
    for run in summary["pairs"] + summary["direct"]:
        for record in run["classes"]:
            assert (tmp_path / record["wav"]).stat().st_size > 44 and (
                tmp_path / record["png"]
            ).exists()
    page = (tmp_path / "index.html").read_text()
    assert page.count("<audio") == N_CLASSES * (1 + 2 + 2) and page.count("<img") == page.count(
        "<audio"
    )
    # the page in a real browser: every picture decodes, every clip's metadata loads
    from browser import load_page

    state = load_page(tmp_path, "index.html", tmp_path / "screenshot.png")
    assert len(state["images"]) == len(state["audios"]) == N_CLASSES * 5
    assert all(i["ok"] for i in state["images"]), [i for i in state["images"] if not i["ok"]]
    assert all(a["ok"] for a in state["audios"]), [a for a in state["audios"] if not a["ok"]]
    assert all(
        abs(a["duration"] - RAW / emotion.SAMPLE_RATE) < 1e-3 for a in state["audios"]
    )  # every clip
    assert (tmp_path / "screenshot.png").stat().st_size > 10_000
    with pytest.raises(ValueError, match="no real clips"):
        run_study(pairs, {mel_cnn: real[mel_cnn]}, N_CLASSES, per_class=2, steps=2)


def test_latent_am_refuses_a_generator_that_does_not_fit(study_models):
    mel_cnn, raw_cnn, generator, _, _ = study_models
    with pytest.raises(ValueError, match="generator makes inputs of shape"):
        latent_dreams(Pair("bad", generator, raw_cnn), N_CLASSES, per_class=1, steps=1)
