"""GAN priors: WaveGAN and the mel GAN (shapes, phase shuffle), WGAN-GP training (the gradient
penalty by hand, learning a toy, checkpoints, interrupt and resume) and train_gan.py."""

import dataclasses
import json
import os
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfam.models.mel_gan import mel_discriminator, mel_generator
from tfam.models.wavegan import PhaseShuffle, wavegan_discriminator, wavegan_generator
from tfam.report import summaries
from tfam.train.gan import (
    GanConfig,
    GanTrainer,
    gradient_penalty,
    real_batches,
    sample_latent,
    waveforms_to_mels,
)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
W = 1 / 16  # tiny widths: every test model has a few thousand weights


# --------------------------------------------------------------------------- models


@pytest.mark.parametrize("samples, layers", [(256, 2), (1024, 3), (16384, 5)])
@pytest.mark.parametrize("n_classes", [None, 3])
def test_wavegan_shapes_and_layer_names(samples, layers, n_classes):
    g = wavegan_generator(latent_dim=8, samples=samples, width=W, n_classes=n_classes)
    d = wavegan_discriminator(samples=samples, width=W, n_classes=n_classes)
    z = tf.constant(sample_latent(2, 8, "uniform"))
    labels = tf.constant([0, 2])
    x = g([z, labels] if n_classes else z)
    assert x.shape == (2, samples)
    assert np.all(np.abs(x.numpy()) <= 1.0)  # tanh
    score = d([x, labels] if n_classes else x, training=True)
    assert score.shape == (2, 1)
    names = [layer.name for layer in g.layers]
    assert [n for n in names if n.startswith("upconv")] == [
        f"upconv{i}" for i in range(1, layers + 1)
    ]
    assert {"z", "dense", "waveform"} <= set(names) and ("label" in names) == bool(n_classes)
    shuffles = [layer for layer in d.layers if isinstance(layer, PhaseShuffle)]
    assert len(shuffles) == layers - 1  # after every conv but the last
    assert ("projection" in [layer.name for layer in d.layers]) == bool(n_classes)


def test_wavegan_full_size_matches_the_paper():
    # dense 16 x 1024, then 512, 256, 128, 64, 1 channels: WaveGAN's 19.1 M generator weights
    g = wavegan_generator()
    assert [g.get_layer(f"upconv{i}").output.shape[-1] for i in range(1, 6)] == [
        512,
        256,
        128,
        64,
        1,
    ]
    assert g.get_layer("reshape").output.shape[1:] == (16, 1024)
    assert g.count_params() == 19_065_345
    d = wavegan_discriminator()
    assert [d.get_layer(f"conv{i}").output.shape[1:] for i in range(1, 6)] == [
        (4096, 64),
        (1024, 128),
        (256, 256),
        (64, 512),
        (16, 1024),
    ]


def test_wavegan_refuses_other_lengths():
    with pytest.raises(ValueError, match="16 x 4"):
        wavegan_generator(samples=16000)
    with pytest.raises(ValueError, match="16 x 4"):
        wavegan_discriminator(samples=100)


@pytest.mark.parametrize("n_classes", [None, 4])
def test_mel_gan_shapes(n_classes):
    g = mel_generator(latent_dim=16, n_mels=80, frames=160, width=W, n_classes=n_classes)
    d = mel_discriminator(n_mels=80, frames=160, width=W, n_classes=n_classes)
    z = tf.constant(sample_latent(2, 16, "normal"))
    labels = tf.constant([3, 1])
    mel = g([z, labels] if n_classes else z, training=False)
    assert mel.shape == (2, 80, 160, 1)
    assert 0.0 <= float(tf.reduce_min(mel)) and float(tf.reduce_max(mel)) <= 1.0  # sigmoid
    assert d([mel, labels] if n_classes else mel).shape == (2, 1)
    assert [d.get_layer(f"conv{i}").output.shape[1:3] for i in range(1, 5)] == [
        (40, 80),
        (20, 40),
        (10, 20),
        (5, 10),
    ]
    assert any(isinstance(layer, keras.layers.BatchNormalization) for layer in g.layers)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in d.layers)
    with pytest.raises(ValueError, match="multiples of 16"):
        mel_generator(n_mels=81)


# --------------------------------------------------------------------------- phase shuffle


def test_phase_shuffle_shifts_within_range_with_reflect_padding():
    x = np.random.default_rng(0).standard_normal((3, 12, 2)).astype(np.float32)
    padded = np.pad(x, [(0, 0), (2, 2), (0, 0)], mode="reflect")  # [x2 x1 | x0 x1 ... | x10 x9]
    candidates = {s: padded[:, 2 - s : 2 - s + 12] for s in range(-2, 3)}  # y[t] = x[t - s]
    layer = PhaseShuffle(2, seed=3)
    seen = set()
    for _ in range(40):
        y = layer(x, training=True).numpy()
        matches = [s for s, c in candidates.items() if np.allclose(y, c)]
        assert len(matches) == 1, "the output is not x shifted by -2..2 with reflected edges"
        seen.add(matches[0])
    assert seen == {-2, -1, 0, 1, 2}
    assert np.array_equal(candidates[1][:, 0], x[:, 1])  # the reflected edge, not a zero
    np.testing.assert_array_equal(layer(x, training=False), x)
    np.testing.assert_array_equal(layer(x), x)  # inference by default


def test_phase_shuffle_saves_and_loads_in_safe_mode(tmp_path):
    inputs = keras.Input((16, 3))
    model = keras.Model(inputs, PhaseShuffle(3, name="shuffle")(inputs))
    path = str(tmp_path / "shuffle.keras")
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    layer = loaded.get_layer("shuffle")
    assert isinstance(layer, PhaseShuffle) and layer.n == 3
    x = np.ones((2, 16, 3), np.float32)
    np.testing.assert_array_equal(loaded(x), x)


# --------------------------------------------------------------------------- gradient penalty


def test_gradient_penalty_of_a_linear_critic():
    w = np.array([0.5, -2.0, 1.0, 0.25], np.float32)  # D(x) = w.x + 3: gradient w everywhere

    def critic(x):
        return tf.linalg.matvec(x, w)[:, None] + 3.0

    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((2, 5, 4)).astype(np.float32)
    penalty, norms = gradient_penalty(critic, real, fake, rng.uniform(size=5))
    np.testing.assert_allclose(norms, np.full(5, np.linalg.norm(w)), rtol=1e-5)
    np.testing.assert_allclose(float(penalty), (np.linalg.norm(w) - 1) ** 2, rtol=1e-5)


def test_gradient_penalty_is_taken_at_the_interpolates():
    v = np.array([[1.0, -0.5, 2.0], [0.3, 0.0, -1.0]], np.float32)  # D(x) = sum(v x^2): grad 2 v x

    def critic(x):
        return tf.reduce_sum(v * x**2, axis=[1, 2])

    rng = np.random.default_rng(1)
    real, fake = rng.standard_normal((2, 4, 2, 3)).astype(np.float32)
    epsilon = np.array([0.0, 0.3, 0.9, 1.0], np.float32)
    hat = epsilon[:, None, None] * real + (1 - epsilon[:, None, None]) * fake
    norms = np.sqrt(np.sum((2 * v * hat) ** 2, axis=(1, 2)))
    penalty, got = gradient_penalty(critic, real, fake, epsilon)
    np.testing.assert_allclose(got, norms, rtol=1e-5)
    np.testing.assert_allclose(float(penalty), np.mean((norms - 1) ** 2), rtol=1e-5)


# --------------------------------------------------------------------------- data


def test_real_batches_crop_long_examples_and_pad_short_ones():
    long = np.arange(3 * 50, dtype=np.float32).reshape(3, 50)
    x, y = next(iter(real_batches(long, np.array([0, 1, 2], np.int32), 3, 20, seed=0)))
    assert x.shape == (3, 20)
    for row, label in zip(x.numpy(), y.numpy()):  # a contiguous window of its own example
        assert np.array_equal(row, long[label, int(row[0]) - 50 * label :][:20])
    short = np.ones((4, 5), np.float32)
    offsets = set()
    for x, _ in real_batches(short, None, 4, 12, seed=1).take(5):
        for row in x.numpy():
            assert row.sum() == 5 and np.array_equal(row[row != 0], np.ones(5))  # all of it, once
            offsets.add(int(np.flatnonzero(row)[0]))
            assert np.all(row[np.flatnonzero(row)[0] :][:5] == 1)
    assert len(offsets) > 2  # placed at random
    mels = np.random.default_rng(0).uniform(size=(4, 16, 40)).astype(np.float32)
    x, _ = next(iter(real_batches(mels, None, 2, 32, seed=0)))
    assert x.shape == (2, 16, 32, 1)


def test_waveforms_to_mels_uses_tfam_mel():
    t = np.arange(4096) / 16000
    mels = waveforms_to_mels(np.stack([np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32), 16000)
    assert mels.ndim == 3 and mels.shape[:2] == (2, 80)
    assert -1e-6 <= mels.min() and mels.max() <= 1.0


# --------------------------------------------------------------------------- training

SAMPLES, STEPS = 256, 40


def sines(n=128, seed=0):
    """Sine waves of one frequency (16 periods in 256 samples), amplitude 0.8, random phases."""
    phase = np.random.default_rng(seed).uniform(0, 1, (n, 1))
    return (0.8 * np.sin(2 * np.pi * (np.arange(SAMPLES)[None] / 16 + phase))).astype(np.float32)


def toy_config(logdir, iterations=STEPS, seed=0):
    return GanConfig(
        kind="wavegan",
        iterations=iterations,
        batch_size=16,
        samples=SAMPLES,
        width=0.125,
        learning_rate=1e-3,
        logdir=str(logdir),
        summary_every=1000,
        seed=seed,
    )


def statistics(x):
    """RMS and the share of the power at the sines' frequency."""
    x = np.asarray(x)
    power = np.abs(np.fft.rfft(x, axis=1)) ** 2
    return float(np.sqrt(np.mean(x**2))), float(np.mean(power[:, 16] / power.sum(axis=1)))


@pytest.fixture(scope="module")
def toy(tmp_path_factory, seed):
    """WaveGAN trained briefly on sine waves: (trainer, statistics before and after, fixed z)."""
    logdir = tmp_path_factory.mktemp("toy_gan")
    trainer = GanTrainer(toy_config(logdir, seed=seed), sines(seed=10 * seed), progress_every=1000)
    z = sample_latent(32, 100, "uniform", seed=5)
    before = statistics(trainer.generate(z))
    metrics = trainer.train()
    return trainer, before, statistics(trainer.generate(z)), z, metrics


@pytest.mark.trains
def test_wgan_gp_moves_the_generator_toward_a_toy_distribution(toy, measured):
    trainer, (rms0, peak0), (rms1, peak1), _, metrics = toy
    measured("rms before, after", (rms0, rms1))
    measured("share of power at the sines' frequency before, after", (peak0, peak1))
    assert int(trainer.step) == STEPS
    assert all(np.isfinite(v) for v in metrics.values())
    real_rms = 0.8 / np.sqrt(2)
    assert abs(rms1 - real_rms) < 0.5 * abs(rms0 - real_rms), (rms0, rms1)
    assert peak1 > 0.5 > peak0 + 0.3, (peak0, peak1)  # its power moved to the sines' frequency
    wasserstein = [v for _, v in summaries.read_scalars(trainer.tb_dir, "wasserstein")]
    measured("max wasserstein estimate", max(wasserstein))
    assert max(wasserstein) > 0.5  # the critic tells the toy data from the generator's output
    tags = summaries.read_tags(trainer.tb_dir)
    for tag in ("d_loss", "g_loss", "gradient_penalty", "wasserstein"):
        assert tags.get(tag) == "scalars", tag
    for tag in ("generated/audio", "real/audio"):
        assert tags.get(tag) == "audio", tag
    assert tags.get("generated/spectrogram") == "images"
    info = json.loads(open(os.path.join(trainer.model_dir, "generator.json")).read())
    assert info["kind"] == "wavegan" and info["latent_dim"] == 100 and info["steps"] == STEPS
    generator = keras.saving.load_model(
        os.path.join(trainer.model_dir, "generator.keras"), safe_mode=True
    )
    np.testing.assert_allclose(generator(toy[3]), trainer.generate(toy[3]), atol=1e-6)


def test_resume_restores_exactly_and_continues_the_step_count_after_sigterm(toy, monkeypatch):
    first, _, _, z, _ = toy
    expected = first.generate(z).numpy()
    with pytest.raises(ValueError, match="earlier run"):
        GanTrainer(toy_config(first.config.logdir, seed=first.config.seed), sines())
    with pytest.raises(ValueError, match="other settings"):
        GanTrainer(dataclasses.replace(first.config, width=0.25), sines(), resume=True)

    trainer = GanTrainer(
        dataclasses.replace(first.config, iterations=STEPS + 10),
        sines(seed=1),
        resume=True,
        progress_every=1000,
    )
    assert int(trainer.step) == STEPS
    np.testing.assert_array_equal(
        trainer.generate(z).numpy(), expected
    )  # the same weights, bit for bit
    for a, b in zip(
        first.discriminator.weights + first.d_optimizer.variables,
        trainer.discriminator.weights + trainer.d_optimizer.variables,
    ):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    step = trainer._train_step
    calls = []

    def step_then_sigterm(iterator):  # SIGTERM arrives during the second step of the resumed run
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return step(iterator)

    monkeypatch.setattr(trainer, "_train_step", step_then_sigterm)
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    assert int(trainer.step) == STEPS + 2  # the step in flight finished, then it stopped
    assert trainer.manager.latest_checkpoint.endswith(f"ckpt-{STEPS + 2}")
    steps = [s for s, _ in summaries.read_scalars(trainer.tb_dir, "d_loss")]
    assert sorted(steps) == list(range(1, STEPS + 3))  # one count across both runs


# --------------------------------------------------------------------------- train_gan.py


def train_gan(args, cwd):
    return subprocess.run(
        [sys.executable, os.path.join(REPO, "train_gan.py"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
    )


def one_line_error(result):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tfam: error:"), result.stderr
    return lines[0]


def test_train_gan_py_conditional_mel_end_to_end(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "mels.npz",
        train_mels=rng.uniform(0, 1, (8, 16, 40)).astype(np.float32),
        train_labels=np.arange(8) % 2,
        class_names=np.array(["happy", "sad"]),
    )
    result = train_gan(
        [
            "3",
            "mels.npz",
            "--kind",
            "mel",
            "--conditional",
            "--frames",
            "32",
            "--width",
            "0.0625",
            "--batch",
            "4",
            "--n_critic",
            "2",
            "--latent_dim",
            "8",
            "--summary_every",
            "2",
            "--progress_every",
            "1",
            "--logdir",
            "run",
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "step 3/3" in result.stdout and "steps/s" in result.stdout and "ETA" in result.stdout
    model_dir = tmp_path / "run" / "model"
    info = json.loads((model_dir / "generator.json").read_text())
    assert (
        info["kind"] == "mel" and info["class_names"] == ["happy", "sad"] and info["n_classes"] == 2
    )
    assert info["inputs"] == ["z", "label"] and info["output_shape"] == [16, 32, 1]
    generator = keras.saving.load_model(str(model_dir / "generator.keras"), safe_mode=True)
    assert generator([tf.zeros((1, 8)), tf.constant([1])]).shape == (1, 16, 32, 1)
    tags = summaries.read_tags(str(tmp_path / "run" / "tensorboard"))
    for tag in ("d_loss", "g_loss", "gradient_penalty", "wasserstein"):
        assert tags.get(tag) == "scalars", tag
    assert tags.get("generated/mel") == "images" and tags.get("real/mel") == "images"


def test_train_gan_py_one_line_errors(tmp_path):
    np.savez(tmp_path / "wrong.npz", audio=np.zeros((4, 256), np.int16))
    np.savez(tmp_path / "few.npz", train_audio=np.zeros((3, 256), np.int16))
    nan = np.zeros((8, 256), np.float32)
    nan[2, 5] = np.nan
    np.savez(tmp_path / "nan.npz", train_audio=nan)
    np.savez(tmp_path / "unlabelled.npz", train_audio=np.zeros((8, 256), np.int16))
    assert "no data at missing.npz" in one_line_error(train_gan(["5", "missing.npz"], tmp_path))
    assert "no train_audio" in one_line_error(train_gan(["5", "wrong.npz"], tmp_path))
    assert "fewer than the batch size" in one_line_error(train_gan(["5", "few.npz"], tmp_path))
    assert "NaN" in one_line_error(train_gan(["5", "nan.npz", "--batch", "4"], tmp_path))
    assert "train_labels" in one_line_error(
        train_gan(["5", "unlabelled.npz", "--batch", "4", "--conditional"], tmp_path)
    )
    assert "16 x 4^k" in one_line_error(train_gan(["5", "few.npz", "--samples", "1000"], tmp_path))
