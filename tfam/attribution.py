"""Attribution maps: where in its input a model finds the evidence for a class.

    att = attribute(model, x, "gradcam")        # or "gradcam++", "scorecam", "saliency"
    att.maps        # (B, H, W) or (B, T) in [0, 1], the size of what the model looks at
    att.features    # what the maps lie over: the input, or the spectrogram a front end computes

Methods: vanilla gradient saliency (|d score / d input|, max over channels; SmoothGrad with
``smooth_samples``), Grad-CAM (ReLU of the activations weighted by their mean gradient), Grad-CAM++
(weights from higher-order terms, Chattopadhyay et al.) and Score-CAM (weights from the model's
probability for the target when the input is masked by each upsampled activation; the masked
passes run in batches inside one compiled loop). The score is the target's logit (a softmax model is
read through a copy with linear logits); Score-CAM uses the softmax of the logits, as in its paper.
Each map is upsampled with linear interpolation that keeps the corners (as ``scipy.ndimage.zoom``,
which tf-keras-vis uses) and min-max normalized per row.

Which code computes what:

- tf-keras-vis 0.8.7 (``backend="tf-keras-vis"``): models whose analysed input is 2-D with a
  channel axis, (B, H, W, C), and one CAM layer: the MNIST CNN, the UrbanSound CNN on its 129x13x1
  spectrogram input, the emotion mel CNN (80x160x1), and the UrbanSound CNN with waveform input after
  the split described below. ``backend="auto"`` picks it for these.
- tfam's own code (``backend="tfam"``): 1-D inputs (the raw-waveform emotion CNN: tf-keras-vis'
  saliency takes the max over the last axis, which is time there, and its Score-CAM cannot upsample
  over one axis), several CAM layers at once (multi-stream models such as the slow/fast CNN: one map
  per pathway, each resized to the input's grid and weighted by its number of positions, then
  summed; see ``_tfam_maps``), and inputs without a channel axis.
  It computes the same four methods for any model; on 2-D models its Grad-CAM equals tf-keras-vis'.

Front ends: a model whose first layer turns a waveform into a spectrogram (tfam's
``SeedSpectrogram`` or ``LogMel``) is split there, and the maps are computed over that layer's
output, so they can be shown over the spectrogram the model really sees.

CAM layers: by default one per stream: walking back from the output through layers without
time/space axes (dense, flatten, global pooling, concatenation of the pathways' heads), each tensor
that has such axes ends a stream; from there back through single-input layers to the last
convolution (as tf-keras-vis chooses), or, when a residual add or concatenation comes first, the
block's output (the layer after the merge).
"""

import contextlib
import dataclasses
import io
import warnings

import keras
import numpy as np
import tensorflow as tf

from tfam.keras_internals import producer, producer_inputs
from tfam.objectives import OUTPUT
from tfam.surgery import clone_model, layer_names, layer_shape, outputs_model, with_linear_logits

METHODS = ("saliency", "gradcam", "gradcam++", "scorecam")
BACKENDS = ("auto", "tf-keras-vis", "tfam")
EPSILON = 1e-7  # as tf-keras-vis (keras.backend.epsilon) in the min-max normalization


@dataclasses.dataclass
class Attribution:
    maps: np.ndarray  # (B, *spatial) in [0, 1]: (B, H, W) or (B, T)
    features: np.ndarray  # (B, *spatial) what the maps lie over (channels averaged)
    targets: np.ndarray  # (B,) the class of every row
    method: str
    layers: tuple  # the CAM layers (empty for saliency)
    backend: str  # "tf-keras-vis" or "tfam"
    frontend: str | None  # the name of the front-end layer the model was split at, if any
    stream_maps: dict  # layer name -> (B, *spatial) map of that layer alone, in [0, 1]


# ----------------------------------------------------------------------------- the model's parts


def find_frontend(model):
    """The front-end layer (waveform -> spectrogram) of ``model``, or None."""
    # a front end (tfam's SeedSpectrogram, LogMel) says so by a class attribute: the core does
    # not import the audio package
    found = [layer for layer in model.layers if getattr(layer, "is_frontend", False)]
    return found[0] if found else None


def split_at_frontend(model):
    """(front, head, name): ``front`` maps the model's input to the front end's output and ``head``
    the front end's output to the model's output; (None, model, None) for a model without one."""
    layer = find_frontend(model)
    if layer is None:
        return None, model, None
    if len(model.inputs) != 1:
        raise ValueError(f"the model takes {len(model.inputs)} inputs; attribution needs one")
    front = keras.Model(model.inputs[0], layer.output, name=f"{model.name}_frontend")
    # a model cut at an inner tensor shares its layers with the whole model, so their .output
    # still belongs to the whole graph; a clone has a graph of its own to take sub-models from
    cut = keras.Model(layer.output, model.outputs[0])
    head = clone_model(cut, source=model)
    head.set_weights(cut.get_weights())
    return front, head, layer.name


CONVOLUTIONS = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)


def _cam_layer(tensor):
    """The layer whose output a CAM method reads for a stream ending in ``tensor``: back through
    single-input layers (activation, batch norm, pooling, dropout) to a convolution; a merge met
    first (a residual block's add, a concatenation) ends the walk at the layer after it, the
    block's output (a residual branch's own conv sits behind a batch norm whose gamma starts at
    zero, so its gradients say little). None when the walk reaches the input."""
    after = None
    while producer(tensor) is not None:
        layer = producer(tensor)
        if isinstance(layer, keras.layers.InputLayer):
            return None
        if isinstance(layer, CONVOLUTIONS):
            return layer
        inputs = producer_inputs(tensor)
        if len(inputs) != 1:
            return after or layer
        after, tensor = layer, inputs[0]
    return None


def stream_layers(model):
    """Names of the last convolution of every stream of ``model`` (see the module docstring)."""
    backed = getattr(model, "graph_backed", None)  # a SavedModel or frozen graph: its tensors
    if backed is not None:
        names = backed.cam_tensors()
        if not names:
            raise ValueError(
                f"no convolution found on the way back from the output of '{model.name}'; "
                "use the saliency method, or name a tensor (tfam inspect lists them)"
            )
        return names
    heads, queue, seen = [], [model.outputs[0]], set()
    while queue:
        t = queue.pop(0)
        if id(t) in seen:
            continue
        seen.add(id(t))
        if len(t.shape) >= 3:  # (B, time/space..., channels): a stream's last feature map
            heads.append(t)
        else:
            queue.extend(producer_inputs(t))
    names = []
    for head in heads:
        layer = _cam_layer(head)
        if layer is not None and layer.name not in names:
            names.append(layer.name)
    if not names:
        raise ValueError(
            f"the model '{model.name}' has no convolutional layer that a CAM method can "
            "use (a SavedModel shows none); use the saliency method, or name a layer"
        )
    order = [layer.name for layer in model.layers]
    return sorted(names, key=order.index)  # the streams in the order the model was built


def check_layers(model, names):
    """The named layers, which must exist and have time/space axes; clear errors otherwise."""
    known = layer_names(model)
    for name in names:
        if name not in known:
            listed = [n for n in known if not n.startswith(("input", "keras_tensor"))]
            shown = ", ".join(listed[:12]) + (", ..." if len(listed) > 12 else "")
            raise ValueError(f"unknown layer '{name}'; the model's layers include: {shown}")
        shape = layer_shape(model, name)
        if len(shape) < 3:
            raise ValueError(
                f"layer '{name}' has output shape {tuple(shape)}: a CAM method needs a "
                "layer with time or space axes (a convolution or pooling layer)"
            )
    return list(names)


# ----------------------------------------------------------------------------- shared pieces


def resize_maps(maps, size):
    """(B, *s) -> (B, *size) by separable linear interpolation that keeps the corners (as
    scipy.ndimage.zoom with order=1, tf-keras-vis' upsampling): out[i] = in[i * (n - 1) / (m - 1)]."""
    maps = tf.convert_to_tensor(maps, tf.float32)
    for axis, n_out in enumerate(size, start=1):
        n_in = maps.shape[axis]
        if n_in == n_out:
            continue
        if n_in == 1 or n_out == 1:
            maps = tf.repeat(maps[(slice(None),) * axis + (slice(0, 1),)], n_out, axis=axis)
            continue
        position = np.linspace(0.0, n_in - 1.0, n_out)
        low = np.minimum(np.floor(position).astype(np.int32), n_in - 2)
        shape = [1] * maps.shape.rank
        shape[axis] = n_out
        frac = tf.constant((position - low).reshape(shape), tf.float32)
        a, b = tf.gather(maps, low, axis=axis), tf.gather(maps, low + 1, axis=axis)
        maps = a + (b - a) * frac
    return maps


def normalize(maps):
    """Min-max per row into [0, 1] (a constant row becomes 0)."""
    maps = tf.convert_to_tensor(maps, tf.float32)
    axes = list(range(1, maps.shape.rank))
    low = tf.reduce_min(maps, axis=axes, keepdims=True)
    high = tf.reduce_max(maps, axis=axes, keepdims=True)
    return (maps - low) / (high - low + EPSILON)


def _spatial(features):
    """The spatial shape of a feature batch: (B, H, W, C) -> (H, W); (B, T) -> (T,)."""
    shape = tuple(features.shape[1:])
    return shape[:-1] if len(shape) >= 2 and _has_channels(features) else shape


def _has_channels(features):
    # (B, T) and (B, H, W) have no channel axis; (B, T, C) with a small C and (B, H, W, C) do
    rank = len(features.shape)
    return rank == 4 or (rank == 3 and features.shape[-1] <= 4)


def targets_for(logits, target):
    """(B,) int targets: the predicted class when ``target`` is None, else one or one per row."""
    logits = np.asarray(logits)
    n_classes = logits.shape[-1]
    if target is None:
        return logits.argmax(axis=-1).astype(np.int32)
    targets = np.broadcast_to(np.asarray(target, np.int64), (len(logits),)).astype(np.int32)
    bad = targets[(targets < 0) | (targets >= n_classes)]
    if len(bad):
        raise ValueError(f"class {int(bad[0])} is out of range: the model has {n_classes} classes")
    return targets


# ----------------------------------------------------------------------------- tfam's own methods


def _cam_model(logit_model, layers):
    return outputs_model(logit_model, list(layers) + [OUTPUT])


def _gradients(cam_model, x, targets):
    """Activations of the CAM layers and the gradient of each row's target logit with respect to them."""

    @tf.function
    def run(x, targets):
        with tf.GradientTape() as tape:
            tape.watch(x)  # a frozen graph has no variables: nothing else would be recorded
            *acts, logits = cam_model(x, training=False)
            score = tf.gather(logits, targets, batch_dims=1)
        return acts, tape.gradient(score, acts)

    return run(tf.constant(x), tf.constant(targets))


def _spatial_axes(act):
    return list(range(1, act.shape.rank - 1))


def _gradcam(act, grad):
    weights = tf.reduce_mean(grad, axis=_spatial_axes(act), keepdims=True)
    return tf.nn.relu(tf.reduce_sum(act * weights, axis=-1))


def _gradcam_plus_plus(act, grad):
    # tf-keras-vis' formula without its factor exp(score): it scales every weight of a row alike,
    # so it cancels in the normalization, and exp of a large logit overflows
    axes = _spatial_axes(act)
    second, third = grad**2, grad**3
    total = tf.reduce_sum(act, axis=axes, keepdims=True)
    denominator = 2.0 * second + third * total
    alphas = second / (denominator + tf.cast(second == 0.0, tf.float32))
    norm = tf.reduce_sum(alphas, axis=axes, keepdims=True)
    alphas = alphas / (norm + tf.cast(norm == 0.0, tf.float32))
    weights = tf.reduce_sum(tf.nn.relu(grad) * alphas, axis=axes, keepdims=True)
    return tf.nn.relu(tf.reduce_sum(act * weights, axis=-1))


def _scorecam_weights(logit_model, features, act, targets, batch_size):
    """(B, C): the softmax probability of each row's target for the input masked by each channel.

    The (row, channel) pairs run through the model ``batch_size`` at a time inside one compiled
    loop; each mask is the channel's activation upsampled to the input and min-max normalized."""
    size = _spatial(features)
    channels = act.shape[-1]
    rows = features.shape[0]
    count = rows * channels
    chunks = -(-count // batch_size)
    with_channels = _has_channels(features)

    @tf.function
    def run(features, act, targets):
        # channel maps as a batch: (B, *s, C) -> (B * C, *s)
        maps = tf.transpose(act, [0, act.shape.rank - 1] + _spatial_axes(act))
        maps = tf.reshape(maps, [count] + act.shape[1:-1].as_list())
        pad = chunks * batch_size - count  # full chunks only: one shape inside the loop
        maps = tf.concat([maps, tf.zeros([pad] + maps.shape[1:].as_list())], axis=0)
        row_of = tf.minimum(tf.range(chunks * batch_size) // channels, rows - 1)
        scores = tf.TensorArray(tf.float32, size=chunks)

        def body(i, scores):
            index = tf.range(i * batch_size, (i + 1) * batch_size)
            masks = normalize(resize_maps(tf.gather(maps, index), size))
            rows_here = tf.gather(row_of, index)
            x = tf.gather(features, rows_here)
            x = x * (masks[..., None] if with_channels else masks)
            p = tf.nn.softmax(logit_model(x, training=False))
            return i + 1, scores.write(i, tf.gather(p, tf.gather(targets, rows_here), batch_dims=1))

        _, scores = tf.while_loop(lambda i, _: i < chunks, body, (0, scores))
        return tf.reshape(scores.stack(), [-1])[:count]

    return tf.reshape(run(tf.constant(features), act, tf.constant(targets)), [rows, channels])


def _saliency(logit_model, features, targets, smooth_samples, smooth_noise, seed):
    """|gradient of the target logit| (max over channels), averaged over SmoothGrad's noisy copies."""
    samples = max(1, smooth_samples)
    with_channels = _has_channels(features)

    @tf.function
    def run(x, targets):
        axes = list(range(1, x.shape.rank))
        spread = tf.reduce_max(x, axis=axes, keepdims=True) - tf.reduce_min(
            x, axis=axes, keepdims=True
        )
        sigma = smooth_noise * spread if smooth_samples > 0 else tf.zeros_like(spread)
        total = tf.zeros(_spatial_shape_of(x, with_channels))

        def body(i, total):
            noisy = x + sigma * tf.random.stateless_normal(tf.shape(x), [seed, i])
            with tf.GradientTape() as tape:
                tape.watch(noisy)
                score = tf.gather(logit_model(noisy, training=False), targets, batch_dims=1)
            grad = tf.abs(tape.gradient(score, noisy))
            if with_channels:
                grad = tf.reduce_max(grad, axis=-1)
            return i + 1, total + grad

        _, total = tf.while_loop(lambda i, _: i < samples, body, (0, total))
        return total / samples

    return run(tf.constant(features), tf.constant(targets))


def _spatial_shape_of(x, with_channels):
    return tf.shape(x)[:-1] if with_channels else tf.shape(x)


def _tfam_maps(
    method, logit_model, features, targets, layers, batch_size, smooth_samples, smooth_noise, seed
):
    """(combined map, {layer: map}) computed by tfam's code."""
    size = _spatial(features)
    if method == "saliency":
        return normalize(
            _saliency(logit_model, features, targets, smooth_samples, smooth_noise, seed)
        ).numpy(), {}
    cam_model = _cam_model(logit_model, layers)
    acts, grads = _gradients(cam_model, features, targets)
    per_layer, total = {}, 0.0
    for name, act, grad in zip(layers, acts, grads):
        if method == "gradcam":
            cam = _gradcam(act, grad)
        elif method == "gradcam++":
            cam = _gradcam_plus_plus(act, grad)
        else:
            weights = _scorecam_weights(logit_model, features, act, targets, batch_size)
            cam = tf.nn.relu(tf.einsum("b...c,bc->b...", act, weights))
        resized = resize_maps(cam, size)
        per_layer[name] = normalize(resized).numpy()
        # A CAM value is evidence per position of its layer; a stream at a quarter of the time
        # resolution has a quarter of the positions, each standing for four times as much input,
        # so its resized values count by its number of positions. (Normalizing each stream first
        # would give a stream that barely matters, e.g. one the model ignores, a full say.)
        total += resized * float(np.prod(cam.shape[1:]))
    return normalize(total).numpy(), per_layer


# ----------------------------------------------------------------------------- tf-keras-vis


@contextlib.contextmanager
def _quiet():
    """tf-keras-vis' Score-CAM prints Keras's progress bar, and Keras warns about the input
    structure of its calls; neither helps the user of tfam."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def _keras_vis_maps(
    method, logit_model, features, targets, layer, batch_size, smooth_samples, smooth_noise
):
    from tf_keras_vis.gradcam import Gradcam
    from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
    from tf_keras_vis.saliency import Saliency
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

    score = CategoricalScore([int(t) for t in targets])
    x = tf.constant(features)
    with _quiet():
        if method == "saliency":
            maps = Saliency(logit_model)(
                score, x, smooth_samples=smooth_samples, smooth_noise=smooth_noise
            )
        else:
            cls = {"gradcam": Gradcam, "gradcam++": GradcamPlusPlus, "scorecam": Scorecam}[method]
            options = dict(batch_size=batch_size) if method == "scorecam" else {}
            maps = cls(logit_model)(
                score, x, penultimate_layer=layer, seek_penultimate_conv_layer=False, **options
            )
    return np.asarray(maps, np.float32)


def keras_vis_can_run(features, layers, method, model=None):
    """True when tf-keras-vis handles the case: a 2-D input with channels and at most one CAM
    layer, of a Keras model (a graph-backed model's tensors are no layers it can find)."""
    if getattr(model, "graph_backed", None) is not None:
        return False
    return len(features.shape) == 4 and (method == "saliency" or len(layers) == 1)


# ----------------------------------------------------------------------------- the entry point


def attribute(
    model,
    x,
    method="gradcam",
    target=None,
    layers=None,
    backend="auto",
    batch_size=32,
    smooth_samples=0,
    smooth_noise=0.2,
    seed=0,
):
    """Attribution maps of a batch ``x`` (the model's input) for ``target`` (None: the predicted
    class; an int; or one per row). ``layers``: CAM layer name(s), default the last convolution of
    every stream. Returns an :class:`Attribution`."""
    if method not in METHODS:
        raise ValueError(f"unknown method '{method}'; choose one of: {', '.join(METHODS)}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend '{backend}'; choose one of: {', '.join(BACKENDS)}")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
            "attribution needs one of each"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    x = np.asarray(x, np.float32)
    if tuple(x.shape[1:]) != tuple(model.inputs[0].shape[1:]):
        raise ValueError(
            f"input of shape {x.shape[1:]} for a model that takes "
            f"{tuple(model.inputs[0].shape[1:])}"
        )
    front, head, frontend = split_at_frontend(model)
    features = front(x, training=False).numpy() if front is not None else x
    logit_model = with_linear_logits(head)
    logits = logit_model(features, training=False)
    if logits.shape.rank != 2:
        raise ValueError(
            f"the model's output has shape {tuple(logits.shape)}; attribution needs "
            "(batch, classes)"
        )
    targets = targets_for(logits.numpy(), target)
    if method == "saliency":
        if layers:
            raise ValueError(
                "saliency is the gradient with respect to the input: it takes no layer"
            )
        layers = []
    else:
        layers = check_layers(
            logit_model,
            [layers] if isinstance(layers, str) else (layers or stream_layers(logit_model)),
        )
    can_use_keras_vis = keras_vis_can_run(features, layers, method, logit_model)
    if backend == "tf-keras-vis" and not can_use_keras_vis:
        raise ValueError(
            f"tf-keras-vis cannot compute {method} here (input {features.shape[1:]}, "
            f"{len(layers)} layers): it needs a 2-D input with channels and one layer"
        )
    use_keras_vis = backend == "tf-keras-vis" or (backend == "auto" and can_use_keras_vis)
    if use_keras_vis:
        maps = _keras_vis_maps(
            method,
            logit_model,
            features,
            targets,
            layers[0] if layers else None,
            batch_size,
            smooth_samples,
            smooth_noise,
        )
        per_layer = {layers[0]: maps} if layers else {}
    else:
        maps, per_layer = _tfam_maps(
            method,
            logit_model,
            features,
            targets,
            layers,
            batch_size,
            smooth_samples,
            smooth_noise,
            seed,
        )
    shown = features.mean(axis=-1) if _has_channels(features) else features
    return Attribution(
        maps=np.clip(maps, 0.0, 1.0),
        features=shown,
        targets=targets,
        method=method,
        layers=tuple(layers),
        backend="tf-keras-vis" if use_keras_vis else "tfam",
        frontend=frontend,
        stream_maps=per_layer,
    )


__all__ = [
    "Attribution",
    "attribute",
    "stream_layers",
    "split_at_frontend",
    "find_frontend",
    "resize_maps",
    "normalize",
    "METHODS",
    "BACKENDS",
]
