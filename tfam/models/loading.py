"""Loading every model kind a user brings, as one kind of object: a Keras model.

    model = load_model("best.keras")                    # .keras / .h5 (Keras 3, Keras 2 era)
    model = load_model("exported/")                     # a SavedModel directory

Keras files load with ``safe_mode`` on unless the user opts out (a Lambda layer is Python code).
"""

import os

import keras
import tensorflow as tf

from tfam.surgery import mark_loaded_unsafely


def load_model(path, safe_mode=True):
    """Load a .keras / .h5 file or a SavedModel directory. ``safe_mode`` refuses code in the file."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model at {path}")
    if os.path.isdir(path):
        if not os.path.exists(os.path.join(path, "saved_model.pb")):
            raise ValueError(f"{path} is a directory but not a SavedModel (no saved_model.pb)")
        return _wrap_saved_model(path)
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
