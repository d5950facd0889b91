"""Reliability (issue 11): real signals stop real programs within about a second with one line and
exit 130; every error is one line; broken audio, one-class datasets and --unsafe-load are handled
through every path; wide batches run in parts."""

import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from cli_runs import run_cli
from scipy.io import wavfile

import tfam
from tfam import audio
from tfam import objectives as obj
from tfam.cli.common import INTERRUPTED
from tfam.data.classes import check_classes
from tfam.pacing import Pace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STOP_WITHIN = 2.0  # seconds from the signal to the exit (chunks aim at 0.5 s)
START_WITHIN = 90  # seconds for TensorFlow's import and the first chunk on a loaded machine


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("reliability")
    keras.utils.set_random_seed(0)
    paths = {}
    inputs = keras.Input((256,))
    x = keras.layers.Reshape((256, 1))(inputs)
    x = keras.layers.Conv1D(8, 9, activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(x)).save(
        root / "audio.keras"
    )
    paths["audio"] = root / "audio.keras"
    inputs = keras.Input((256,))
    x = keras.layers.Lambda(lambda t: t * 2.0, name="double")(inputs)
    x = keras.layers.Reshape((256, 1))(x)
    x = keras.layers.Conv1D(4, 9, activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(x)).save(
        root / "lambda.keras"
    )
    paths["lambda"] = root / "lambda.keras"
    clip = (0.2 * np.sin(np.arange(4000) / 3.0)).astype(np.float32)
    for name, bad in (("nan", np.nan), ("inf", np.inf)):
        broken = clip.copy()
        broken[1234] = bad
        paths[name] = root / f"{name}.wav"
        wavfile.write(paths[name], 8000, broken)
    paths["root"] = root
    return paths


# ----------------------------------------------------------------------------- signals


def start(args, cwd):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "tfam.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_output(process, deadline):
    """Block until the program has printed something (its progress bar: it is dreaming)."""
    os.set_blocking(process.stdout.fileno(), False)
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the program ended early: {process.stderr.read()}")
        if process.stdout.read(1):
            return
        time.sleep(0.05)
    raise AssertionError("the program printed no progress in time")


def stop(process, signum):
    """Send ``signum``; (seconds until the exit, exit status, stderr)."""
    sent = time.monotonic()
    process.send_signal(signum)
    try:
        process.wait(timeout=30)
    finally:
        process.kill()
    return time.monotonic() - sent, process.returncode, process.stderr.read()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_long_dream_stops_within_a_second(models, tmp_path, signum):
    process = start(
        [
            "dream",
            models["audio"],
            "--class",
            "all",
            "--steps",
            "1000000",
            "--tensorboard",
            "none",
            "--out",
            tmp_path / "out",
        ],
        tmp_path,
    )
    wait_for_output(process, time.monotonic() + START_WITHIN)
    time.sleep(1.0)  # well into the steady chunks
    seconds, status, err = stop(process, signum)
    assert status == INTERRUPTED, err
    assert seconds < STOP_WITHIN, seconds
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "tfam: interrupted", err
    assert not (tmp_path / "out" / "summary.json").exists()  # nothing half-written


def test_ctrl_c_while_tensorflow_loads_is_one_line(models, tmp_path):
    process = start(["dream", models["audio"], "--class", "0", "--out", tmp_path / "out"], tmp_path)
    time.sleep(1.5)  # Python and tfam's own imports are done; TensorFlow's takes seconds
    seconds, status, err = stop(process, signal.SIGINT)
    assert status == INTERRUPTED, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "tfam: interrupted", err


def test_chunks_are_sized_by_time():
    pace = Pace(target=0.5, first=4)
    assert pace.next(1000) == 4
    pace.took(4, 2.0)  # a first chunk that traced: slow
    assert pace.next(1000) == 1
    sizes = []
    for _ in range(6):  # then 10 ms a step: grows at most fourfold towards 50 steps
        count = pace.next(1000)
        sizes.append(count)
        pace.took(count, 0.01 * count)
    assert sizes == [1, 4, 16, 50, 50, 50]
    assert pace.next(7) == 7  # never past the steps left


# ----------------------------------------------------------------------------- one-line errors


def test_argparse_error_is_one_line(models, capsys):
    status, _, err = run_cli(["dream", models["audio"], "--steps", "abc"], capsys)
    assert status == 2
    assert err.strip().splitlines() == [
        "tfam dream: error: argument --steps: invalid int value: 'abc' (see 'tfam dream --help')"
    ]


def test_tensorflow_error_is_one_line(models, capsys):
    status, _, err = run_cli(
        [
            "dream",
            models["audio"],
            "--class",
            "0",
            "--steps",
            "2",
            "--quiet",
            "--out",
            "/proc/no-such-process/out",
        ],
        capsys,
    )
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert err.startswith("tfam: error: ") and "No such file" in err and "{{" not in err


def test_unsafe_load_is_honoured_by_the_linear_logits_copy(models, tmp_path, capsys):
    argv = [
        "dream",
        models["lambda"],
        "--class",
        "1",
        "--steps",
        "3",
        "--quiet",
        "--out",
        tmp_path / "out",
    ]
    status, _, err = run_cli(argv, capsys)
    assert status == 2 and "--unsafe-load" in err
    status, _, err = run_cli(argv + ["--unsafe-load"], capsys)
    assert status == 0, err
    assert (tmp_path / "out" / "summary.json").exists()


# ----------------------------------------------------------------------------- broken audio


@pytest.mark.parametrize("kind", ["nan", "inf"])
def test_non_finite_wav_is_refused_naming_the_sample(models, kind):
    with pytest.raises(
        ValueError, match=r"1 NaN or infinite sample\(s\), the first at sample 1234"
    ):
        audio.read_wav(models[kind])
    x, _ = audio.read_wav(models[kind], non_finite="zero")
    assert x[1234] == 0.0 and np.all(np.isfinite(x)) and np.abs(x).max() > 0.1


@pytest.mark.parametrize("command", ["deepdream", "explain"])
def test_non_finite_wav_stops_deepdream_and_explain(models, tmp_path, capsys, caplog, command):
    extra = (
        ["--layer", "conv", "--steps", "2", "--octaves", "1"]
        if command == "deepdream"
        else [
            "--method",
            "saliency",
            "--steps",
            "2",
            "--griffin-lim-iterations",
            "2",
            "--sample-rate",
            "8000",
        ]
    )
    argv = [command, models["audio"], models["nan"], *extra, "--quiet", "--out", tmp_path / "out"]
    status, _, err = run_cli(argv, capsys)
    assert status == 2 and len(err.strip().splitlines()) == 1, err
    assert "nan.wav holds 1 NaN or infinite sample(s), the first at sample 1234" in err
    assert not (tmp_path / "out").exists()
    with caplog.at_level("WARNING", logger="tfam"):
        status, _, err = run_cli(argv + ["--zero-non-finite"], capsys)
    assert status == 0, err
    assert (
        "nan.wav holds 1 NaN or infinite sample(s), the first at sample 1234 (0.154 s): "
        "replaced by silence" in caplog.text
    )


def test_clipping_on_write_is_counted(tmp_path, caplog):
    x = np.array([0.0, 0.5, 1.5, -2.0, 0.9], np.float32)
    with caplog.at_level("WARNING", logger="tfam"):
        audio.write_wav(tmp_path / "loud.wav", x, 8000)
    assert "2 sample(s) outside [-1, 1] (peak 2) clipped" in caplog.text
    y, _ = audio.read_wav(tmp_path / "loud.wav")
    assert y[2] == pytest.approx(1.0, abs=1e-4) and y[3] == -1.0
    with pytest.raises(ValueError, match="NaN or infinite"):
        audio.write_wav(tmp_path / "nan.wav", np.array([0.0, np.nan]), 8000)
    assert not (tmp_path / "nan.wav").exists()


# ----------------------------------------------------------------------------- datasets


def test_fewer_than_two_classes_or_an_empty_class_is_named():
    with pytest.raises(ValueError, match=r"1 class\(es\) \(dog\); a classifier needs at least two"):
        check_classes({"train": [0, 0]}, ["dog"], "the data")
    with pytest.raises(ValueError, match=r"holds clips of 1 class\(es\) \(dog\)"):
        check_classes({"train": [0, 0], "test": [0]}, ["dog", "cat"], "the data", every_class=False)
    with pytest.raises(ValueError, match="the validate split has no clip of class 'cat'"):
        check_classes({"train": [0, 1], "validate": [0]}, ["dog", "cat"], "the data")
    check_classes({"train": [0, 1], "test": []}, ["dog", "cat"], "the data")  # no test clips: fine
    check_classes({"train": [0], "test": [1]}, ["dog", "cat"], "the data", every_class=False)


def test_pack_tool_refuses_a_one_class_folder(tmp_path):
    folder = tmp_path / "modified" / "audio" / "siren"
    folder.mkdir(parents=True)
    clip = np.zeros(32000, np.int16)
    for split in ("TRAIN", "VALIDATE", "TEST"):
        wavfile.write(folder / f"{split}-1.wav", 8000, clip)
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "datatools", "pack_urbansound.py"),
            str(tmp_path / "modified"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "1 class(es) (siren)" in result.stderr
    assert not (tmp_path / "modified" / "urbansound.npz").exists()


def test_training_refuses_a_split_lacking_a_class(tmp_path):
    from tfam.train.classifier import TrainConfig, Trainer

    x = np.zeros((4, 32000), np.float32)
    splits = {
        "train": (x, np.array([0, 0, 1, 1])),
        "validate": (x[:2], np.array([0, 0])),
        "test": (x[:0], np.array([], np.int64)),
    }
    config = TrainConfig(
        iterations=1,
        batch_size=2,
        logdir=str(tmp_path),
        width=0.0625,
        n_classes=2,
        class_names=("dog", "cat"),
    )
    with pytest.raises(ValueError, match="the validate split has no clip of class 'cat'"):
        Trainer(config, splits)


# ----------------------------------------------------------------------------- wide batches


def test_a_wide_batch_in_parts_matches_one_run(models):
    model = keras.models.load_model(models["audio"])
    objective = obj.channel("conv", list(range(8))) - 0.5 * obj.class_logit(
        [0, 1, 2, 0, 1, 2, 0, 1]
    )
    whole = tfam.dream(model, objective, steps=15, verbose=0, spatial_rank=1)
    parts = tfam.dream(model, objective, steps=15, verbose=0, spatial_rank=1, max_batch=3)
    np.testing.assert_allclose(parts.start_x, whole.start_x)
    np.testing.assert_allclose(parts.best_value, whole.best_value, rtol=1e-4, atol=1e-5)
    assert parts.history.shape == whole.history.shape == (15, 8)
    assert parts.class_targets == whole.class_targets
    # the parts are data fed to the whole batch's compiled loop: one loop, traced once
    from tfam import engine

    (loop,) = engine._dreamers[model].values()
    assert loop.trace_count == 1


def test_dream_every_channel_of_a_layer_in_batches(models, tmp_path, capsys):
    status, _, err = run_cli(
        [
            "dream",
            models["audio"],
            "--layer",
            "conv",
            "--channel",
            "all",
            "--max-batch",
            "3",
            "--steps",
            "5",
            "--quiet",
            "--tensorboard",
            "none",
            "--out",
            tmp_path / "out",
        ],
        capsys,
    )
    assert status == 0, err
    assert len(list((tmp_path / "out").glob("*.wav"))) == 8
