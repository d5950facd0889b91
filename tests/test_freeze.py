"""Immutable graphs (tfam.train.freeze) and the seed's freeze_graph.py / eval.py programs."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfam.audio import spectrogram
from tfam.data import urbansound
from tfam.models.urbansound_cnn import INPUT_NODE, OUTPUT_NODE, urbansound_cnn
from tfam.train import freeze

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tiny_model(frontend, seed=0):
    keras.utils.set_random_seed(seed)
    return urbansound_cnn(n_classes=9, frontend=frontend, width=1 / 32)


def graph_nodes(path):
    graph_def = tf.compat.v1.GraphDef()
    with open(path, "rb") as f:
        graph_def.ParseFromString(f.read())
    return graph_def.node


@pytest.fixture(scope="module")
def frozen_waveform(tmp_path_factory):
    model = tiny_model("waveform")
    path = str(tmp_path_factory.mktemp("frozen") / "logs" / "model" / "output.pb")  # dirs made
    return model, path, freeze.freeze(model, path)


@pytest.mark.parametrize("frontend", ["waveform", "spectrogram"])
def test_frozen_graph_gives_the_keras_logits_at_the_documented_nodes(
    frontend, frozen_waveform, tmp_path
):
    if frontend == "waveform":
        model, path, info = frozen_waveform
    else:
        model, path = tiny_model(frontend), str(tmp_path / "output.pb")
        info = freeze.freeze(model, path)
    shape = (None,) + tuple(model.input_shape[1:])
    assert (info.input_node, info.input_shape) == ("input", shape)
    assert (info.output_node, info.output_shape) == ("fc2/fully_connected/fc_out", (None, 9))
    assert (INPUT_NODE, OUTPUT_NODE) == (info.input_node, info.output_node)
    nodes = graph_nodes(path)
    assert [n.name for n in nodes if n.op == "Placeholder"] == ["input"]
    assert [n.op for n in nodes if n.name == "fc2/fully_connected/fc_out"] == ["Identity"]
    assert not any(
        n.op in ("VarHandleOp", "ReadVariableOp") for n in nodes
    )  # weights are constants

    graph = freeze.load_frozen(path)
    assert graph.input_shape == shape and graph.output_shape == (None, 9)
    x = np.random.default_rng(1).uniform(-1, 1, (5,) + shape[1:]).astype(np.float32)
    np.testing.assert_allclose(graph(x), model(x, training=False).numpy(), atol=1e-5)


def test_load_frozen_errors_are_one_clear_line(frozen_waveform, tmp_path):
    _, path, _ = frozen_waveform
    with pytest.raises(FileNotFoundError, match="no frozen graph at"):
        freeze.load_frozen(str(tmp_path / "missing.pb"))
    garbage = tmp_path / "garbage.pb"
    garbage.write_bytes(b"this is not a GraphDef \x00\xff\xfe" * 10)
    with pytest.raises(ValueError, match="not a frozen graph"):
        freeze.load_frozen(str(garbage))
    with pytest.raises(
        ValueError, match="no output node 'fc_out'.*Placeholder nodes: input"
    ) as error:
        freeze.load_frozen(path, output_node="fc_out")
    assert "\n" not in str(error.value) and "fc2/fully_connected/fc_out" in str(error.value)
    with pytest.raises(ValueError, match="no input node 'x'.*Placeholder nodes: input"):
        freeze.load_frozen(path, input_node="x")


def test_evaluate_matches_a_hand_computation():
    logits = np.array(
        [
            [3, 1, 0, 0, -1],
            [0, 2, 1, 0, -1],
            [0, 0, 1, 5, -1],
            [1, 0, 0, 0, -1],
            [0, 9, 0, 0, -1],
            [0, 0, 4, 1, -1],
            [2, 3, 0, 0, -1],
        ],
        np.float32,
    )
    y = np.array([0, 1, 3, 1, 1, 2, 0])  # no clips of class 4
    x = np.arange(len(y))[
        :, None
    ]  # each "clip" is its row index, so predict can look its logits up

    result = freeze.evaluate(lambda batch: logits[batch[:, 0]], x, y, n_classes=5, batch_size=3)
    predicted = logits.argmax(axis=1)
    confusion = np.zeros((5, 5), int)
    for t, p in zip(y, predicted):
        confusion[t, p] += 1
    np.testing.assert_array_equal(result["confusion"], confusion)
    assert result["accuracy"] == pytest.approx(np.mean(predicted == y))
    expected = [np.mean(predicted[y == k] == k) if np.any(y == k) else None for k in range(5)]
    assert result["per_class_accuracy"][4] is None  # class 4 has no clips: None, not NaN
    assert result["per_class_accuracy"][:4] == pytest.approx(expected[:4])
    with pytest.raises(ValueError, match="expected 5 logits"):
        freeze.evaluate(lambda batch: logits[batch[:, 0], :4], x, y, n_classes=5)


# ---------------------------------------------------------------------------------------------
# the programs, as a user runs them


def start_program(*argv):
    env = {"PATH": os.environ.get("PATH", ""), "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.Popen(
        [sys.executable, *argv],
        cwd=REPO,
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def finish(process):
    stdout, stderr = process.communicate(timeout=300)
    return process.returncode, stdout, stderr


def run_program(*argv):
    return finish(start_program(*argv))


def assert_one_line_error(status, stderr, *words):
    assert status != 0
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tfam: error:"), stderr
    for word in words:
        assert word in lines[0]


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    """A spectrogram model saved as .keras and a packed dataset whose test labels are what the
    model predicts for 12 of 20 clips (expected accuracy 0.6, whatever the random weights)."""
    root = tmp_path_factory.mktemp("programs")
    model = tiny_model("spectrogram", seed=3)
    model.save(root / "best.keras")
    rng = np.random.default_rng(0)
    audio = {
        s: (rng.uniform(-1, 1, (n, urbansound.SAMPLES)) * 20000).astype(np.int16)
        for s, n in (("train", 2), ("validate", 2), ("test", 20))
    }
    x = audio["test"].astype(np.float32) / 32768.0  # what load_packed gives eval.py
    predicted = model(spectrogram.seed_spectrogram(x), training=False).numpy().argmax(axis=1)
    test_labels = np.where(np.arange(20) < 12, predicted, (predicted + 1) % 9)
    splits = {
        s: (
            a,
            test_labels if s == "test" else np.zeros(len(a), np.int64),
            [f"{s}-{i}.wav" for i in range(len(a))],
        )
        for s, a in audio.items()
    }
    urbansound._save_npz(str(root / "small.npz"), splits, urbansound.CLASSES)
    keras_accuracy = float(np.mean(predicted == test_labels))
    assert keras_accuracy == 0.6
    return root, keras_accuracy


def test_freeze_graph_then_eval_gives_the_keras_accuracy(small_dataset):
    root, keras_accuracy = small_dataset
    graph = str(root / "model" / "output.pb")
    status, stdout, stderr = run_program(
        "freeze_graph.py", "--model", str(root / "best.keras"), "--output_graph", graph
    )
    assert status == 0, stderr
    assert f"wrote {graph}" in stdout
    assert "'input'" in stdout and "'fc2/fully_connected/fc_out'" in stdout

    # the graph's nodes exist, but not the one asked for (run beside the next: TF starts slowly)
    nope = start_program(
        "eval.py", "--graph", graph, "--data", str(root / "small.npz"), "--output_node", "nope"
    )
    results = str(root / "results.json")
    status, stdout, stderr = run_program(
        "eval.py", "--graph", graph, "--data", str(root / "small.npz"), "--json", results
    )
    assert status == 0, stderr
    assert f"accuracy: {keras_accuracy:.4f} (12/20 clips)" in stdout
    assert "confusion matrix" in stdout and "street_music" in stdout
    saved = json.loads(open(results).read())
    assert saved["accuracy"] == pytest.approx(keras_accuracy)
    assert np.array(saved["confusion"]).sum() == 20

    status, _, stderr = finish(nope)
    assert_one_line_error(status, stderr, "'nope'")


def test_programs_report_missing_files_in_one_line(tmp_path):
    status, _, stderr = run_program("eval.py", "--graph", str(tmp_path / "missing.pb"))
    assert_one_line_error(status, stderr, "missing.pb")
    status, _, stderr = run_program(
        "freeze_graph.py",
        "--model",
        str(tmp_path / "missing.keras"),
        "--output_graph",
        str(tmp_path / "out.pb"),
    )
    assert_one_line_error(status, stderr, "missing.keras", "train.py")
    assert not (tmp_path / "out.pb").exists()
