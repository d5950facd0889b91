"""Dreaming sounds with a trained UrbanSound CNN: each class's dream is heard as that class, the
recipe keeps it listenable, and tfam dream writes WAV, spectrogram PNG, JSON and TensorBoard events."""
import json
import os

import numpy as np

from tfam import audio
from tfam.report import summaries
from tfam.regularizers import high_band_fraction
from tfam.layout import layout_of
from tfam.audio.sound_dreams import audio_recipe, dream_sounds


def test_each_class_dream_is_classified_as_its_class(urbansound):
    model, splits, class_names, _ = urbansound
    x, y = splits["test"]
    assert np.mean(model.predict(x, verbose=0).argmax(-1) == y) > 0.6  # the model learned something
    result = dream_sounds(model, range(len(class_names)), steps=300, seed=0)
    assert result.x.shape == (9, 32000)
    predicted = model.predict(result.x, verbose=0).argmax(-1)
    assert predicted.tolist() == list(range(9)), (predicted, result.target_probability)
    assert np.all(result.target_probability > 0.5), result.target_probability
    # listenable: the loudness bound holds, and little energy above the cutoff (3.5 kHz)
    rms = np.sqrt(np.mean(result.x ** 2, axis=1))
    assert np.all(rms <= 0.1 + 1e-4)
    high = high_band_fraction(result.x, 3500.0, 8000, layout_of((None, 32000))).numpy()
    noise = np.random.default_rng(0).uniform(-1, 1, (1, 32000)).astype(np.float32)
    assert np.all(high < 0.5 * high_band_fraction(noise, 3500.0, 8000, layout_of((None, 32000))).numpy())


def test_recipe_switches_parts_off():
    recipe = audio_recipe(8000, max_shift_seconds=0, tv=0, max_rms=0, high_band_weight=0)
    assert recipe["transforms"] == [] and recipe["regularizers"] == []
    names = [r.name for r in audio_recipe(8000)["regularizers"]]
    assert any("high_band" in n and "3500" in n for n in names) and any("loudness" in n for n in names)


def test_tfam_dream_writes_sounds_pictures_and_tensorboard(urbansound, tmp_path):
    from tfam.cli.main import build_parser
    from tfam.cli.dream import run

    model, _, class_names, _ = urbansound
    path = str(tmp_path / "model.keras")
    model.save(path)
    (tmp_path / "model.labels.txt").write_text("\n".join(class_names) + "\n")
    out = tmp_path / "dreams"
    args = build_parser().parse_args(["dream", path, "--class", "siren,dog_bark", "--steps", "20",
                                      "--out", str(out), "--quiet"])
    summary = run(args)
    assert summary["sample_rate"] == 8000  # told by the model's spectrogram layer
    assert [r["target"] for r in summary["rows"]] == ["siren", "dog_bark"]
    for row in summary["rows"]:
        wave, rate = audio.read_wav(str(out / row["file"]))
        assert rate == 8000 and wave.shape == (32000,)
        assert (out / row["spectrogram"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert json.loads((out / "summary.json").read_text())["rows"][0]["file"] == "00_siren.wav"
    tags = summaries.read_tags(str(out / "tensorboard"))
    assert tags["objective/siren"] == "scalars" and tags["audio/dog_bark"] == "audio"
    assert tags["spectrogram/siren"] == "images"
    steps = [s for s, _ in summaries.read_scalars(str(out / "tensorboard"), "objective/siren")]
    assert steps == list(range(1, 21))
    assert not [f for f in os.listdir(out) if f.startswith(".") or f.endswith(".tmp")]
