"""``tfam explain`` end to end: the files it writes, its summary, and its one-line errors."""

import json

import keras
import numpy as np
import pytest
from cli_runs import run_cli

from tfam import audio
from tfam.models import mnist_cnn, urbansound_cnn
from tfam.models.emotion import emotion_mel_cnn, emotion_raw_cnn
from tfam.report import summaries

FAST = [
    "--steps",
    "20",
    "--griffin-lim-iterations",
    "4",
    "--metric-steps",
    "4",
    "--fidelity-samples",
    "6",
    "--quiet",
]


def tone(seconds, rate, freq=1000.0, seed=0):
    t = np.arange(int(seconds * rate)) / rate
    noise = 0.05 * np.random.default_rng(seed).standard_normal(len(t))
    return (0.3 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain")
    keras.utils.set_random_seed(0)
    paths = {}
    models = {
        "urban": urbansound_cnn(3, "waveform", width=0.0625),
        "raw": emotion_raw_cnn(2, samples=4096, width=0.125, dilations=(1, 2)),
        "emotion": emotion_mel_cnn(4, width=0.0625),
        "mnist": mnist_cnn(),
        "dense": keras.Sequential([keras.Input((32000,)), keras.layers.Dense(3, name="logits")]),
    }
    for name, model in models.items():
        paths[name] = root / f"{name}.keras"
        model.save(paths[name])
    (root / "urban.labels.txt").write_text("low\nmid\nhigh\n")
    stereo = np.stack([tone(2.0, 16000), tone(2.0, 16000, seed=1)], axis=1)  # 16 kHz, 2 s, stereo
    paths["stereo"] = root / "stereo16k.wav"
    audio.write_wav(paths["stereo"], stereo, 16000)
    paths["clip"] = root / "clip.wav"
    audio.write_wav(paths["clip"], tone(4.0, 8000), 8000)
    paths["voice"] = root / "voice.wav"
    audio.write_wav(paths["voice"], tone(2.0, 22050, freq=300.0), 22050)
    paths["garbage"] = root / "garbage.wav"
    paths["garbage"].write_bytes(b"RIFF....WAVE this is not audio")
    data = paths["clip"].read_bytes()
    paths["truncated"] = root / "truncated.wav"
    paths["truncated"].write_bytes(data[: len(data) // 2])
    paths["broken_model"] = root / "broken.keras"
    paths["broken_model"].write_bytes(b"not a zip file")
    return paths


def test_explain_writes_maps_sounds_summary_and_tensorboard(files, tmp_path, capsys):
    out = tmp_path / "out"
    status, stdout, err = run_cli(
        [
            "explain",
            files["urban"],
            files["stereo"],
            "--method",
            "gradcam",
            "--class",
            "mid",
            "--out",
            out,
            *FAST,
        ],
        capsys,
    )
    assert status == 0, err
    assert (
        "mixed down to mono" in stdout and "16000 Hz; the model hears 8000 Hz: resampled" in stdout
    )
    assert "zero-padded" in stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["target"] == {"index": 1, "name": "mid"}
    assert summary["method"] == "gradcam" and summary["backend"] == "tf-keras-vis"
    assert summary["layers"] == ["conv4"] and summary["frontend"] == "spectrogram"
    assert set(summary["probabilities"]) == {"original", "resynth", "keep", "remove", "optimized"}
    assert all(0.0 <= p <= 1.0 for p in summary["probabilities"].values())
    assert summary["threshold"] == "mean" and summary["sample_rate"] == 8000
    metrics = summary["faithfulness"]
    assert 0.0 <= metrics["deletion"] <= 1.0 and 0.0 <= metrics["insertion"] <= 1.0
    assert -1.0 <= metrics["mu_fidelity"] <= 1.0 and metrics["mu_fidelity_samples"] == 6
    assert "mel magnitude removed" in metrics["perturbation"]
    curve = metrics["deletion_curve"]
    assert curve["fractions"] == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0], abs=1e-3)
    assert len(curve["probabilities"]) == 5
    # nothing removed yet: the clip resynthesized; all removed: no better than the rest
    assert metrics["insertion_curve"]["probabilities"][-1] == pytest.approx(
        curve["probabilities"][0], abs=1e-5
    )
    error = summary["optimization"]["log_mel_rms_error"]
    # the optimization lowers the error; then the sound is scaled to the kept part's loudness
    assert error["unscaled"] < error["start"]
    for name in summary["files"]:
        assert (out / name).exists(), name
    for name in ("map.png", "masked.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("input", "salient_griffin_lim", "salient_optimized", "removed_griffin_lim"):
        wave, rate = audio.read_wav(out / f"{name}.wav")
        assert rate == 8000 and wave.shape == (32000,)
    tags = summaries.read_tags(out / "tensorboard")
    assert tags["explain/map"] == "images" and tags["audio/salient_optimized"] == "audio"
    assert tags["probability/keep"] == "scalars"


@pytest.mark.parametrize(
    "model, clip, extra, backend",
    [
        ("raw", "voice", ["--method", "scorecam"], "tfam"),  # 1-D: a map over time
        (
            "raw",
            "voice",
            ["--method", "integrated-gradients", "--baseline", "noise", "--path-steps", "8"],
            "tfam",
        ),
        ("urban", "clip", ["--method", "occlusion", "--patch", "16,2"], "tfam"),
        ("emotion", "voice", ["--method", "gradcam++", "--threshold", "none"], "tfam"),
        (
            "urban",
            "clip",
            ["--method", "saliency", "--smooth-samples", "4", "--threshold", "0.3"],
            "tf-keras-vis",
        ),
    ],
)
def test_explain_other_model_kinds(files, tmp_path, capsys, model, clip, extra, backend):
    out = tmp_path / "out"
    status, _, err = run_cli(
        [
            "explain",
            files[model],
            files[clip],
            *extra,
            "--out",
            out,
            "--tensorboard",
            "none",
            *FAST,
        ],
        capsys,
    )
    assert status == 0, err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["backend"] == backend and summary["tensorboard"] is None
    assert np.isfinite(summary["faithfulness"]["deletion"])
    if "--path-steps" in extra:
        assert summary["options"]["steps"] == 8 and summary["options"]["baseline"] == "noise"
    assert not (out / "tensorboard").exists()
    assert (out / "map.png").exists() and (out / "salient_optimized.wav").exists()


@pytest.mark.parametrize(
    "model, clip, extra, words",
    [
        ("missing.keras", "clip", [], "no model at"),
        ("broken_model", "clip", [], "cannot load the model"),
        ("urban", "missing.wav", [], "no such WAV file"),
        ("urban", "garbage", [], "not a readable WAV file"),
        ("urban", "truncated", [], "is truncated"),
        (
            "urban",
            "clip",
            ["--class", "dog"],
            "unknown class 'dog'; the classes are: low, mid, high",
        ),
        ("urban", "clip", ["--class", "7"], "class 7 is out of range"),
        ("urban", "clip", ["--class", "low,mid"], "--class takes one class"),
        ("urban", "clip", ["--layer", "nope"], "unknown layer 'nope'"),
        ("urban", "clip", ["--layer", "fc1"], "needs a layer with time or space axes"),
        ("urban", "clip", ["--method", "saliency", "--layer", "conv2"], "takes no layer"),
        (
            "urban",
            "clip",
            ["--threshold", "high"],
            "--threshold must be 'mean', 'none' or a number",
        ),
        ("urban", "clip", ["--sample-rate", "16000"], "the model hears 8000 Hz"),
        ("urban", "clip", ["--smooth-samples", "3"], "--smooth-samples is for --method saliency"),
        ("urban", "clip", ["--baseline", "zeros"], "--baseline is for --method integrated-"),
        (
            "urban",
            "clip",
            ["--method", "rise", "--patch", "4"],
            "--patch is for --method occlusion",
        ),
        ("urban", "clip", ["--method", "occlusion", "--patch", "4,x"], "--patch must be N or"),
        ("urban", "clip", ["--method", "integrated-gradients", "--path-steps", "0"], "at least 1"),
        ("urban", "clip", ["--fidelity-samples", "1"], "--fidelity-samples must be 0"),
        ("urban", "clip", ["--method", "rise", "--backend", "tf-keras-vis"], "tfam's code does"),
        ("dense", "clip", [], "no convolutional layer"),
        ("raw", "voice", ["--backend", "tf-keras-vis"], "tf-keras-vis cannot compute gradcam"),
        ("mnist", "clip", [], "cannot tell how a model with input (28, 28, 1) hears audio"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(files, tmp_path, capsys, model, clip, extra, words):
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text("{}")  # an earlier result survives a failed run
    status, _, err = run_cli(
        [
            "explain",
            files.get(model, tmp_path / model),
            files.get(clip, tmp_path / clip),
            "--out",
            out,
            *FAST,
            *extra,  # last: a flag of FAST given again wins
        ],
        capsys,
    )
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tfam: error: "), err
    assert words in lines[0]
    assert (out / "summary.json").read_text() == "{}"
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]


def test_bad_method_is_an_argparse_error(files, capsys):
    status, _, err = run_cli(["explain", files["urban"], files["clip"], "--method", "lime"], capsys)
    assert status == 2 and "invalid choice: 'lime'" in err


def test_explain_offers_every_method_of_tfam_attribution():
    from tfam import attribution
    from tfam.cli import explain

    assert sorted(explain.METHODS) == sorted(attribution.METHODS)
    assert explain.BASELINES == attribution.BASELINES
    assert set(explain.SMOOTH_METHODS) == {"saliency", *attribution.SMOOTH_METHODS}
    assert explain.BASELINE_METHODS == attribution.BASELINE_METHODS
