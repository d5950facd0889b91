"""Every kind of model a user brings, through tfam's API and its commands (issue 9's list): Keras 2
.h5 and legacy SavedModel (with optimizer slots), a TF1 frozen graph, tf.Module SavedModels with a
dict of outputs, a time axis and a sigmoid end, a Keras 3 export and a Keras 3 file, both with a
(samples, 1) input of any length. The models are tests/model_kinds.py's, tiny and untrained."""

import json
import logging
import os

import numpy as np
import pytest
import tensorflow as tf
from cli_runs import run_cli
from model_kinds import SAMPLES, Module, save

import tfam
from tfam import objectives
from tfam.attribution import attribute
from tfam.deep_dream import deepdream
from tfam.models.loading import describe, load_model
from tfam.surgery import layer_names

# name: (fixture, path inside it, load_model options, inner tensor, squash, class column)
KINDS = {
    "keras2 legacy SavedModel": (
        "keras2",
        "legacy_saved_model",
        {},
        "sequential/conv1/Relu",
        "softmax",
        0,
    ),
    "keras2 h5": ("keras2", "keras2.h5", {}, "conv1", "softmax", 1),
    "tf1 frozen graph": ("built", "frozen", {}, "conv3/LeakyRelu", None, 2),
    "dict of outputs": ("built", "dict", {"output": "probs"}, "conv3/LeakyRelu", "softmax", 2),
    "time axis": ("built", "time", {"reduce": "max"}, "act", "softmax", 1),
    "sigmoid end": ("built", "sigmoid", {}, "hidden/LeakyRelu", "sigmoid", 0),
    "keras3 export (samples, 1)": (
        "built",
        "keras3",
        {"input_shape": (SAMPLES, 1)},
        "Relu",  # functional_1/conv1_1/Relu: an export names layers as Keras uniquified them
        "softmax",
        1,
    ),
    "keras3 file of any length": (
        "built",
        "keras_file",
        {"input_shape": (SAMPLES, 1)},
        "conv1",
        "softmax",
        0,
    ),
}


def _path(request, kind):
    fixture, name = KINDS[kind][:2]
    found = request.getfixturevalue(fixture)
    return str(found[0] / name) if fixture == "keras2" else found[name]


def _inner(model, kind):
    """The kind's inner tensor as tfam names it (a Keras 3 export's carry the model's prefix)."""
    wanted = KINDS[kind][3]
    return next(name for name in layer_names(model) if name.endswith(wanted))


def _input(model, rows=2, seed=0):
    shape = (rows,) + tuple(model.inputs[0].shape[1:])
    return (0.1 * np.random.default_rng(seed).normal(size=shape)).astype("float32")


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_dreams_deep_dreams_and_explains(kind, request, caplog):
    path = _path(request, kind)
    _, _, options, _, squash, column = KINDS[kind]
    info = describe(path)
    assert info["inputs"] and info["outputs"] and info["layers"]
    assert [o["squash"] for o in info["outputs"] if o["squash"]][-1:] == [squash][: bool(squash)]

    model = load_model(path, **options)
    assert len(model.inputs) == 1 and len(model.outputs) == 1
    assert tuple(model.inputs[0].shape[1:]) in ((SAMPLES,), (SAMPLES, 1))
    inner = _inner(model, kind)
    assert inner in [layer["name"] for layer in info["layers"]]

    # a class objective rises under ascent, on the logits: the note says so where there is a squash
    with caplog.at_level(logging.WARNING, logger="tfam"):
        result = tfam.dream(model, objectives.class_logit(column), steps=20, verbose=0, seed=1)
    history = np.asarray(result.history)[:, 0]
    assert history[-1] > history[0] + 0.05, history
    assert (f"ends in {squash}" in caplog.text) == bool(squash), caplog.text

    # deep dream of the named inner tensor raises its mean square
    start = _input(model, rows=1)[0]
    dreamed = deepdream(model, inner, start, steps=8, step_size=0.05, seed=0)
    probe = tfam.surgery.outputs_model(model, [inner])
    before, after = (float(np.mean(probe(x[None])[0] ** 2)) for x in (start, dreamed))
    assert after > before, (before, after)

    # saliency and a CAM method give finite maps over time
    x = _input(model)
    for method in ("saliency", "gradcam"):
        maps = attribute(model, x, method).maps
        assert maps.shape == (2, SAMPLES) and np.all(np.isfinite(maps)), (method, maps.shape)
        assert maps.max() > 0, method


def _flags(options):
    flags = []
    if "output" in options:
        flags += ["--output", options["output"]]
    if "reduce" in options:
        flags += ["--reduce", options["reduce"]]
    return flags


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """A 0.1 s tone at 22050 Hz, the rate tfam assumes for bare waveform models."""
    from tfam import audio

    path = str(tmp_path_factory.mktemp("clip") / "tone.wav")
    t = np.arange(2205) / 22050
    audio.write_wav(path, (0.3 * np.sin(2 * np.pi * 440 * t)).astype("float32"), 22050)
    return path


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_kind_through_the_commands(kind, request, tmp_path, capsys, caplog, clip):
    path = _path(request, kind)
    _, _, options, wanted, squash, column = KINDS[kind]
    flags = _flags(options)
    status, out, err = run_cli(["inspect", path, "--json"], capsys)
    assert status == 0, err
    info = json.loads(out)
    inner = next(layer["name"] for layer in info["layers"] if layer["name"].endswith(wanted))
    status, out, _ = run_cli(["inspect", path, "--match", wanted], capsys)
    assert status == 0 and inner in out and "inputs:" in out and "outputs:" in out

    length = ["--seconds", str(SAMPLES / 22050), "--sample-rate", "22050"]
    dream = ["dream", path, "--class", str(column), "--steps", "4", "--quiet"]
    dream += ["--tensorboard", "none", "--out", str(tmp_path / "dream")] + flags
    if "input_shape" in options:
        status, _, err = run_cli(dream, capsys)  # any length: the dream's must be given
        assert status == 2 and "--seconds" in err, err
        dream += length
    with caplog.at_level(logging.WARNING, logger="tfam"):  # the note goes to the tfam logger
        status, _, err = run_cli(dream, capsys)
    assert status == 0, err
    assert (f"ends in {squash}" in caplog.text) == bool(squash), caplog.text
    assert os.path.exists(tmp_path / "dream" / "summary.json")

    deep = ["deepdream", path, clip, "--layer", inner, "--steps", "3", "--quiet"]
    deep += ["--sample-rate", "22050", "--out", str(tmp_path / "deep")]
    status, _, err = run_cli(deep + flags, capsys)
    assert status == 0, err

    explain = ["explain", path, clip, "--method", "gradcam", "--steps", "3", "--quiet"]
    explain += ["--tensorboard", "none", "--out", str(tmp_path / "explain")]
    status, _, err = run_cli(explain + flags, capsys)
    assert status == 0, err
    summary = json.load(open(tmp_path / "explain" / "summary.json"))
    assert summary["layers"] and summary["layers"][0].endswith(inner.split("/")[-1])


def test_several_outputs_unnamed_is_one_line_naming_them(built, capsys, tmp_path):
    status, _, err = run_cli(
        ["dream", built["dict"], "--class", "0", "--out", str(tmp_path)], capsys
    )
    assert status == 2 and err.count("\n") == 1
    assert "several outputs; choose one: energy, logits, probs" in err


def test_a_signature_that_writes_a_file_is_refused_by_every_command(tmp_path, capsys, clip):
    target = tmp_path / "written.txt"

    def body(self, x):
        tf.io.write_file(str(target), "the model ran")
        return {"y": tf.matmul(tf.reduce_mean(x[..., None] * self.kernel[0, 0], 1), self.head)}

    path = save(Module(body), tmp_path / "writer")
    for argv in (
        ["inspect", path],
        ["dream", path, "--class", "0", "--out", str(tmp_path / "d")],
        ["explain", path, clip, "--out", str(tmp_path / "e")],
    ):
        status, _, err = run_cli(argv, capsys)
        assert status == 2 and err.count("\n") == 1 and "WriteFile" in err, err
        assert "--unsafe-load" in err
    assert not target.exists()


@pytest.mark.parametrize(
    "name, data, what",
    [
        ("model.tflite", b"\x1c\x00\x00\x00TFL3" + bytes(64), "TensorFlow Lite"),
        ("model.onnx", b"\x08\x07\x12\x07pytorch\x1a\x032.1", "ONNX"),
        ("model.pth", b"\x80\x02}q\x00.", "pickle"),
    ],
)
def test_files_that_are_not_tensorflow_models_exit_2_in_one_line(
    name, data, what, tmp_path, capsys
):
    path = tmp_path / name
    path.write_bytes(data)
    for command in ("inspect", "dream"):
        status, _, err = run_cli([command, str(path)], capsys)
        assert status == 2 and err.count("\n") == 1 and what in err, err


def test_a_frozen_graph_dreams_as_the_keras_model_it_came_from(tmp_path):
    """freeze_graph.py's .pb alone reaches the target probability the .keras model reaches."""
    import keras

    from tfam.models.urbansound_cnn import urbansound_cnn
    from tfam.train import freeze

    keras.utils.set_random_seed(0)
    model = urbansound_cnn(n_classes=9, frontend="waveform", width=1 / 32)
    model.save(tmp_path / "best.keras")
    freeze.freeze(model, str(tmp_path / "output.pb"))
    reached, rose = [], []
    for path in (tmp_path / "best.keras", tmp_path / "output.pb"):
        loaded = load_model(str(path))
        result = tfam.dream(
            loaded, objectives.class_logit(4), steps=30, learning_rate=0.1, seed=3, verbose=0
        )
        reached.append(float(result.target_probability[0]))
        rose.append(float(result.history[-1, 0] - result.history[0, 0]))
    assert abs(reached[0] - reached[1]) < 0.02, reached
    assert min(rose) > 0.02, rose  # the logit rose (by 0.1 here): the dream moved toward the class


def test_a_keras_model_with_several_outputs_and_a_time_axis(tmp_path, caplog):
    """A Keras 3 tagger: per-frame softmax and a clip-level sigmoid; --output picks one, the time
    axis is reduced over frames, and the logits are those of the frames (before the softmax)."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((SAMPLES,), name="wave")
    h = keras.layers.Reshape((SAMPLES, 1))(inputs)
    h = keras.layers.Conv1D(4, 16, strides=16, activation="relu", name="conv")(h)
    frames = keras.layers.Dense(3, activation="softmax", name="frames")(h)
    clip = keras.layers.Dense(2, activation="sigmoid", name="tags")(
        keras.layers.GlobalAveragePooling1D()(h)
    )
    keras.Model(inputs, [frames, clip]).save(tmp_path / "tagger.keras")
    path = str(tmp_path / "tagger.keras")
    with pytest.raises(ValueError, match=r"2 outputs \(frames, tags\); choose one"):
        load_model(path)
    with pytest.raises(ValueError, match="no output 'frame'"):
        load_model(path, output="frame")
    x = _input(load_model(path, output="tags"))
    tagged = load_model(path, output="tags")
    assert tagged.output_shape == (None, 2) and tfam.surgery.output_activation(tagged) == "sigmoid"
    for reduce, op in (("mean", np.mean), ("max", np.max)):
        model = load_model(path, output="frames", reduce=reduce)
        assert model.output_shape == (None, 3)
        assert tfam.surgery.output_activation(model) == "softmax"
        with caplog.at_level(logging.WARNING, logger="tfam"):
            logits = tfam.surgery.with_linear_logits(model)
        assert "ends in softmax" in caplog.text
        frame_logits = keras.Model(model.inputs[0], model.get_layer("frames").output)
        np.testing.assert_allclose(model(x), op(frame_logits(x), axis=1), rtol=1e-5)
        pre_softmax = keras.Model(logits.inputs[0], logits.layers[-2].output)(x)
        np.testing.assert_allclose(logits(x), op(pre_softmax, axis=1), rtol=1e-5, atol=1e-6)
        result = tfam.dream(model, objectives.class_logit(1), steps=10, verbose=0)
        assert result.history[-1, 0] > result.history[0, 0]


def test_inspect_tells_the_sample_rate_of_a_tfam_front_end(tmp_path, capsys):
    from tfam.models.urbansound_cnn import urbansound_cnn

    model = urbansound_cnn(n_classes=3, frontend="waveform", width=1 / 32)
    model.save(tmp_path / "cnn.keras")
    info = describe(str(tmp_path / "cnn.keras"))
    assert info["sample_rate"] == 8000
    assert {"conv1", "fc2"} <= {layer["name"] for layer in info["layers"]}
    status, out, _ = run_cli(["inspect", str(tmp_path / "cnn.keras"), "--match", "conv"], capsys)
    assert status == 0 and "sample rate: 8000 Hz" in out and "conv1" in out
    assert "  fc2  " not in out.split("--layer")[1]  # outputs are listed; layers are filtered
