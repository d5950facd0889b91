import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from cli_runs import run_cli
from scipy.io import wavfile

from tfam import outputs


@pytest.fixture(scope="module")
def digits_model_path(tmp_path_factory, digits_cnn):
    path = tmp_path_factory.mktemp("model") / "digits.keras"
    digits_cnn.save(path)
    (path.parent / "digits.labels.txt").write_text(
        "zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n"
    )
    return str(path)


@pytest.mark.trains
def test_dream_by_class_name_writes_pngs_grid_and_summary(
    digits_model_path, tmp_path, capsys, measured
):
    out = tmp_path / "dreams"
    status, stdout, _ = run_cli(
        [
            "dream",
            digits_model_path,
            "--class",
            "seven,1",
            "--steps",
            "300",
            "--out",
            str(out),
            "--quiet",
        ],
        capsys,
    )
    assert status == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [r["target"] for r in summary["rows"]] == ["seven", "one"]
    measured("p(target)", [r["probability"] for r in summary["rows"]])
    for row in summary["rows"]:
        assert (out / row["file"]).exists()
        assert row["probability"] > 0.5, summary["rows"]
    assert (out / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dream_a_channel_of_a_layer(digits_model_path, tmp_path, capsys):
    out = tmp_path / "channels"
    status, _, _ = run_cli(
        [
            "dream",
            digits_model_path,
            "--layer",
            "conv2",
            "--channel",
            "0,3",
            "--steps",
            "10",
            "--out",
            str(out),
            "--quiet",
        ],
        capsys,
    )
    assert status == 0
    rows = json.loads((out / "summary.json").read_text())["rows"]
    assert [r["target"] for r in rows] == ["conv2 channel 0", "conv2 channel 3"]
    assert all(r["best_objective"] >= r["final_objective"] for r in rows)


def test_dream_of_a_waveform_model_writes_wavs(tmp_path, capsys, tiny_audio_model):
    path = tmp_path / "audio.keras"
    tiny_audio_model.save(path)
    out = tmp_path / "wavs"
    status, _, _ = run_cli(
        [
            "dream",
            str(path),
            "--class",
            "0,2",
            "--steps",
            "10",
            "--out",
            str(out),
            "--sample-rate",
            "8000",
            "--quiet",
        ],
        capsys,
    )
    assert status == 0
    rate, data = wavfile.read(out / "00_0.wav")
    assert rate == 8000 and data.dtype == np.int16 and data.shape == (256,)
    assert (out / "01_2.wav").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["dream", "/nonexistent/model.keras", "--class", "1"],
            "no model at /nonexistent/model.keras",
        ),
        (["dream", "MODEL", "--class", "eleven"], "unknown class 'eleven'"),
        (["dream", "MODEL", "--class", "12"], "class 12 is out of range"),
        (["dream", "MODEL", "--layer", "conv9"], "unknown layer 'conv9'"),
        (["dream", "MODEL"], "no target"),
        (["dream", "MODEL", "--class", "1", "--range", "1,0"], "--range low must be below high"),
        (["dream", "CORRUPT", "--class", "1"], "cannot load the model"),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(argv, message, digits_model_path, tmp_path, capsys):
    corrupt = tmp_path / "corrupt.keras"
    corrupt.write_bytes(b"this is not a zip file")
    argv = [{"MODEL": digits_model_path, "CORRUPT": str(corrupt)}.get(a, a) for a in argv]
    status, _, err = run_cli(
        argv + ["--out", str(tmp_path / "o"), "--steps", "2", "--quiet"], capsys
    )
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("tfam: error: ") and message in err, err
    assert not (tmp_path / "o" / "summary.json").exists()


def test_the_installed_command_prints_one_clean_line_on_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tfam.cli", "dream", str(tmp_path / "none.keras"), "--class", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"tfam: error: no model at {tmp_path / 'none.keras'}"
    ]


def test_keras_safe_mode_refuses_code_in_a_model_file(tmp_path, capsys):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2.0)(inputs))
    path = tmp_path / "lambda.keras"
    model.save(path)
    status, _, err = run_cli(
        [
            "dream",
            str(path),
            "--class",
            "0",
            "--steps",
            "2",
            "--quiet",
            "--out",
            str(tmp_path / "o"),
        ],
        capsys,
    )
    assert status == 2 and "refusing to load the model" in err and "--unsafe-load" in err


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "summary.json"
    outputs.write_json(path, {"old": True})
    with pytest.raises(RuntimeError):
        with outputs.atomic_write(path, "w") as f:
            f.write('{"half": ')
            raise RuntimeError("interrupted")
    assert json.loads(path.read_text()) == {"old": True}
    assert os.listdir(tmp_path) == ["summary.json"]


@pytest.mark.trains
def test_demo_trains_dreams_and_writes_its_results(tmp_path, capsys, seed, measured):
    from tfam.demos import mnist as demo

    demo.main(["--out", str(tmp_path), "--epochs", "2", "--steps", "20", "--seed", str(seed)])
    summary = json.loads((tmp_path / "summary.json").read_text())
    measured("test accuracy", summary["test_accuracy"])
    assert len(summary["classes"]) == 10 and summary["test_accuracy"] > 0.3
    for name in ("dreams.png", "mnist_cnn.keras", "mnist_cnn.labels.txt", "dream_7_seven.png"):
        assert (tmp_path / name).exists()
    assert "results in" in capsys.readouterr().out


def test_demo_says_where_to_put_mnist_when_it_is_missing(tmp_path, capsys):
    from tfam.demos import mnist as demo

    with pytest.raises(SystemExit) as exit:
        demo.main(["--out", str(tmp_path), "--mnist", str(tmp_path / "mnist.npz")])
    assert exit.value.code == 2
    assert "put the Keras-format mnist.npz there" in capsys.readouterr().err


def test_dream_a_savedmodel_directory(tmp_path, capsys):
    keras.utils.set_random_seed(2)
    inputs = keras.Input((12, 12, 1))
    x = keras.layers.Flatten()(keras.layers.Conv2D(3, 3, padding="same", activation="relu")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(4, activation="softmax")(x))
    model.export(str(tmp_path / "saved"), verbose=False)
    out = tmp_path / "o"
    status, _, _ = run_cli(
        [
            "dream",
            str(tmp_path / "saved"),
            "--class",
            "0,3",
            "--steps",
            "30",
            "--out",
            str(out),
            "--quiet",
        ],
        capsys,
    )
    assert status == 0
    rows = json.loads((out / "summary.json").read_text())["rows"]
    # the SavedModel's own softmax output, not a softmax of it
    for row, target in zip(rows, (0, 3)):
        dream = keras.utils.load_img(out / row["file"], color_mode="grayscale")
        image = np.asarray(dream, np.float32)[None, :, :, None] / 255.0
        assert abs(row["probability"] - float(model(image)[0, target])) < 0.02
        assert row["best_objective"] > 0.25


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--class", "0,1", "--batch", "3"], "--batch is for a single target"),
        (["--class", "0", "--batch", "0"], "--batch must be at least 1"),
        (["--class", "0", "--jitter", "-1"], "--jitter must be 0 (off) or positive"),
    ],
)
def test_bad_option_values_give_one_line(extra, message, digits_model_path, tmp_path, capsys):
    status, _, err = run_cli(
        ["dream", digits_model_path, "--steps", "2", "--quiet", "--out", str(tmp_path / "o")]
        + extra,
        capsys,
    )
    assert status == 2 and err.count("\n") == 1 and message in err, err


def test_outputs_get_the_usual_file_mode(tmp_path):
    old = os.umask(0o022)
    try:
        outputs.write_json(tmp_path / "a.json", {})
    finally:
        os.umask(old)
    assert (os.stat(tmp_path / "a.json").st_mode & 0o777) == 0o644


def test_urbansound_demo_runs_the_whole_path(tmp_path, capsys):
    """make demo in miniature: synthetic download -> prepare -> pack -> train -> freeze -> eval ->
    dream -> gallery (the real demo trains and dreams longer)."""
    import json

    from tfam.demos import urbansound as demo

    out = tmp_path / "demo"
    demo.main(
        [
            "--out",
            str(out),
            "--train-steps",
            "2",
            "--dream-steps",
            "3",
            "--no-second-model",
            "--clips-per-class",
            "12",
            "--atlas-channels",
            "1",
            "--atlas-steps",
            "2",
        ]
    )
    printed = capsys.readouterr().out
    assert "tensorboard --logdir" in printed and "index.html" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["classes"]) == 9 and 0 <= summary["test_accuracy"] <= 1
    assert (out / "logs" / "model" / "output.pb").exists() and (out / "confusion.png").exists()
    page = (out / "index.html").read_text()
    assert page.count("<audio") == 9
    for row in summary["classes"]:
        assert (out / row["wav"]).exists() and (out / "dreams" / f"{row['class']}.png").exists()
        assert f'src="{row["wav"]}"' in page
    # it ends with a small atlas, linked from the gallery: a channel of each conv layer
    assert '<a href="atlas/index.html">' in page
    for layer in ("conv1", "conv2", "conv3", "conv4"):
        assert (out / "atlas" / layer / "0000.json").exists()
    assert (out / "atlas" / "index.html").read_text().count("<audio") == 4
