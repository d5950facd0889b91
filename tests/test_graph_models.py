"""Graph-backed models (tfam.models.graphs), of every kind tests/model_kinds.py builds."""

import hashlib
import os
import pickle
import sys
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf
from model_kinds import SAMPLES, Module, save

from tfam.models import graphs
from tfam.objectives import OUTPUT

X = np.random.default_rng(0).normal(size=(4, SAMPLES)).astype("float32")


def _ascent(model, x, which, steps=5, rate=0.2):
    """Plain normalized gradient ascent of ``which(outputs)`` (one value per row) on the input,
    through the Keras adapter inside a tf.function; returns the values per step, (steps + 1, B)."""
    x = tf.Variable(x)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            value = which(model(x, training=False))
        grad = tape.gradient(value, x)
        tf.debugging.assert_all_finite(grad, "gradient")
        x.assign_add(rate * grad / (tf.math.reduce_std(grad) + 1e-12))
        return value

    return np.array([step().numpy() for _ in range(steps + 1)])


def _check_ascent(graph, inner, output=None, input_shape=None, x=X, column=0):
    """A class logit (pre-squash) and the mean square of ``inner`` rise under ascent."""
    model = graphs.as_keras_model(
        graph, fetches=[OUTPUT, inner], output=output, logits=True, input_shape=input_shape
    )
    logit = _ascent(model, x, lambda outs: outs[0][:, column])
    energy = _ascent(
        model, x, lambda outs: tf.reduce_mean(tf.reshape(outs[1], [len(x), -1]) ** 2, 1)
    )
    assert logit[-1].mean() > logit[0].mean() + 0.1, logit
    assert energy[-1].mean() > energy[0].mean(), energy


def _tree(path):
    """Every file under ``path`` with its size, mtime and hash: to see that nothing was written."""
    found = {}
    for folder, _, files in os.walk(path):
        for name in files:
            full = os.path.join(folder, name)
            with open(full, "rb") as f:
                found[full] = (
                    os.path.getsize(full),
                    os.path.getmtime(full),
                    hashlib.sha1(f.read()).hexdigest(),
                )
    return found


def test_legacy_keras2_saved_model_fails_in_tf_saved_model_load(keras2, monkeypatch):
    """The upstream failure that tfam works around (TF >= 2.16 without Keras 2)."""
    from tensorflow.python.saved_model import revived_types

    if "optimizer" in revived_types.registered_identifiers():
        pytest.skip("tf_keras was imported in this process: its optimizer revives the slots here")
    monkeypatch.setitem(sys.modules, "tf_keras", None)  # as for a user without Keras 2
    with pytest.raises(AttributeError, match="add_slot"):
        tf.saved_model.load(str(keras2[0] / "legacy_saved_model"))


def test_legacy_keras2_saved_model_opens_without_its_optimizer_slots(keras2, monkeypatch):
    root, x, reference = keras2
    path = str(root / "legacy_saved_model")
    before = _tree(path)
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "tf_keras", None)  # tfam must not need Keras 2 either
        graph = graphs.load(path)
    assert _tree(path) == before
    assert graphs.sniff(path) == "saved_model"
    assert [(i.name, i.shape, i.dtype) for i in graph.inputs] == [
        ("input_1", (None, SAMPLES), "float32")
    ]
    assert [(o.name, o.shape) for o in graph.outputs] == [("fc", (None, 3))]
    assert graph.squash() == graphs.Squash("softmax", "sequential/fc/BiasAdd")
    assert ("sequential/conv1/Relu", (None, SAMPLES - 4, 4)) in [
        (t.name, t.shape) for t in graph.tensors()
    ]
    (probabilities,) = graph.function([OUTPUT])(x)
    np.testing.assert_allclose(probabilities.numpy(), reference, atol=1e-5)  # the trained weights
    _check_ascent(graph, "sequential/conv1/Relu")


def test_keras3_opens_the_keras2_h5_file(keras2):
    root, x, reference = keras2
    path = str(root / "keras2.h5")
    assert graphs.sniff(path) == "h5"
    model = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(model.predict(x, verbose=0), reference, atol=1e-5)
    with pytest.raises(ValueError, match="keras.models.load_model"):
        graphs.load(path)


def test_keras3_export_with_samples_by_one_input_of_any_length(built):
    graph = graphs.load(built["keras3"])
    assert graphs.sniff(built["keras_file"]) == "keras"
    assert [(i.name, i.shape) for i in graph.inputs] == [("wave", (None, None, 1))]
    assert graph.squash().kind == "softmax"
    conv = [t for t in graph.tensors("conv1") if t.op == "Relu"]
    assert len(conv) == 1 and conv[0].shape == (None, None, 4)
    model = graphs.as_keras_model(graph, input_shape=(SAMPLES, 1))
    assert tuple(model.inputs[0].shape) == (None, SAMPLES, 1)
    assert model(X[..., None]).shape == (4, 3)
    assert graphs.graph_model_of(model) is graph
    rebuilt = keras.Model(model.inputs, model.outputs)  # as tfam's engine rebuilds a model
    np.testing.assert_allclose(rebuilt([X[..., None]]), model(X[..., None]))
    _check_ascent(graph, conv[0].name, input_shape=(SAMPLES, 1), x=X[..., None])
    with pytest.raises(ValueError, match="does not fit"):
        graphs.as_keras_model(graph, input_shape=(SAMPLES,))


def test_tf1_frozen_graph_with_seed_002_node_names(built):
    path = built["frozen"]
    assert graphs.sniff(path) == "graph_def"
    graph = graphs.load(path)  # the default nodes
    assert [(i.name, i.shape) for i in graph.inputs] == [("input", (None, SAMPLES))]
    assert [(o.name, o.shape) for o in graph.outputs] == [("fc2/fully_connected/fc_out", (None, 3))]
    assert graph.squash() is None  # fc_out is the logits
    assert ("conv3/LeakyRelu", (None, SAMPLES, 4)) in [(t.name, t.shape) for t in graph.tensors()]
    _check_ascent(graph, "conv3/LeakyRelu")
    probabilities = graphs.load(path, output_node="prob")
    assert probabilities.squash() == graphs.Squash("softmax", "fc2/fully_connected/fc_out")
    with pytest.raises(ValueError, match="no output node 'logits'.*candidates: prob"):
        graphs.load(path, output_node="logits")


def test_tf1_saved_model_restores_its_variables_through_its_saver(tmp_path):
    """A TF1 SavedModel (no object graph): loading runs its saver's restore part, which the op
    check lets restore variables."""
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, 8], name="input")
        w = tf.compat.v1.get_variable("w", initializer=np.eye(8, 3, dtype="float32") * 2)
        with tf.name_scope("conv3"):
            h = tf.nn.leaky_relu(tf.matmul(x, w))
        y = tf.nn.softmax(h, name="prob")
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(str(tmp_path / "tf1"))
            signature = tf.compat.v1.saved_model.predict_signature_def({"x": x}, {"prob": y})
            builder.add_meta_graph_and_variables(session, ["serve"], {"serving_default": signature})
            builder.save()
    model = graphs.load(str(tmp_path / "tf1"))
    assert [(i.name, i.shape) for i in model.inputs] == [("x", (None, 8))]
    assert model.squash("prob") == graphs.Squash("softmax", "conv3/LeakyRelu")
    (hidden,) = model.function(["conv3/LeakyRelu"])(np.ones((2, 8), "float32"))
    np.testing.assert_allclose(hidden, 2 * np.ones((2, 3)))  # the saved weights, not an initializer
    _check_ascent(model, "conv3/LeakyRelu", x=X[:, :8])


def test_a_signature_that_writes_a_file_is_refused(tmp_path):
    target = tmp_path / "written.txt"

    def body(self, x):
        tf.io.write_file(str(target), "written by the model")
        return {"y": x * 2.0}

    path = save(Module(body), tmp_path / "writer")
    with pytest.raises(ValueError, match=r"function __inference.* holds the op WriteFile.*unsafe"):
        graphs.load(path)
    assert not target.exists()
    graph = graphs.load(path, unsafe=True)
    assert [o.name for o in graph.outputs] == ["y"]


def test_a_signature_that_runs_python_is_refused(tmp_path):
    path = save(
        Module(lambda self, x: {"y": tf.py_function(lambda a: a * 2, [x], tf.float32)}),
        tmp_path / "python",
    )
    with pytest.raises(ValueError, match=r"holds the op EagerPyFunc"):
        graphs.load(path)


def test_a_frozen_graph_reading_a_file_in_a_function_is_refused(tmp_path):
    @tf.function
    def read(name):
        return tf.io.read_file(name)

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="input")])
    def serve(x):
        return tf.identity(
            x + tf.cast(tf.size(read("/etc/hostname")), tf.float32) * 0.0, name="out"
        )

    path = tmp_path / "reader.pb"
    path.write_bytes(serve.get_concrete_function().graph.as_graph_def().SerializeToString())
    with pytest.raises(ValueError, match=r"function __inference_read.* holds the op ReadFile"):
        graphs.load(str(path))


def test_dict_of_outputs_chosen_by_name(built):
    graph = graphs.load(built["dict"])
    assert [(o.name, o.shape) for o in graph.outputs] == [
        ("energy", (None, 1)),
        ("logits", (None, 3)),
        ("probs", (None, 3)),
    ]
    assert graph.squash("probs") == graphs.Squash("softmax", "logits")
    assert graph.squash("logits") is None
    with pytest.raises(ValueError, match="several outputs; choose one: energy, logits, probs"):
        graph.output_name()
    with pytest.raises(ValueError, match="no output 'prob'"):
        graph.function([OUTPUT], output="prob")
    with pytest.raises(ValueError, match="no tensor 'conv3/LeakyRel'.*conv3/LeakyRelu"):
        graph.function(["conv3/LeakyRel"])
    assert "conv3/LeakyRelu" in [t.name for t in graph.tensors()]
    _check_ascent(graph, "conv3/LeakyRelu", output="probs", column=2)


def test_time_axis_output_is_reduced_over_frames(built):
    graph = graphs.load(built["time"])
    assert [(o.name, o.shape) for o in graph.outputs] == [("frame_probs", (None, SAMPLES // 8, 4))]
    assert graph.squash() == graphs.Squash("softmax", "act")
    frames = graph.function([OUTPUT], logits=True, reduce=None)(X)[0]
    mean = graph.function([OUTPUT], logits=True)(X)[0]
    peak = graph.function([OUTPUT], logits=True, reduce="max")(X)[0]
    assert frames.shape == (4, SAMPLES // 8, 4) and mean.shape == peak.shape == (4, 4)
    np.testing.assert_allclose(mean, tf.reduce_mean(frames, 1), rtol=1e-6)
    np.testing.assert_allclose(peak, tf.reduce_max(frames, 1), rtol=1e-6)
    with pytest.raises(ValueError, match="reduce must be"):
        graph.function([OUTPUT], reduce="median")
    _check_ascent(graph, "frames", column=1)


def test_sigmoid_output(built):
    graph = graphs.load(built["sigmoid"])
    squash = graph.squash()
    assert squash.kind == "sigmoid" and squash.logits == "MatMul"
    _check_ascent(graph, "hidden/LeakyRelu")


def test_function_keeps_the_batch_free_inside_a_while_loop(built):
    """tf.while_loop over a batch of open size (tfam's engine): the reported failure was 'enters
    the loop with shape (1, 8000), but has shape (None, 8000)'."""
    fn = graphs.load(built["frozen"]).function([OUTPUT])

    @tf.function(input_signature=[tf.TensorSpec([None, SAMPLES], tf.float32)])
    def climb(x):
        def body(i, x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = tf.reduce_sum(fn(x)[0][:, 0])
            return i + 1, x + 0.1 * tape.gradient(value, x)

        return tf.while_loop(lambda i, _: i < 3, body, (0, x))[1]

    assert climb(X).shape == (4, SAMPLES) and climb(X[:1]).shape == (1, SAMPLES)


def _torch_zip(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"weight": [1.0]}))


def _zip(path):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "not a model")


def _write(data):
    return lambda path: path.write_bytes(data)


@pytest.mark.parametrize(
    "name, make, what",
    [
        ("model.tflite", _write(b"\x1c\x00\x00\x00TFL3" + bytes(64)), "TensorFlow Lite"),
        ("model.onnx", _write(b"\x08\x07\x12\x07pytorch\x1a\x032.1"), "ONNX"),
        ("model.pt", _torch_zip, "PyTorch checkpoint"),
        ("model.pth", _write(pickle.dumps({"weight": [1.0]}, protocol=2)), "pickle"),
        (
            "model.mlpackage",
            lambda path: (path.mkdir(), (path / "Manifest.json").write_text("{}")),
            "Core ML",
        ),
        ("archive.zip", _zip, "zip archive"),
        ("random.bin", _write(np.random.default_rng(0).bytes(256)), "unknown kind of file"),
        ("empty.pb", _write(b""), "empty file"),
        ("saved_model.pb", _write(b"\x08\x01\x12\x00"), "part of a SavedModel"),
    ],
)
def test_files_that_are_not_tensorflow_models_get_one_clear_error(tmp_path, name, make, what):
    path = tmp_path / name
    make(path)
    for call in (graphs.sniff, graphs.load):
        with pytest.raises(ValueError, match=what) as error:
            call(str(path))
        assert "tfam takes" in str(error.value) and "\n" not in str(error.value)
