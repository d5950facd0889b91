"""Operations on Keras models that tfam needs: logits instead of softmax, feature extraction, clones,
one output chosen from several, a fixed input size.

The user's model is never changed: surgery works on a clone. A graph-backed model (a SavedModel or
frozen graph, tfam.models.graphs) carries ``model.graph_backed``, which answers the same questions
for its graph: the core cannot import models/, so it asks the model.
"""

import logging
import weakref

import keras

from tfam.keras_internals import producer, safe_mode_scope
from tfam.objectives import OUTPUT

REDUCTIONS = ("mean", "max")

log = logging.getLogger("tfam")

_linear_copies = weakref.WeakKeyDictionary()  # model -> its copy with linear logits (made once)
_loaded_unsafely = weakref.WeakSet()  # models the user loaded with safe_mode off (--unsafe-load)


def mark_loaded_unsafely(model):
    """Remember that the user loaded ``model`` with safe mode off, so that clones of it may
    deserialize what the file holds (its Lambda layers) too."""
    _loaded_unsafely.add(model)


def _graph_backed(model):
    return getattr(model, "graph_backed", None)


@keras.saving.register_keras_serializable(package="tfam")
class OverTime(keras.layers.Layer):
    """(batch, frames, classes) -> (batch, classes) by the mean or the max over frames: an output
    with a time axis as one score per class."""

    def __init__(self, reduce="mean", **kwargs):
        super().__init__(**kwargs)
        if reduce not in REDUCTIONS:
            raise ValueError(f"reduce must be one of {', '.join(REDUCTIONS)}, got {reduce!r}")
        self.reduce = reduce

    def call(self, x):
        op = keras.ops.mean if self.reduce == "mean" else keras.ops.max
        return op(x, axis=1)

    def get_config(self):
        return {**super().get_config(), "reduce": self.reduce}


def output_names(model):
    """The names of a Keras model's outputs (the layers that make them), in order."""
    return [
        producer(t).name if producer(t) is not None else str(i) for i, t in enumerate(model.outputs)
    ]


def select_output(model, output=None, reduce="mean"):
    """A model with one output: the one named ``output`` (None: the only one), reduced over time
    by ``reduce`` when it has a time axis (batch, frames, classes). Layers are shared."""
    names = output_names(model)
    if output is None:
        if len(names) != 1:
            raise ValueError(
                f"the model has {len(names)} outputs ({', '.join(names)}); choose one "
                "(--output NAME, output=)"
            )
        output = names[0]
    if output not in names:
        raise ValueError(f"the model has no output {output!r}; its outputs: {', '.join(names)}")
    tensor = model.outputs[names.index(output)]
    if len(tensor.shape) == 3:
        tensor = OverTime(reduce, name=f"{reduce}_over_time")(tensor)
    elif len(names) == 1:
        return model
    return keras.Model(model.inputs[0], tensor, name=model.name)  # one input: no list to match


def fix_input_size(model, shape):
    """A copy of ``model`` (same weights, same layer names) whose input has this shape (no batch
    axis): a model of open input size dreamed at one size."""
    shape = tuple(shape)
    declared = tuple(model.inputs[0].shape[1:])
    if len(declared) != len(shape) or any(d not in (None, s) for d, s in zip(declared, shape)):
        raise ValueError(f"the model takes input of shape {declared}; {shape} does not fit it")
    if declared == shape:
        return model
    backed = _graph_backed(model)
    if backed is not None:
        return backed.with_input_shape(shape)
    with safe_mode_scope(model not in _loaded_unsafely):
        copy = keras.models.clone_model(
            model, input_tensors=keras.Input(shape, dtype=model.inputs[0].dtype)
        )
    copy.set_weights(model.get_weights())
    copy = keras.Model(copy.inputs[0], copy.outputs[0], name=model.name)  # called with a tensor
    if model in _loaded_unsafely:
        mark_loaded_unsafely(copy)
    return copy


def layer_names(model):
    """The names that layer, channel and neuron objectives (and CAM methods) can read."""
    backed = _graph_backed(model)
    if backed is not None:
        return backed.tensor_names()
    return [layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def layer_shape(model, name):
    """The output shape of the named layer (or inner tensor), batch axis first."""
    backed = _graph_backed(model)
    if backed is not None:
        return backed.tensor_shape(name)
    return tuple(layer_output(model, name).shape)


def _final_layer(model):
    layer = model.layers[-1]
    # a nested model at the end (e.g. Sequential inside functional) ends where its own last layer ends
    while isinstance(layer, keras.Model):
        layer = layer.layers[-1]
    return layer


_SQUASHES = {"softmax": "softmax", "softmax_v2": "softmax", "sigmoid": "sigmoid"}


def output_activation(model):
    """'softmax' or 'sigmoid' when the model's last layer squashes its output, else None."""
    if _graph_backed(model) is not None:
        return _graph_backed(model).squash()
    layer = _final_layer(model)
    if isinstance(layer, OverTime):  # a reduction over frames of squashed frames
        return output_activation(keras.Model(model.inputs[0], layer.input))
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    return _SQUASHES.get(getattr(getattr(layer, "activation", None), "__name__", None))


def ends_in_softmax(model):
    """True when the model's output is a softmax: the last layer's activation or a Softmax layer."""
    return output_activation(model) == "softmax"


def _require_single_output(model):
    if len(model.outputs) != 1:
        raise ValueError(f"the model has {len(model.outputs)} outputs; tfam needs a model with one")


def clone_model(model, source=None):
    """``keras.models.clone_model``: it deserializes the model again, so it runs under the safe mode
    that the user chose when loading ``source`` (the model this one was cut from; default itself)."""
    with safe_mode_scope((source or model) not in _loaded_unsafely):
        return keras.models.clone_model(model)


def with_linear_logits(model):
    """The model itself when it already ends in logits, else a copy whose softmax (or sigmoid) is
    linear: maximizing a squashed output can succeed by suppressing the other classes, or stall
    where the squash saturates."""
    _require_single_output(model)
    squash = output_activation(model)
    if squash is None:
        return model
    if model in _linear_copies:
        return _linear_copies[model]
    _warn_squash(model, squash)
    backed, last = _graph_backed(model), _final_layer(model)
    if backed is not None:
        copy = backed.with_logits()
    elif isinstance(last, OverTime):  # linear frames, then the same reduction
        frames = _linear_logits(keras.Model(model.inputs[0], last.input, name=model.name))
        copy = keras.Model(frames.inputs[0], OverTime(last.reduce)(frames.outputs[0]))
    else:
        copy = _linear_logits(model)
    _linear_copies[model] = copy
    return copy


def ensemble(models, name="ensemble"):
    """One model whose output is the mean of the models' logits (softmax and sigmoid made linear),
    for one dream that several models hear as the class: a class objective on it is the mean of
    the models' class objectives, whose dreams transfer to models outside the ensemble more than
    one model's do. The models take the same input and give the same classes."""
    models = list(models)
    if len(models) < 2:
        raise ValueError(f"an ensemble needs at least two models, got {len(models)}")
    shapes = [tuple(m.inputs[0].shape[1:]) for m in models]
    if len(set(shapes)) != 1:
        raise ValueError(f"the models take inputs of different shapes: {shapes}")
    classes = [tuple(m.outputs[0].shape[1:]) for m in models]
    if len(set(classes)) != 1:
        raise ValueError(f"the models give outputs of different shapes: {classes}")
    inputs = keras.Input(shapes[0], name="input")
    members, names = [], set()
    for i, model in enumerate(models):
        member = with_linear_logits(model)
        if member.name in names:  # two models of one architecture: Keras needs unique names
            member = keras.Model(member.inputs[0], member.outputs[0], name=f"{member.name}_{i}")
        names.add(member.name)
        members.append(member)
    logits = [member(inputs) for member in members]
    return keras.Model(inputs, keras.layers.Average(name="mean_logits")(logits), name=name)


def _warn_squash(model, squash):
    log.warning(
        "tfam: the model '%s' ends in %s; class objectives use a copy with linear logits, "
        "because maximizing a %s output can succeed by suppressing the other classes "
        "instead of strengthening the target. The model itself is left as it is.",
        model.name,
        squash,
        squash,
    )


def _linear_logits(model):
    copy = clone_model(model)
    copy.set_weights(model.get_weights())
    last = _final_layer(copy)
    if isinstance(last, keras.layers.Softmax):
        if last not in copy.layers:
            raise ValueError(
                f"the model '{model.name}' ends in a Softmax layer inside a nested model; "
                "tfam cannot take its logits: end the model in Dense(activation='softmax')"
                " or an Activation layer"
            )
        copy = keras.Model(copy.inputs, last.input, name=f"{model.name}_logits")
    else:  # a Dense/Conv/Activation layer: its activation is read at call time
        last.activation = keras.activations.linear
    return copy


def layer_output(model, name):
    if name == OUTPUT:
        return model.outputs[0]
    try:
        return model.get_layer(name).output
    except ValueError:
        names = ", ".join(layer.name for layer in model.layers)
        raise ValueError(f"unknown layer '{name}'; the model's layers are: {names}") from None


def outputs_model(model, names):
    """A model from the input to a list: the output of each named layer, in order (``OUTPUT``:
    the model's output)."""
    backed = _graph_backed(model)
    if backed is not None:
        return backed.features(names)
    inputs = model.inputs[0] if len(model.inputs) == 1 else model.inputs  # called with a tensor
    return keras.Model(inputs, [layer_output(model, n) for n in names])


def feature_model(model, names):
    """(sorted names, a model from the input to the outputs of those layers)."""
    names = sorted(names)
    return names, outputs_model(model, names)
