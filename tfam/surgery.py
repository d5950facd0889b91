"""Operations on Keras models that tfam needs: logits instead of softmax, feature extraction, clones.

The user's model is never changed: surgery works on a clone.
"""

import logging
import weakref

import keras

from tfam.keras_internals import safe_mode_scope
from tfam.objectives import OUTPUT

log = logging.getLogger("tfam")

_linear_copies = weakref.WeakKeyDictionary()  # model -> its copy with linear logits (made once)
_loaded_unsafely = weakref.WeakSet()  # models the user loaded with safe_mode off (--unsafe-load)


def mark_loaded_unsafely(model):
    """Remember that the user loaded ``model`` with safe mode off, so that clones of it may
    deserialize what the file holds (its Lambda layers) too."""
    _loaded_unsafely.add(model)


def _final_layer(model):
    layer = model.layers[-1]
    # a nested model at the end (e.g. Sequential inside functional) ends where its own last layer ends
    while isinstance(layer, keras.Model):
        layer = layer.layers[-1]
    return layer


_SQUASHES = {"softmax": "softmax", "softmax_v2": "softmax", "sigmoid": "sigmoid"}


def output_activation(model):
    """'softmax' or 'sigmoid' when the model's last layer squashes its output, else None."""
    layer = _final_layer(model)
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
    log.warning(
        "tfam: the model '%s' ends in %s; class objectives use a copy with linear logits, "
        "because maximizing a %s output can succeed by suppressing the other classes "
        "instead of strengthening the target. The model itself is left as it is.",
        model.name,
        squash,
        squash,
    )
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
    _linear_copies[model] = copy
    return copy


def layer_output(model, name):
    if name == OUTPUT:
        return model.outputs[0]
    try:
        return model.get_layer(name).output
    except ValueError:
        names = ", ".join(layer.name for layer in model.layers)
        raise ValueError(f"unknown layer '{name}'; the model's layers are: {names}") from None


def feature_model(model, names):
    """A model from the input to the outputs of the named layers (``OUTPUT``: the model's output)."""
    names = sorted(names)
    return names, keras.Model(model.inputs, [layer_output(model, n) for n in names])
