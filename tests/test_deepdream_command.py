import json
import subprocess
import sys

import keras
import matplotlib.image
import numpy as np
import pytest
from scipy.io import wavfile

from tfam import audio
from tfam.cli import common
from tfam.cli import deepdream as ddc

RATE = 8000


def parse(*argv):
    # not absl's parser: it inherits absl flags that other tests' modules define (train.py's
    # --seed among them), which collide with deepdream's own once they are in the same process
    parser = common.ArgumentParser(prog="tfam")
    commands = parser.add_subparsers(dest="command")
    ddc.add_parser(commands)
    return parser.parse_args(["deepdream", *map(str, argv)])


def wave_model(length):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((length,))
    x = keras.layers.Reshape((-1, 1), name="reshape")(inputs)
    x = keras.layers.Conv1D(6, 9, strides=2, padding="same", name="conv")(
        x
    )  # linear: no dead units
    x = keras.layers.Conv1D(4, 9, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


def open_length_model():
    keras.utils.set_random_seed(4)
    inputs = keras.Input((None, 1))
    x = keras.layers.Conv1D(5, 9, padding="same", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="logits")(x))


def image_model():
    keras.utils.set_random_seed(5)
    inputs = keras.Input((16, 16, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(x))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("deepdream")
    paths = {
        "fixed": root / "fixed.keras",
        "open": root / "open.keras",
        "image": root / "image.keras",
    }
    wave_model(2000).save(paths["fixed"])
    open_length_model().save(paths["open"])
    image_model().save(paths["image"])
    t = np.arange(3000) / RATE
    clip = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * np.random.default_rng(0).normal(size=t.size)
    paths["long_wav"] = root / "long.wav"
    audio.write_wav(paths["long_wav"], clip, RATE)
    paths["short_wav"] = root / "short_16k.wav"  # 1500 samples at 16 kHz: 750 at 8 kHz
    audio.write_wav(paths["short_wav"], clip[:1500], 16000)
    rgb = np.random.default_rng(1).uniform(size=(20, 24, 3))
    paths["png"] = root / "picture.png"
    matplotlib.image.imsave(paths["png"], rgb)
    return paths


def test_dream_of_a_wav_in_a_fixed_length_model(files, tmp_path, capsys):
    out = tmp_path / "dd"
    args = parse(
        files["fixed"],
        files["long_wav"],
        "--layer",
        "conv",
        "--steps",
        "10",
        "--octaves",
        "2",
        "--out",
        out,
        "--quiet",
    )
    summary = ddc.run(args)
    printed = capsys.readouterr().out
    assert "the clip is 0.375 s; the model takes 0.25 s: using 0.062-0.312 s, its centre" in printed
    for name in ("input.wav", "dream.wav"):
        rate, data = wavfile.read(out / name)
        assert rate == RATE and data.dtype == np.int16 and data.shape == (2000,)
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk == summary
    assert summary["layers"] == [{"name": "conv", "weight": 1.0}]
    assert summary["octaves"] == [-1, 0] and summary["tile_size"] == [2000]
    # the layer's pattern grows at the clip's loudness (a linear layer at a fixed RMS can grow
    # only as far as its strongest frequency response allows)
    assert summary["objective_after"] > summary["objective_before"] > 0
    assert abs(20 * np.log10(summary["rms_after"] / summary["rms_before"])) < 0.1
    assert summary["keep_loudness"] and summary["dreamed_seconds"] == [0.0, 0.25]
    # the input written is the one the model heard: the centre 2000 samples of the WAV
    original = audio.load_audio(files["long_wav"], RATE)[500:2500]
    np.testing.assert_allclose(audio.load_audio(out / "input.wav", RATE), original, atol=1e-4)
    try:
        import tfam.report.summaries  # noqa: F401  (written alongside; spectrograms only when present)
    except ImportError:
        pass
    else:
        for name in ("input.png", "dream.png"):
            assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_open_length_model_keeps_the_length_and_resamples(files, tmp_path, capsys):
    out = tmp_path / "dd"
    summary = ddc.run(
        parse(
            files["open"],
            files["short_wav"],
            "--layer",
            "conv",
            "--steps",
            "8",
            "--octaves",
            "3",
            "--sample-rate",
            RATE,
            "--out",
            out,
        )
    )
    printed = capsys.readouterr().out
    # resampling is said (as explain says it), the length is kept, progress lines without --quiet
    assert "note: the WAV is at 16000 Hz; the model hears 8000 Hz: resampled" in printed
    assert "zero-padded" not in printed and "octave 0" in printed
    rate, data = wavfile.read(out / "dream.wav")
    assert rate == RATE and data.shape == (750,)
    assert summary["tile_size"] is None and summary["sample_rate"] == RATE
    assert summary["objective_after"] > summary["objective_before"]


def test_weighted_layers(files, tmp_path):
    summary = ddc.run(
        parse(
            files["fixed"],
            files["long_wav"],
            "--layer",
            "conv,conv2",
            "--layer-weight",
            "1",
            "--layer-weight",
            "0.5",
            "--steps",
            "5",
            "--octaves",
            "1",
            "--out",
            tmp_path,
            "--quiet",
        )
    )
    assert summary["layers"] == [{"name": "conv", "weight": 1.0}, {"name": "conv2", "weight": 0.5}]
    assert summary["objective_after"] > summary["objective_before"]


def test_dream_of_an_image(files, tmp_path, capsys):
    out = tmp_path / "img"
    summary = ddc.run(
        parse(
            files["image"],
            files["png"],
            "--layer",
            "conv",
            "--steps",
            "10",
            "--octaves",
            "2",
            "--out",
            out,
            "--quiet",
        )
    )
    assert "the image is 20x24; the model takes 16x16: resized" in capsys.readouterr().out
    dream = matplotlib.image.imread(out / "dream.png")
    assert dream.shape[:2] == (16, 16)
    assert (out / "input.png").exists() and (out / "summary.json").exists()
    assert "sample_rate" not in summary and summary["shape"] == [16, 16, 1]
    assert summary["objective_after"] > summary["objective_before"]


@pytest.mark.parametrize(
    "model, source, extra, error, words",
    [
        ("fixed", "missing.wav", [], OSError, "no such input file"),
        (
            "fixed",
            "long_wav",
            ["--layer", "nope"],
            ValueError,
            "unknown layer 'nope'; the model's layers include: reshape, conv, conv2",
        ),
        ("fixed", "png", [], ValueError, "is an image but the model takes 1-D audio"),
        ("image", "long_wav", [], ValueError, "is a WAV file but the model takes 2-D input"),
        ("fixed", "garbage.wav", [], ValueError, "not a readable WAV file"),
        ("fixed", "truncated.wav", [], ValueError, "is truncated"),
        ("fixed", "notes.txt", [], ValueError, "neither a WAV file nor a PNG/JPEG image"),
        (
            "fixed",
            "long_wav",
            ["--layer-weight", "1,2"],
            ValueError,
            "2 --layer-weight value(s) for 1 layer",
        ),
        ("fixed", "long_wav", ["--steps", "0"], ValueError, "--steps must be at least 1"),
        (
            "fixed",
            "long_wav",
            ["--tile-size", "10,10"],
            ValueError,
            "--tile-size must be one positive",
        ),
        (
            "fixed",
            "long_wav",
            ["--tile-size", "500"],
            ValueError,
            "does not match the model's fixed input",
        ),
    ],
)
def test_bad_input_is_one_clear_error(files, tmp_path, model, source, extra, error, words):
    (tmp_path / "garbage.wav").write_bytes(b"this is not audio at all")
    (tmp_path / "notes.txt").write_text("hello")
    data = files["long_wav"].read_bytes()
    (tmp_path / "truncated.wav").write_bytes(data[: len(data) // 2])
    path = files.get(source, tmp_path / source)
    layer = (
        [] if "--layer" in extra else ["--layer", "conv"]
    )  # --layer adds up; --steps: the last wins
    args = parse(
        files[model], path, *layer, "--steps", "2", *extra, "--out", tmp_path / "o", "--quiet"
    )
    with pytest.raises(error) as caught:
        ddc.run(args)
    assert words in str(caught.value)
    assert "\n" not in common.one_line(caught.value)
    assert not (tmp_path / "o" / "summary.json").exists()


def test_run_guarded_turns_errors_into_one_line(files, tmp_path, capsys):
    args = parse(files["fixed"], tmp_path / "none.wav", "--layer", "conv", "--out", tmp_path)
    with pytest.raises(SystemExit) as exit:
        common.run_guarded(ddc.run, args)
    assert exit.value.code == 2
    assert capsys.readouterr().err == f"tfam: error: no such input file: {tmp_path / 'none.wav'}\n"


def test_octave_exponents():
    assert ddc.octave_exponents(1) == (0,) and ddc.octave_exponents(3) == (-2, -1, 0)


def test_building_the_parser_does_not_import_tensorflow():
    # the tfam parser is built before TensorFlow is imported quietly (and `tfam --help` should not
    # pay for TensorFlow)
    code = (
        "import sys; from tfam.cli.main import build_parser; build_parser(); "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_the_command_line(files, tmp_path):
    out = tmp_path / "dd"
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfam.cli",
            "deepdream",
            str(files["fixed"]),
            str(files["long_wav"]),
            "--layer",
            "conv",
            "--steps",
            "5",
            "--octaves",
            "1",
            "--out",
            str(out),
            "--quiet",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    assert (out / "dream.wav").exists() and json.loads((out / "summary.json").read_text())
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "tfam.cli",
            "deepdream",
            str(files["fixed"]),
            str(tmp_path / "missing.wav"),
            "--layer",
            "conv",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert (
        bad.stderr.strip().startswith("tfam: error:") and len(bad.stderr.strip().splitlines()) == 1
    )
