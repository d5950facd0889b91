"""train.py and tfam.train.classifier: learning, balanced batches, the seed's schedule, resume, strategies,
TensorBoard tags, and one-line errors."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from train_program import run_train_py  # tests/train_program.py: train.py in this process

from tfam.data import urbansound as us

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Small and quick: a narrow seed CNN learns the synthetic classes in a few dozen steps.
FAST = ["--width", "0.125", "--learning_rate", "0.001", "--val_every", "5", "--progress_every", "5"]


@pytest.fixture(scope="module")
def packed(tmp_path_factory, seed):
    path = str(tmp_path_factory.mktemp("data") / "urbansound.npz")
    us.synthesize_packed(path, clips_per_class=(10, 3, 3), seed=10 * seed)
    return path


def train_py(args, cwd, check=True, process=False):
    """train.py ARGS in ``cwd``: in this process (which saves starting TensorFlow), or with
    ``process`` as a program of its own."""
    if process:
        result = subprocess.run(
            [sys.executable, os.path.join(REPO, "train.py"), *args],
            cwd=cwd,
            capture_output=True,
            text=True,
        )
    else:
        result = run_train_py(args, cwd)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def one_line_error(result):
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tfam: error:"), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_balanced_batches_hold_equal_counts_per_class():
    from tfam.train.classifier import balanced_batches

    labels = np.repeat(np.arange(3), [5, 9, 2])
    audio = np.random.default_rng(0).uniform(-1, 1, (16, 32000)).astype(np.float32)
    batches = balanced_batches(audio, labels, 3, 10, "waveform", seed=0)  # 10 // 3 = 3 per class
    for x, y in batches.take(4):
        assert x.shape == (9, 32000)
        assert np.bincount(y.numpy(), minlength=3).tolist() == [3, 3, 3]
        for row, label in zip(
            x.numpy(), y.numpy()
        ):  # each row is the clip of its label (int16-exact)
            matches = np.flatnonzero(np.all(np.abs(audio - row) < 1 / 32768 + 1e-7, axis=1))
            assert labels[matches[0]] == label


def test_batch_smaller_than_the_class_count_is_refused():
    from tfam.train.classifier import balanced_batches

    with pytest.raises(ValueError, match="at least one clip per class"):
        balanced_batches(np.zeros((4, 32000), np.float32), np.arange(4), 4, 3, "waveform", 0)


@pytest.mark.trains
def test_train_py_learns_the_synthetic_classes_and_logs_tensorboard(
    packed, tmp_path, seed, measured
):
    from tfam.models.loading import load_model
    from tfam.report import summaries
    from tfam.train.classifier import predict_logits

    result = train_py(
        ["40", "27", packed, "--logdir", "logs", "--ckpt_every", "20", "--seed", str(seed), *FAST],
        tmp_path,
    )
    assert "step 40/40" in result.stdout and "ETA" in result.stdout and "steps/s" in result.stdout
    model_dir = tmp_path / "logs" / "model"
    for name in ("best.keras", "best.labels.txt", "model.keras", "config.json", "checkpoint"):
        assert (model_dir / name).exists(), name
    splits, class_names = us.load_packed(packed)
    model = load_model(str(model_dir / "best.keras"))
    x, y = splits["test"]
    accuracy = measured(
        "test accuracy", np.mean(predict_logits(model, x, "waveform").argmax(-1) == y)
    )
    assert accuracy > 0.6, accuracy  # chance is 1/9
    assert (model_dir / "best.labels.txt").read_text().split() == class_names

    tags = summaries.read_tags(str(tmp_path / "logs" / "tensorboard"))
    for tag in ("loss", "accuracy", "learning_rate", "full_accuracy"):
        assert tags.get(tag) == "scalars", (tag, tags)
    assert tags.get("confusion_matrix") == "images"
    assert tags.get("examples/audio") == "audio"
    assert tags.get("examples/spectrogram") == "images"
    steps = [
        s
        for s, _ in summaries.read_scalars(
            str(tmp_path / "logs" / "tensorboard"), "loss", run="train"
        )
    ]
    assert steps == list(range(1, 41))


@pytest.mark.trains
def test_seed_schedule_drops_the_learning_rate_spectrogram_front_end(
    packed, tmp_path, seed, measured
):
    from tfam.report import summaries

    result = train_py(
        [
            "30",
            "27",
            packed,
            "--logdir",
            "logs",
            "--ckpt_every",
            "30",
            "--drop_window",
            "5",
            "--drop_accuracy",
            "0.2",
            "--low_learning_rate",
            "0.00002",
            "--frontend",
            "spectrogram",
            "--seed",
            str(seed),
            *FAST,
        ],
        tmp_path,
    )
    assert "urbansound_cnn_spectrogram" in result.stdout
    rates = dict(
        summaries.read_scalars(str(tmp_path / "logs" / "tensorboard"), "learning_rate", run="train")
    )
    assert rates[1] == pytest.approx(0.001)
    assert rates[30] == pytest.approx(0.00002)
    dropped_at = measured("dropped at step", min(s for s, r in rates.items() if r < 0.001))
    assert dropped_at >= 5  # not before the window is full
    assert all(
        r == pytest.approx(0.00002) for s, r in rates.items() if s >= dropped_at
    )  # stays low


def test_interrupted_run_resumes_where_it_stopped(packed, tmp_path):
    from tfam.report import summaries

    args = ["400", "27", packed, "--logdir", "logs", "--ckpt_every", "1000", *FAST]
    process = subprocess.Popen(
        [sys.executable, os.path.join(REPO, "train.py"), *args],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in process.stdout:  # wait for real progress, then interrupt as Ctrl-C would
        if line.startswith("step 10/"):
            process.send_signal(signal.SIGINT)
            break
    out, err = process.communicate(timeout=120)
    assert process.returncode != 0
    assert "interrupted at step" in out and "Traceback" not in err
    stopped = int(out.split("interrupted at step ")[1].split(":")[0])
    assert stopped >= 10

    again = train_py(["400", "27", packed, "--logdir", "logs", *FAST], tmp_path, check=False)
    assert "--resume" in one_line_error(again)  # an earlier run is never overwritten silently

    total = stopped + 10
    resumed = train_py([str(total), "27", packed, "--logdir", "logs", "--resume", *FAST], tmp_path)
    assert f"at step {stopped}" in resumed.stdout
    assert f"step {total}/{total}" in resumed.stdout
    steps = [
        s
        for s, _ in summaries.read_scalars(
            str(tmp_path / "logs" / "tensorboard"), "loss", run="train"
        )
    ]
    assert sorted(steps) == list(range(1, total + 1))  # continues the count; no step twice
    config = json.loads((tmp_path / "logs" / "model" / "config.json").read_text())
    assert config["iterations"] == total

    other = train_py(
        [str(total + 5), "27", packed, "--logdir", "logs", "--resume", *FAST, "--width", "0.25"],
        tmp_path,
        check=False,
    )
    assert "width" in one_line_error(other)


@pytest.mark.trains
def test_mirrored_strategy_on_two_cpu_devices_learns(packed, tmp_path, seed, measured):
    from tfam.models.loading import load_model
    from tfam.train.classifier import predict_logits

    result = train_py(
        [
            "40",
            "27",
            packed,
            "--logdir",
            "logs",
            "--strategy",
            "mirrored",
            "--cpu_devices",
            "2",
            "--ckpt_every",
            "40",
            "--seed",
            str(seed),
            *FAST,
        ],
        tmp_path,
        process=True,  # logical CPU devices are set before TensorFlow starts
    )
    assert "2 replica(s)" in result.stdout
    splits, _ = us.load_packed(packed)
    model = load_model(str(tmp_path / "logs" / "model" / "best.keras"))
    x, y = splits["test"]
    accuracy = measured(
        "test accuracy", np.mean(predict_logits(model, x, "waveform").argmax(-1) == y)
    )
    assert accuracy > 0.6, accuracy  # chance is 1/9


@pytest.mark.parametrize(
    "args, words",
    [
        (["5", "27", "missing/urbansound.pkl"], "datatools"),
        (["five"], "iterations must be a whole number"),
        (["5", "4"], "at least one clip per class"),
    ],
)
def test_bad_input_is_one_line(packed, tmp_path, args, words):
    if args[1:2] == ["4"]:
        args = args + [packed]
    assert words in one_line_error(train_py(args, tmp_path, check=False, process=True))


def test_pickle_is_refused_without_the_flag(tmp_path):
    (tmp_path / "urbansound.pkl").write_bytes(b"not read")
    line = one_line_error(
        train_py(["5", "27", "urbansound.pkl"], tmp_path, check=False, process=True)
    )
    assert "--allow_pickle" in line and "pickle" in line


@pytest.mark.trains
def test_train_py_trains_the_emotion_mel_classifier(tmp_path, seed, measured):
    from tfam.data import emotion
    from tfam.models.loading import load_model
    from tfam.train.classifier import input_settings, predict_logits

    data = str(tmp_path / "emotion.npz")
    emotion.synthesize_packed(data, clips_per_class=(8, 3, 3), seed=10 * seed)
    result = train_py(
        [
            "20",
            "16",
            data,
            "--dataset",
            "emotion",
            "--logdir",
            "logs",
            "--width",
            "0.25",
            "--learning_rate",
            "0.001",
            "--ckpt_every",
            "20",
            "--progress_every",
            "10",
            "--seed",
            str(seed),
        ],
        tmp_path,
    )
    assert "emotion_mel_cnn" in result.stdout
    splits, _ = emotion.load_packed(data)
    model = load_model(str(tmp_path / "logs" / "model" / "best.keras"))
    frontend, crop = input_settings("emotion_mel")
    x, y = splits["test"]
    accuracy = measured(
        "test accuracy", np.mean(predict_logits(model, x, frontend, crop=crop).argmax(-1) == y)
    )
    assert accuracy > 0.5, accuracy  # chance 0.25


def test_architecture_must_fit_the_dataset(packed, tmp_path):
    line = one_line_error(
        train_py(["5", "27", packed, "--architecture", "emotion_raw"], tmp_path, check=False)
    )
    assert "does not fit" in line


def test_a_run_from_before_the_lep_and_blocks_settings_resumes(packed, tmp_path):
    """config.json of a run saved before blocks / lep_weight / word_vectors existed: the missing
    keys count as their defaults, so it resumes, and a different LEP weight is refused."""
    from tfam.train.classifier import TrainConfig, Trainer

    splits, class_names = us.load_packed(packed)
    settings = dict(
        batch_size=27,
        logdir=str(tmp_path / "logs"),
        architecture="timepool",
        width=0.125,
        learning_rate=0.001,
        schedule="constant",
        ckpt_every=1000,
        n_classes=len(class_names),
        class_names=tuple(class_names),
    )
    Trainer(TrainConfig(iterations=2, **settings), splits, progress_every=1000).train()
    path = tmp_path / "logs" / "model" / "config.json"
    config = json.loads(path.read_text())
    for key in ("blocks", "lep_weight", "word_vectors"):
        del config[key]
    path.write_text(json.dumps(config))
    resumed = Trainer(
        TrainConfig(iterations=3, **settings), splits, resume=True, progress_every=1000
    )
    assert int(resumed.step) == 2
    vectors = tmp_path / "vectors.npy"
    np.save(vectors, np.eye(len(class_names), 4, dtype=np.float32))
    with pytest.raises(ValueError, match="lep_weight 0.0 -> 0.5"):
        Trainer(
            TrainConfig(iterations=3, lep_weight=0.5, word_vectors=str(vectors), **settings),
            splits,
            resume=True,
        )


def test_repeated_predictions_do_not_trace_again():
    import gc
    import weakref

    from tfam.models import urbansound_cnn
    from tfam.train import classifier

    model = urbansound_cnn(3, "spectrogram", width=0.0625)
    x = np.random.default_rng(0).uniform(-0.1, 0.1, (10, 32000)).astype(np.float32)
    first = classifier.predict_logits(model, x, "spectrogram", batch_size=4)  # 4, 4 and 2 rows
    second = classifier.predict_logits(model, x[:7], "spectrogram", batch_size=4)
    np.testing.assert_allclose(second, first[:7], atol=1e-5)
    (call,) = classifier._predictors[model].values()
    assert call.experimental_get_tracing_count() == 1
    held = weakref.ref(model)
    del model, call
    gc.collect()
    assert held() is None  # the cache does not keep the model alive


def test_train_py_trains_in_bfloat16_and_the_model_computes_in_it(packed, tmp_path):
    import keras

    from tfam.models.loading import load_model

    result = train_py(["6", "18", packed, "--precision", "mixed_bfloat16", *FAST], tmp_path)
    assert "step 6/6" in result.stdout
    model = load_model(str(tmp_path / "logs" / "model" / "best.keras"))
    dtypes = {layer.name: layer.compute_dtype for layer in model.layers}
    assert dtypes["spectrogram"] == "float32"  # the front end's FFTs stay in float32
    assert dtypes["conv1"] == "bfloat16" and model.get_layer("conv1").kernel.dtype == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"  # the process is left as it was
    x = np.random.default_rng(0).normal(0, 0.1, (2,) + tuple(model.inputs[0].shape[1:]))
    logits = np.asarray(model(x.astype(np.float32)), np.float32)
    assert logits.shape == (2, 9) and np.all(np.isfinite(logits))
    # and it can be dreamed: the engine scores in float32
    import tfam
    from tfam import objectives

    dreamed = tfam.dream(model, objectives.class_logit([0, 1]), steps=3, verbose=0)
    assert np.all(np.isfinite(dreamed.history)) and dreamed.history.dtype == np.float32
    again = train_py(["8", "18", packed, "--resume", *FAST], tmp_path, check=False)
    assert "precision" in one_line_error(again)  # resuming keeps the run's precision
