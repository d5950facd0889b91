"""Frozen graphs as seed 002 made and used them: one GraphDef file with the weights as constants.

    info = freeze(model, "logs/model/output.pb")        # input node "input", logits node
    graph = load_frozen("logs/model/output.pb")           #   "fc2/fully_connected/fc_out"
    logits = graph(x)                                     # numpy in, numpy out; no Keras model
    result = evaluate(graph, x, y, n_classes)             # accuracy, per class, confusion matrix

Like the seed's output.pb, the file also runs in a TF1-style session fed and fetched by node name
(tf.compat.v1.Session: sess.run("fc2/fully_connected/fc_out:0", {"input:0": x})).
"""

import contextlib
import dataclasses
import os
import re

import numpy as np
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

from tfam.audio import spectrogram  # noqa: F401  (registers SeedSpectrogram, so models using it load)
from tfam.outputs import atomic_write

INPUT_NODE = "input"
OUTPUT_NODE = "fc2/fully_connected/fc_out"
_NODE_NAME = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*$")  # TensorFlow's rule for op names


@dataclasses.dataclass(frozen=True)
class FrozenInfo:
    """What a frozen graph takes and gives: node names and shapes (None: any batch size)."""

    input_node: str
    input_shape: tuple
    output_node: str
    output_shape: tuple


def _check_node_name(name, what):
    if not isinstance(name, str) or not _NODE_NAME.match(name):
        raise ValueError(
            f"{what} node name {name!r} is not a valid TensorFlow node name "
            "(letters, digits and _ . / - only)"
        )


def _base(ref):
    """'^name', 'name:1' -> 'name' (node inputs name tensors or control dependencies)."""
    return ref.lstrip("^").split(":")[0]


def _rename(graph_def, old, new):
    """Rename node ``old`` to ``new`` and every reference to it."""
    for node in graph_def.node:
        if node.name == old:
            node.name = new
        for i, ref in enumerate(node.input):
            if _base(ref) == old:
                node.input[i] = ref.replace(old, new, 1)


def _put_at(graph_def, actual, wanted):
    """Give the node TensorFlow called ``actual`` the name ``wanted``. TF uniquifies ('input_1') or
    prefixes a scope when a name is taken; a node already holding ``wanted`` moves aside."""
    if actual == wanted:
        return
    names = {node.name for node in graph_def.node}
    if wanted in names:
        free = next(
            f"{wanted}_{k}" for k in range(1, len(names) + 2) if f"{wanted}_{k}" not in names
        )
        _rename(graph_def, wanted, free)
    _rename(graph_def, actual, wanted)


def _keep_only_needed(graph_def, output_node):
    """Drop nodes the output does not need (the tf.function's own Identity and NoOp), in place."""
    inputs = {node.name: [_base(ref) for ref in node.input] for node in graph_def.node}
    needed, todo = set(), [output_node]
    while todo:
        name = todo.pop()
        if name not in needed:
            needed.add(name)
            todo.extend(inputs.get(name, []))
    for i in reversed(range(len(graph_def.node))):
        if graph_def.node[i].name not in needed:
            del graph_def.node[i]


def _shape(shape):
    return None if shape.rank is None else tuple(shape.as_list())


def freeze(model, path, input_node=INPUT_NODE, output_node=OUTPUT_NODE):
    """Write ``model`` (one input, one output) as a frozen GraphDef at ``path``; returns FrozenInfo.

    The graph runs the model in inference mode (no dropout) on a float32 placeholder ``input_node``
    of shape (None,) + the model's input shape; ``output_node`` is an Identity of its output."""
    _check_node_name(input_node, "input")
    _check_node_name(output_node, "output")
    if input_node == output_node:
        raise ValueError(f"the input and output nodes need different names (both {input_node!r})")
    inputs, outputs = getattr(model, "inputs", None) or [], getattr(model, "outputs", None) or []
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            f"the model has {len(inputs)} inputs and {len(outputs)} outputs; a frozen "
            "graph here has one of each"
        )
    spec = tf.TensorSpec((None,) + tuple(inputs[0].shape[1:]), tf.float32, name=input_node)
    traced = {}

    @tf.function(input_signature=[spec])
    def serve(x):
        y = tf.identity(model(x, training=False), name=output_node)
        traced["output"] = y.op.name  # what TF really called it
        return y

    concrete = serve.get_concrete_function()
    traced["input"] = concrete.inputs[0].op.name
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    output_shape = _shape(frozen.outputs[0].shape)
    del (
        frozen,
        concrete,
        serve,
    )  # the seed's weights are 560 MB: free TF's copies before serializing

    _put_at(graph_def, traced["input"], input_node)
    _put_at(graph_def, traced["output"], output_node)
    _keep_only_needed(graph_def, output_node)
    ops = {}
    for node in graph_def.node:
        ops.setdefault(node.name, []).append(node.op)
    if ops.get(input_node) != ["Placeholder"] or len(ops.get(output_node, [])) != 1:
        raise RuntimeError(
            f"frozen graph lacks a single Placeholder {input_node!r} and node "
            f"{output_node!r} (got {ops.get(input_node)}, {ops.get(output_node)})"
        )

    with atomic_write(path) as f:  # atomic_write makes the parent directories
        f.write(graph_def.SerializeToString())
    return FrozenInfo(input_node, _shape(spec.shape), output_node, output_shape)


def _read_graph_def(path):
    if not os.path.exists(path):
        raise FileNotFoundError(f"no frozen graph at {path}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory, not a frozen graph (.pb) file")
    with open(path, "rb") as f:
        data = f.read()
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(data)
    except DecodeError:
        raise ValueError(f"{path} is not a frozen graph (not a TensorFlow GraphDef file)") from None
    if not graph_def.node:  # an empty or foreign file can parse as an empty message
        raise ValueError(f"{path} is not a frozen graph (no nodes in it)")
    return graph_def


def _missing_node(path, graph_def, which, name):
    """The error for a node name not in the graph, with the names that are."""
    placeholders = [n.name for n in graph_def.node if n.op == "Placeholder"]
    # candidates for the output: nodes that nothing else reads (the graph's ends)
    read = {_base(ref) for n in graph_def.node for ref in n.input}
    ends = [
        n.name for n in graph_def.node if n.name not in read and n.op not in ("NoOp", "Placeholder")
    ]
    return ValueError(
        f"{path} has no {which} node {name!r}; its Placeholder nodes: "
        f"{', '.join(placeholders) or 'none'}; nodes nothing reads: "
        f"{', '.join(ends[:5]) or 'none'}"
    )


@contextlib.contextmanager
def _without_grappler():
    """Run functions unoptimized. On a graph whose weights are constants, Grappler copies them
    again and again: for the seed's 560 MB model the first run took 9.6 GB and 46 s with it, 5.4 GB
    and 13 s without (per batch then 1.1 s against 1.9 s). The setting is global, so it is restored."""
    saved = tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": saved})


class FrozenGraph:
    """A frozen graph as a function: float32 numpy batch -> logits (numpy). ``input_shape`` and
    ``output_shape`` are read from the graph (None: any size)."""

    def __init__(self, path, input_node=INPUT_NODE, output_node=OUTPUT_NODE):
        graph_def = _read_graph_def(path)
        nodes = {node.name: node for node in graph_def.node}
        if input_node not in nodes:
            raise _missing_node(path, graph_def, "input", input_node)
        if output_node not in nodes:
            raise _missing_node(path, graph_def, "output", output_node)
        if nodes[input_node].op != "Placeholder":
            raise ValueError(
                f"{path}: input node {input_node!r} is a {nodes[input_node].op}, not a Placeholder"
            )
        del nodes

        def import_graph():
            tf.graph_util.import_graph_def(graph_def, name="")

        try:
            wrapped = tf.compat.v1.wrap_function(import_graph, [])
        except (ValueError, tf.errors.OpError) as error:  # unknown ops, broken references
            raise ValueError(
                f"{path}: cannot import the graph: {str(error).splitlines()[0]}"
            ) from None
        graph_def.Clear()  # the closure above still refers to it; the graph has its own copy
        try:
            x = wrapped.graph.get_tensor_by_name(f"{input_node}:0")
            y = wrapped.graph.get_tensor_by_name(f"{output_node}:0")
        except (KeyError, ValueError):
            raise ValueError(f"{path}: node {output_node!r} has no output to read") from None
        if x.dtype != tf.float32:
            raise ValueError(f"{path}: input node {input_node!r} takes {x.dtype.name}, not float32")
        self._fn = wrapped.prune(feeds=x, fetches=y)
        self.path, self.input_node, self.output_node = path, input_node, output_node
        self.input_shape, self.output_shape = _shape(x.shape), _shape(y.shape)

    def __call__(self, x):
        x = np.asarray(x, np.float32)
        shape = self.input_shape
        if shape is not None and (
            x.ndim != len(shape)
            or any(want is not None and want != got for want, got in zip(shape[1:], x.shape[1:]))
        ):
            raise ValueError(f"the graph's input {self.input_node!r} takes {shape}, not {x.shape}")
        try:
            with _without_grappler():
                return self._fn(tf.constant(x)).numpy()
        except tf.errors.OpError as error:
            message = error.message.splitlines()[0]
            raise ValueError(f"{self.path}: running the graph failed: {message}") from None


def load_frozen(path, input_node=INPUT_NODE, output_node=OUTPUT_NODE):
    """The frozen graph at ``path`` as a callable FrozenGraph (float32 batch -> numpy logits)."""
    return FrozenGraph(path, input_node, output_node)


def evaluate(predict, x, y, n_classes, batch_size=256):
    """Classify ``x`` in batches with ``predict`` (batch -> logits) and compare with labels ``y``.

    Returns {"accuracy": float, "per_class_accuracy": [float, or None for a class absent from y],
    "confusion": int64 array (n_classes, n_classes), rows true class, columns predicted}."""
    y = np.asarray(y, np.int64)
    if len(x) == 0:
        raise ValueError("nothing to evaluate: no examples")
    if len(y) != len(x):
        raise ValueError(f"{len(x)} examples but {len(y)} labels")
    if y.min() < 0 or y.max() >= n_classes:
        raise ValueError(f"labels must be in 0..{n_classes - 1}, got {y.min()}..{y.max()}")
    predicted = np.empty(len(x), np.int64)
    for start in range(0, len(x), batch_size):
        logits = np.asarray(predict(x[start : start + batch_size]))
        if logits.ndim != 2 or logits.shape[1] != n_classes:
            raise ValueError(
                f"the model gives {logits.shape[1:]} outputs per example; "
                f"expected {n_classes} logits"
            )
        predicted[start : start + batch_size] = logits.argmax(axis=1)
    confusion = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(confusion, (y, predicted), 1)
    totals = confusion.sum(axis=1)
    per_class = [
        float(confusion[k, k] / totals[k]) if totals[k] else None for k in range(n_classes)
    ]
    return {
        "accuracy": float(np.trace(confusion) / len(y)),
        "per_class_accuracy": per_class,
        "confusion": confusion,
    }
