"""Operations on Keras models that tfam needs: logits instead of softmax, feature extraction, loading.

The user's model is never changed: surgery works on a clone.
"""
import logging
import os
import weakref

import keras
import tensorflow as tf

from tfam.keras_internals import safe_mode_scope
from tfam.objectives import OUTPUT

log = logging.getLogger("tfam")

_linear_copies = weakref.WeakKeyDictionary()  # model -> its copy with linear logits (made once)
_loaded_unsafely = weakref.WeakSet()  # models the user loaded with safe_mode off (--unsafe-load)


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
    log.warning("tfam: the model '%s' ends in %s; class objectives use a copy with linear logits, "
                "because maximizing a %s output can succeed by suppressing the other classes "
                "instead of strengthening the target. The model itself is left as it is.",
                model.name, squash, squash)
    copy = clone_model(model)
    copy.set_weights(model.get_weights())
    last = _final_layer(copy)
    if isinstance(last, keras.layers.Softmax):
        if last not in copy.layers:
            raise ValueError(f"the model '{model.name}' ends in a Softmax layer inside a nested model; "
                             "tfam cannot take its logits: end the model in Dense(activation='softmax')"
                             " or an Activation layer")
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


def load_model(path, safe_mode=True):
    """Load a .keras / .h5 file or a SavedModel directory. ``safe_mode`` refuses code in the file."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model at {path}")
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise ValueError(f"{path} is a directory but not a SavedModel (no saved_model.pb)")
        return _wrap_saved_model(path)
    # register the custom layers tfam's models use (front ends, phase shuffle), or loading fails
    import tfam.mel  # noqa: F401
    import tfam.models.wavegan  # noqa: F401
    import tfam.spectrogram  # noqa: F401

    try:
        model = keras.models.load_model(path, safe_mode=safe_mode, compile=False)
    except Exception as error:  # Keras raises many kinds; the user needs one clear line
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if safe_mode and "safe_mode" in message:  # Keras names its own argument, not tfam's flag
            raise ValueError(f"refusing to load the model {path}: it holds Python code (e.g. a Lambda "
                             "layer), which safe mode does not run; give --unsafe-load (or "
                             "safe_mode=False) if you trust the file") from None
        raise ValueError(f"cannot load the model {path}: {message}") from None
    if not safe_mode:
        _loaded_unsafely.add(model)
    return model


def _wrap_saved_model(path):
    """A functional model around a SavedModel's serving signature (its output only: no inner layers)."""
    loaded = tf.saved_model.load(path)
    fn = loaded.signatures["serving_default"]
    specs = list(fn.structured_input_signature[1].values())
    if len(specs) != 1:
        raise ValueError(f"the SavedModel at {path} takes {len(specs)} inputs; tfam needs one")
    inputs = keras.Input(shape=specs[0].shape[1:], dtype=specs[0].dtype)
    outputs = keras.layers.TFSMLayer(path, call_endpoint="serving_default")(inputs)
    if isinstance(outputs, dict):
        if len(outputs) != 1:
            raise ValueError(f"the SavedModel at {path} has {len(outputs)} outputs; tfam needs one")
        outputs = list(outputs.values())[0]
    return keras.Model(inputs, outputs, name=os.path.basename(os.path.normpath(path)))
