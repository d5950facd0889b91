"""Models of every kind a user brings, built tiny and untrained inside the tests (no downloads):
Keras 2 files through tf_keras, tf.Module SavedModels (a dict of outputs, a time axis, a sigmoid
end), a Keras 3 export and file of any length with a (samples, 1) input, and a TF1 frozen graph in
seed 002's node names. The fixtures in conftest.py build each once per session.

Keras 2 files are made by tf_keras in a subprocess, so that the test process stays as a user's
without Keras 2: a legacy SavedModel then fails in tf.saved_model.load, as it does for them.
"""

import importlib.util
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

SAMPLES = 2048  # long enough for the log-mel that tfam explain reconstructs salient audio on
X = np.random.default_rng(0).normal(size=(4, SAMPLES)).astype("float32")

KERAS2_SCRIPT = textwrap.dedent("""
    import os, sys
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import numpy as np, tensorflow as tf, tf_keras
    out, SAMPLES = sys.argv[1], int(sys.argv[2])
    tf_keras.utils.set_random_seed(0)
    model = tf_keras.Sequential([
        tf_keras.layers.Input((SAMPLES,)), tf_keras.layers.Reshape((SAMPLES, 1)),
        tf_keras.layers.Conv1D(4, 5, activation="relu", name="conv1"),
        tf_keras.layers.GlobalMaxPooling1D(), tf_keras.layers.Dense(3, activation="softmax", name="fc")])
    model.compile(tf_keras.optimizers.legacy.Adam(1e-3), "sparse_categorical_crossentropy")
    model.fit(np.random.rand(8, SAMPLES).astype("float32"), np.zeros(8), epochs=1, verbose=0)
    model.save(os.path.join(out, "legacy_saved_model"), save_format="tf")
    model.save(os.path.join(out, "keras2.h5"))
    x = np.linspace(-1, 1, 4 * SAMPLES, dtype="float32").reshape(4, SAMPLES)
    np.savez(os.path.join(out, "reference.npz"), x=x, y=model.predict(x, verbose=0))
""")


def build_keras2(tmp_path_factory):
    """A tf_keras model trained one step with legacy Adam, as a SavedModel and an .h5 file."""
    if importlib.util.find_spec("tf_keras") is None:
        pytest.skip("tf_keras (the Keras 2 package, tf-keras matching TensorFlow) is not installed")
    root = tmp_path_factory.mktemp("keras2")
    subprocess.run(
        [sys.executable, "-c", KERAS2_SCRIPT, str(root), str(SAMPLES)],
        check=True,
        timeout=300,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    reference = np.load(root / "reference.npz")
    return root, reference["x"], reference["y"]


class Module(tf.Module):
    """A tf.Module with one serving signature from a (None, SAMPLES) float input; ``body(self, x)``."""

    def __init__(self, body, seed=0, shape=(None, SAMPLES)):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.kernel = tf.Variable(rng.normal(0, 0.3, (8, 1, 4)).astype("float32"))
        self.head = tf.Variable(rng.normal(0, 0.5, (4, 3)).astype("float32"))
        self.serve = tf.function(
            lambda x: body(self, x), input_signature=[tf.TensorSpec(shape, tf.float32, name="wave")]
        )


def save(module, path):
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return str(path)


def _features(self, x):
    """(batch, frames, 4): a strided convolution of the waveform, leaky so no unit is dead."""
    return tf.nn.leaky_relu(tf.nn.conv1d(x[..., None], self.kernel, 4, "VALID"))


def dict_outputs(self, x):
    with tf.name_scope("conv3"):
        h = _features(self, x)
    logits = tf.matmul(tf.reduce_mean(h, 1), self.head, name="logits")
    return {
        "probs": tf.nn.softmax(logits),
        "logits": logits,
        "energy": tf.reduce_mean(h, [1, 2])[:, None],
    }


def time_axis(self, x):
    frames = tf.nn.conv1d(
        tf.expand_dims(x, -1), self.kernel, stride=8, padding="VALID", name="frames"
    )
    return {"frame_probs": tf.nn.softmax(tf.nn.leaky_relu(frames, name="act"))}


def sigmoid_end(self, x):
    with tf.name_scope("hidden"):
        h = _features(self, x)
    return {"scores": tf.identity(tf.sigmoid(tf.matmul(tf.reduce_max(h, 1), self.head)))}


def tf1_frozen_graph(path):
    """A TF1 graph in seed 002's naming (input 'input', logits 'fc2/fully_connected/fc_out', then
    a softmax 'prob'), frozen with tf.compat.v1 as TF1 users did."""
    rng = np.random.default_rng(1)
    graph = tf.Graph()
    with graph.as_default():
        x = tf.compat.v1.placeholder(tf.float32, [None, SAMPLES], name="input")
        with tf.compat.v1.variable_scope("conv3"):
            kernel = tf.compat.v1.get_variable(
                "kernel", initializer=rng.normal(0, 0.3, (5, 1, 4)).astype("float32")
            )
            h = tf.nn.leaky_relu(tf.nn.conv1d(tf.reshape(x, [-1, SAMPLES, 1]), kernel, 1, "SAME"))
        h = tf.reduce_max(h, axis=1)
        with tf.compat.v1.variable_scope("fc2/fully_connected"):
            w = tf.compat.v1.get_variable(
                "weights", initializer=rng.normal(0, 0.5, (4, 3)).astype("float32")
            )
            logits = tf.add(tf.matmul(h, w), 0.1, name="fc_out")
        tf.nn.softmax(logits, name="prob")
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            frozen = tf.compat.v1.graph_util.convert_variables_to_constants(
                session, graph.as_graph_def(), ["fc2/fully_connected/fc_out", "prob"]
            )
    with open(path, "wb") as f:
        f.write(frozen.SerializeToString())
    return str(path)


def build_models(tmp_path_factory):
    """Paths of the models built in this process: modules, a Keras 3 export, a TF1 frozen graph."""
    root = tmp_path_factory.mktemp("graphs")
    paths = {
        name: save(Module(body), root / name)
        for name, body in [("dict", dict_outputs), ("time", time_axis), ("sigmoid", sigmoid_end)]
    }
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, 1), name="wave")  # (samples, 1), of any length
    h = keras.layers.Conv1D(4, 5, activation="relu", name="conv1")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax", name="fc")(
        keras.layers.GlobalMaxPooling1D()(h)
    )
    model = keras.Model(inputs, outputs)
    model.export(str(root / "keras3"), verbose=False)
    model.save(str(root / "model.keras"))
    paths.update(
        keras3=str(root / "keras3"),
        keras_file=str(root / "model.keras"),
        frozen=tf1_frozen_graph(root / "frozen.pb"),
        root=str(root),
    )
    return paths
