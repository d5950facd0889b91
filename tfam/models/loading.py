"""Loading every model kind a user brings, as one kind of object: a Keras model with one input and
one output.

    model = load_model("best.keras")                    # .keras / .h5 (Keras 3, Keras 2 era)
    model = load_model("exported/", output="probs")     # a SavedModel directory (Keras 2 or 3, TF1)
    model = load_model("output.pb")                     # a frozen GraphDef (seed 002's node names)
    model = load_model("tagger/", reduce="max", input_shape=(16000,))  # (batch, frames, classes)

Keras files load with ``safe_mode`` on unless the user opts out (a Lambda layer is Python code).
SavedModels and frozen graphs are graphs (tfam.models.graphs): their ops are checked against a list
of pure computation first, and ``safe_mode=False`` skips that check. Their inner tensors are the
"layers" objectives name (``conv3/LeakyRelu``); surgery.layer_names lists them.
"""

import keras

from tfam.keras_internals import all_layers
from tfam.models import graphs
from tfam.surgery import (
    fix_input_size,
    mark_loaded_unsafely,
    output_activation,
    output_names,
    select_output,
)


def load_model(
    path,
    safe_mode=True,
    output=None,
    reduce="mean",
    input_shape=None,
    input_node=None,
    output_node=None,
    signature=None,
):
    """Load a .keras / .h5 file, a SavedModel directory or a frozen GraphDef ``.pb``.

    ``output``: the output to read, by name, when there are several; an output with a time axis
    (batch, frames, classes) is reduced over frames by ``reduce`` ("mean" or "max").
    ``input_shape`` (no batch axis) fixes the open sizes of the input (a model of any length).
    ``input_node`` / ``output_node``: a frozen graph's nodes (default seed 002's ``input`` and
    ``fc2/fully_connected/fc_out``); ``signature``: a SavedModel's (default its only one, or
    serving_default). ``safe_mode`` refuses code in a Keras file and unlisted ops in a graph."""
    identified = graphs.identify(path)  # a ValueError naming what a file that is no model is
    if identified[0] in ("keras", "h5"):
        if input_node or output_node or signature:
            raise ValueError(
                f"{path} is a Keras file: input_node, output_node and signature are for "
                "frozen graphs and SavedModels"
            )
        model = _load_keras(path, safe_mode)
        if len(model.inputs) != 1:
            raise ValueError(f"the model {path} takes {len(model.inputs)} inputs; tfam needs one")
        model = select_output(model, output, reduce)
    else:
        graph = graphs.load(path, input_node, output_node, signature, not safe_mode, identified)
        model = graphs.as_keras_model(graph, output=output, reduce=reduce)
    if input_shape is not None:
        model = fix_input_size(model, input_shape)
    return model


def _load_keras(path, safe_mode):
    # register the custom layers tfam's models use (front ends, phase shuffle), or loading fails
    import tfam.audio.mel  # noqa: F401
    import tfam.audio.spectrogram  # noqa: F401
    import tfam.models.wavegan  # noqa: F401

    try:
        model = keras.models.load_model(path, safe_mode=safe_mode, compile=False)
    except Exception as error:  # Keras raises many kinds; the user needs one clear line
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if safe_mode and "safe_mode" in message:  # Keras names its own argument, not tfam's flag
            raise ValueError(
                f"refusing to load the model {path}: it holds Python code (e.g. a Lambda "
                "layer), which safe mode does not run; give --unsafe-load (or "
                "safe_mode=False) if you trust the file"
            ) from None
        raise ValueError(f"cannot load the model {path}: {message}") from None
    if not safe_mode:
        mark_loaded_unsafely(model)
    return model


def _shape(shape):
    return None if shape is None else list(shape)


def describe(path, safe_mode=True, match=None, input_node=None, output_node=None, signature=None):
    """What a model file holds, for ``tfam inspect``: its kind, inputs, outputs (with the squash
    each ends in), the layers or tensors that objectives can name (``match``: names containing
    it) and, where it carries one of tfam's front ends, its sample rate. A dict of plain values."""
    identified = graphs.identify(path)
    kind = identified[0]
    if kind in ("keras", "h5"):
        model = _load_keras(path, safe_mode)
        inputs = [(t.name, t.shape, t.dtype) for t in model.inputs]
        outputs = []
        for name, tensor in zip(output_names(model), model.outputs):
            chosen = keras.Model(model.inputs, tensor)
            outputs.append((name, tensor.shape, tensor.dtype, output_activation(chosen), None))
        layers = [
            (layer.name, layer.output.shape, type(layer).__name__)
            for layer in model.layers
            if not isinstance(layer, keras.layers.InputLayer)
        ]
        rates = [  # a front end (SeedSpectrogram, LogMel) knows the rate it was built for
            layer.sample_rate
            for layer in all_layers(model)
            if getattr(layer, "is_frontend", False) and getattr(layer, "sample_rate", None)
        ]
    else:
        graph = graphs.load(path, input_node, output_node, signature, not safe_mode, identified)
        inputs = [(i.name, i.shape, i.dtype) for i in graph.inputs]
        outputs = []
        for o in graph.outputs:
            squash = graph.squash(o.name)
            outputs.append(
                (
                    o.name,
                    o.shape,
                    o.dtype,
                    squash.kind if squash else None,
                    squash and squash.logits,
                )
            )
        layers = [(t.name, t.shape, t.op) for t in graph.tensors()]
        rates = []
    return {
        "path": path,
        "kind": kind,
        "inputs": [
            {"name": name, "shape": _shape(shape), "dtype": str(dtype)}
            for name, shape, dtype in inputs
        ],
        "outputs": [
            {
                "name": name,
                "shape": _shape(shape),
                "dtype": str(dtype),
                "squash": squash,
                "logits": logits,
                "over_time": shape is not None and len(shape) == 3,
            }
            for name, shape, dtype, squash, logits in outputs
        ],
        "layers": [
            {"name": name, "shape": _shape(shape), "kind": what}
            for name, shape, what in layers
            if match is None or match in name
        ],
        "sample_rate": rates[0] if rates else None,
    }
