"""Attribution maps: where in its input a model finds the evidence for a class.

    att = attribute(model, x, "integrated-gradients", target=y)   # any name in METHODS
    att.maps        # (B, H, W) or (B, T) in [0, 1], the size of what the model looks at
    att.raw         # the same maps before normalization (signed where the method is)
    att.features    # what the maps lie over: the input, or the spectrogram a front end computes

Methods (the score is the target's logit; a softmax model is read through a copy with linear
logits; the probability where a method or its paper uses it):

- gradients: ``saliency`` (|d score / d input|, max over channels; SmoothGrad of it with
  ``smooth_samples``, as tf-keras-vis), ``smoothgrad`` (the signed gradient averaged over noisy
  copies, summed over channels), ``smoothgrad-squared`` (the mean squared gradient), ``vargrad``
  (its variance over the copies), ``gradient-input`` (gradient x input) and
  ``integrated-gradients`` (the input minus a baseline times the mean gradient on the straight
  path from the baseline, midpoint rule: the attributions sum to score(x) - score(baseline));
- perturbations: ``occlusion`` (the drop of the target's logit when a patch is set to the
  baseline; patches over time and frequency for sound) and ``rise`` (random low-resolution masks
  weighted by the target's probability on the masked input, Petsiuk et al.);
- class activation maps over the CAM layers: ``gradcam`` (activations weighted by their mean
  gradient), ``gradcam++`` (weights from higher-order terms, Chattopadhyay et al.), ``layercam``
  (each position's activation weighted by its own positive gradient, Jiang et al.) and
  ``scorecam`` (weights from the softmax probability for the input masked by each activation).

Baselines (integrated gradients, occlusion, rise): ``zeros``; ``silence`` (what a front end
makes of an all-zero waveform; zeros for a model without one); ``blurred`` (a Gaussian blur over
the time/space axes, a low-pass over time for a waveform); ``noise`` (Gaussian with the row's mean
and standard deviation); or an array.

Each CAM map is upsampled with linear interpolation that keeps the corners (as
``scipy.ndimage.zoom``, which tf-keras-vis uses); ``maps`` are ``raw`` min-max normalized per row
(a monotone change: every ranking, so every deletion metric, is the same for both).

Compiled once: every method runs in a ``tf.function`` with a batch-free signature, kept per model
(weakly, so the model can still be freed) and per method; numeric settings (steps, samples,
noise, seed, batch size) are arguments of the compiled function, so a second call with equal or
other settings of the same kind does not trace again (``tracing_count``). Many copies of an input
(noisy copies, path points, masked inputs) run ``batch_size`` at a time inside one loop.

Which code computes what:

- tf-keras-vis 0.8.7 (``backend="tf-keras-vis"``): saliency, Grad-CAM, Grad-CAM++ and Score-CAM
  of models whose analysed input is 2-D with a channel axis, (B, H, W, C), and one CAM layer: the
  MNIST CNN, the UrbanSound CNN on its 129x13x1 spectrogram input, the emotion mel CNN (80x160x1),
  and the UrbanSound CNN with waveform input after the split described below. ``backend="auto"``
  picks it for these.
- tfam's own code (``backend="tfam"``): every method for every model: 1-D inputs (the raw-waveform
  emotion CNN: tf-keras-vis' saliency takes the max over the last axis, which is time there, and
  its Score-CAM cannot upsample over one axis), several CAM layers at once (multi-stream models
  such as the slow/fast CNN: one map per pathway, each resized to the input's grid and weighted by
  its number of positions, then summed; see ``_cam_maps``), and inputs without a channel axis. On
  2-D models its saliency, Grad-CAM, Grad-CAM++ and Score-CAM equal tf-keras-vis'.

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
import weakref

import keras
import numpy as np
import scipy.ndimage
import tensorflow as tf

from tfam.keras_internals import producer, producer_inputs
from tfam.objectives import OUTPUT
from tfam.surgery import clone_model, layer_names, layer_shape, outputs_model, with_linear_logits

KERAS_VIS_METHODS = ("saliency", "gradcam", "gradcam++", "scorecam")  # what tf-keras-vis has
GRADIENT_METHODS = (
    "saliency",
    "smoothgrad",
    "smoothgrad-squared",
    "vargrad",
    "gradient-input",
    "integrated-gradients",
)
PERTURBATION_METHODS = ("occlusion", "rise")
CAM_METHODS = ("gradcam", "gradcam++", "layercam", "scorecam")
METHODS = GRADIENT_METHODS + PERTURBATION_METHODS + CAM_METHODS
SMOOTH_METHODS = ("smoothgrad", "smoothgrad-squared", "vargrad")
BASELINE_METHODS = ("integrated-gradients", "occlusion", "rise")
BASELINES = ("zeros", "silence", "blurred", "noise")
# Grad-CAM++ channel weights: "mean" (xplique: the activation's mean in the alphas' denominator,
# weights averaged over positions) or "sum" (alphas normalized per channel, weights summed over
# positions: tf-keras-vis, Chattopadhyay et al.'s eq. 19). "mean" by measurement: on the MNIST CNN
# (100 test digits, benchmarks/attribution.py) Deletion 0.125 against 0.308, Insertion 0.83
# against 0.56; the upsampling changed either by 0.01 at most.
GRADCAM_PP_WEIGHTS = ("mean", "sum")
# how a CAM is brought to the input's grid: "corners" (linear, the corner cells on the corners:
# scipy.ndimage.zoom, tf-keras-vis), "bilinear" or "bicubic" (cell centres on cell centres:
# tf.image.resize, xplique's bicubic)
CAM_UPSAMPLING = ("corners", "bilinear", "bicubic")
BACKENDS = ("auto", "tf-keras-vis", "tfam")
EPSILON = 1e-7  # as tf-keras-vis (keras.backend.epsilon) in the min-max normalization
DEFAULT_SMOOTH_SAMPLES = 50  # smoothgrad, smoothgrad-squared and vargrad when none are given


@dataclasses.dataclass
class Attribution:
    maps: np.ndarray  # (B, *spatial) in [0, 1]: (B, H, W) or (B, T)
    features: np.ndarray  # (B, *spatial) what the maps lie over (channels averaged)
    targets: np.ndarray  # (B,) the class of every row
    method: str
    layers: tuple  # the CAM layers (empty for the other methods)
    backend: str  # "tf-keras-vis" or "tfam"
    frontend: str | None  # the name of the front-end layer the model was split at, if any
    stream_maps: dict  # layer name -> (B, *spatial) map of that layer alone, in [0, 1]
    raw: np.ndarray | None = None  # (B, *spatial) before normalization (signed for some methods)


# ----------------------------------------------------------------------------- the model's parts


def find_frontend(model):
    """The front-end layer (waveform -> spectrogram) of ``model``, or None."""
    # a front end (tfam's SeedSpectrogram, LogMel) says so by a class attribute: the core does
    # not import the audio package
    found = [layer for layer in model.layers if getattr(layer, "is_frontend", False)]
    return found[0] if found else None


_splits = weakref.WeakKeyDictionary()  # model -> (front, head, name): cut and cloned once


def split_at_frontend(model):
    """(front, head, name): ``front`` maps the model's input to the front end's output and ``head``
    the front end's output to the model's output; (None, model, None) for a model without one.
    Made once per model (the head is a clone: a new one per call would compile anew)."""
    if model in _splits:
        return _splits[model]
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
    _splits[model] = front, head, layer.name
    return _splits[model]


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


# ----------------------------------------------------------------------------- compiled, once

# model -> {(what, shapes...): tf.function}: the model is held weakly, and every function holds
# it by a weak reference, so the cache never keeps a model alive
_functions = weakref.WeakKeyDictionary()


def compiled(model, key, build):
    """The compiled function ``build(held)`` of ``model`` for ``key``, built on the first call
    (``held()`` is the model: a weak reference, so the cache does not keep it alive)."""
    cache = _functions.setdefault(model, {})
    if key not in cache:
        cache[key] = build(weakref.ref(model))
    return cache[key]


def tracing_count(model=None):
    """How many times the compiled attribution functions (of ``model``, or of every model) have
    been traced: a second call with equal settings adds none."""
    models = [model] if model is not None else list(_functions.keys())
    return sum(
        f.experimental_get_tracing_count() for m in models for f in _functions.get(m, {}).values()
    )


def _spec(shape, dtype=tf.float32):
    return tf.TensorSpec((None,) + tuple(shape), dtype)


_INT = tf.TensorSpec((), tf.int32)
_FLOAT = tf.TensorSpec((), tf.float32)
_TARGETS = tf.TensorSpec((None,), tf.int32)


def _target_logit(model, x, targets):
    return tf.gather(model(x, training=False), targets, batch_dims=1)


def _call_function(model, shape):
    """x -> the model's output (inference), compiled for batches of any size."""
    return compiled(
        model,
        ("call", shape),
        lambda held: tf.function(
            lambda x: held()(x, training=False), input_signature=[_spec(shape)]
        ),
    )


def _chunk_rows(count, batch_size, i):
    """The indices of chunk ``i`` of ``batch_size`` items out of ``count`` (the last chunk
    repeats the last item: one shape inside the loop) and which of them are real."""
    index = i * batch_size + tf.range(batch_size)
    return tf.minimum(index, count - 1), index < count


def _chunks(count, batch_size):
    return (count + batch_size - 1) // batch_size


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


def upsample(maps, size, how="corners"):
    """(B, *s) -> (B, *size) by one of CAM_UPSAMPLING."""
    if how == "corners":
        return resize_maps(maps, size)
    maps = tf.convert_to_tensor(maps, tf.float32)
    if maps.shape.rank == 2:  # over time: an image one cell wide
        return upsample(maps[:, :, None], (size[0], 1), how)[:, :, 0]
    if maps.shape.rank != 3:
        raise ValueError(f"{how} upsampling takes maps over one or two axes, got {maps.shape}")
    return tf.image.resize(maps[..., None], size, method=how)[..., 0]


def normalize(maps):
    """Min-max per row into [0, 1] (a constant row becomes 0)."""
    maps = tf.convert_to_tensor(maps, tf.float32)
    axes = list(range(1, maps.shape.rank))
    low = tf.reduce_min(maps, axis=axes, keepdims=True)
    high = tf.reduce_max(maps, axis=axes, keepdims=True)
    return (maps - low) / (high - low + EPSILON)


def _spatial(features):
    """The spatial shape of a feature batch: (B, H, W, C) -> (H, W); (B, T) -> (T,)."""
    return _spatial_of(tuple(features.shape[1:]), _has_channels(features))


def _spatial_of(shape, with_channels):
    return tuple(shape[:-1]) if with_channels else tuple(shape)


def _spatial_rank(features):
    return len(_spatial(features))


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


# ----------------------------------------------------------------------------- gradient methods


def _gradient_statistics(logit_model, shape):
    """(x, targets, samples, noise, seed, per_pass) -> mean |g|, mean g and mean g^2 of the
    target logit's gradient g over ``samples`` copies of x with Gaussian noise of ``noise`` times
    each row's range (SmoothGrad; one copy without noise is the plain gradient), ``per_pass``
    copies of every row per forward pass."""

    def build(held):
        @tf.function(input_signature=[_spec(shape), _TARGETS, _INT, _FLOAT, _INT, _INT])
        def run(x, targets, samples, noise, seed, per_pass):
            axes = list(range(1, x.shape.rank))
            sigma = noise * (
                tf.reduce_max(x, axis=axes, keepdims=True)
                - tf.reduce_min(x, axis=axes, keepdims=True)
            )
            rows = tf.shape(x)[0]
            tiled_x = tf.tile(x, [per_pass] + [1] * len(axes))  # copy-major: (per_pass * B, ...)
            tiled_sigma = tf.tile(sigma, [per_pass] + [1] * len(axes))
            tiled_targets = tf.tile(targets, [per_pass])
            zeros = tf.zeros_like(x)

            def body(i, total_abs, total, total_square):
                noisy = tiled_x + tiled_sigma * tf.random.stateless_normal(
                    tf.shape(tiled_x), tf.stack([seed, i])
                )
                with tf.GradientTape() as tape:
                    tape.watch(noisy)  # a frozen graph has no variables: nothing else is recorded
                    score = _target_logit(held(), noisy, tiled_targets)
                grad = tape.gradient(score, noisy)
                grad = tf.reshape(grad, tf.concat([[per_pass, rows], tf.shape(x)[1:]], 0))
                real = tf.cast(i * per_pass + tf.range(per_pass) < samples, tf.float32)
                real = tf.reshape(real, [-1] + [1] * (len(axes) + 1))
                return (
                    i + 1,
                    total_abs + tf.reduce_sum(real * tf.abs(grad), 0),
                    total + tf.reduce_sum(real * grad, 0),
                    total_square + tf.reduce_sum(real * tf.square(grad), 0),
                )

            _, total_abs, total, total_square = tf.while_loop(
                lambda i, *_: i < _chunks(samples, per_pass),
                body,
                (tf.constant(0), zeros, zeros, zeros),
            )
            n = tf.cast(samples, tf.float32)
            return total_abs / n, total / n, total_square / n

        return run

    return compiled(logit_model, ("gradient statistics", shape), build)


def _integrated(logit_model, shape):
    """(x, baseline, targets, steps, per_pass) -> (x - baseline) times the mean gradient of the
    target logit at the midpoints of ``steps`` equal parts of the path from the baseline to x."""

    def build(held):
        @tf.function(input_signature=[_spec(shape), _spec(shape), _TARGETS, _INT, _INT])
        def run(x, baseline, targets, steps, per_pass):
            rows, rank = tf.shape(x)[0], x.shape.rank
            tiled_targets = tf.tile(targets, [per_pass])
            along = x - baseline

            def body(i, total):
                step = i * per_pass + tf.range(per_pass)
                alpha = (tf.cast(step, tf.float32) + 0.5) / tf.cast(steps, tf.float32)
                alpha = tf.reshape(alpha, [-1] + [1] * rank)
                points = tf.reshape(
                    baseline[None] + alpha * along[None], tf.concat([[-1], tf.shape(x)[1:]], 0)
                )
                with tf.GradientTape() as tape:
                    tape.watch(points)
                    score = _target_logit(held(), points, tiled_targets)
                grad = tape.gradient(score, points)
                grad = tf.reshape(grad, tf.concat([[per_pass, rows], tf.shape(x)[1:]], 0))
                real = tf.reshape(tf.cast(step < steps, tf.float32), [-1] + [1] * rank)
                return i + 1, total + tf.reduce_sum(real * grad, 0)

            _, total = tf.while_loop(
                lambda i, _: i < _chunks(steps, per_pass), body, (tf.constant(0), tf.zeros_like(x))
            )
            return along * total / tf.cast(steps, tf.float32)

        return run

    return compiled(logit_model, ("integrated gradients", shape), build)


def _per_pass(rows, batch_size):
    """Copies of every row per forward pass: ``batch_size`` inputs in all, at least one each."""
    return max(1, batch_size // max(rows, 1))


def _over_channels(values, with_channels, reduce):
    return reduce(values, axis=-1) if with_channels else values


def _gradient_map(method, logit_model, features, targets, baseline, options, with_channels):
    """(B, *spatial) raw map of a gradient method (see the module docstring)."""
    x = tf.constant(features)
    shape = tuple(features.shape[1:])
    per_pass = _per_pass(len(features), options.batch_size)
    if method == "integrated-gradients":
        run = _integrated(logit_model, shape)
        values = run(
            x,
            tf.constant(baseline),
            tf.constant(targets),
            options.steps,
            min(per_pass, options.steps),
        )
        return _over_channels(values, with_channels, tf.reduce_sum)
    samples = options.smooth_samples
    noisy = method in SMOOTH_METHODS or (method == "saliency" and samples > 0)
    samples = max(1, samples) if noisy else 1
    run = _gradient_statistics(logit_model, shape)
    mean_abs, mean, mean_square = run(
        x,
        tf.constant(targets),
        samples,
        float(options.smooth_noise) if noisy else 0.0,
        int(options.seed),
        min(per_pass, samples),
    )
    if method == "saliency":  # tf-keras-vis: the largest |gradient| over the channels
        return _over_channels(mean_abs, with_channels, tf.reduce_max)
    if method == "gradient-input":
        return _over_channels(mean * x, with_channels, tf.reduce_sum)
    if method == "smoothgrad":
        return _over_channels(mean, with_channels, tf.reduce_sum)
    if method == "smoothgrad-squared":
        return _over_channels(mean_square, with_channels, tf.reduce_sum)
    variance = tf.nn.relu(mean_square - tf.square(mean))  # vargrad
    return _over_channels(variance, with_channels, tf.reduce_sum)


# ----------------------------------------------------------------------------- baselines


def baseline_for(kind, features, silence=None, blur=None, seed=0):
    """The baseline (an array of the features' shape) of ``kind``: one of BASELINES, or an array
    (broadcast to the features). ``silence``: what the front end makes of silence (None: zeros);
    ``blur``: the blur's standard deviation in cells per time/space axis (default a tenth of
    each axis)."""
    features = np.asarray(features, np.float32)
    if not isinstance(kind, str):
        value = np.asarray(kind, np.float32)
        try:
            return np.broadcast_to(value, features.shape).copy()
        except ValueError:
            raise ValueError(
                f"a baseline of shape {value.shape} does not fit inputs of shape "
                f"{features.shape[1:]}"
            ) from None
    if kind not in BASELINES:
        raise ValueError(f"unknown baseline '{kind}'; choose one of: {', '.join(BASELINES)}")
    if kind == "zeros" or (kind == "silence" and silence is None):
        return np.zeros_like(features)
    if kind == "silence":
        return np.broadcast_to(silence, features.shape).astype(np.float32)
    axes = tuple(range(1, features.ndim))
    if kind == "noise":
        rng = np.random.default_rng(seed)
        mean = features.mean(axis=axes, keepdims=True)
        std = features.std(axis=axes, keepdims=True)
        return (mean + std * rng.standard_normal(features.shape)).astype(np.float32)
    spatial = _spatial_rank(features)
    sigma = [0.0] * features.ndim
    for axis in range(1, 1 + spatial):
        sigma[axis] = features.shape[axis] / 10.0 if blur is None else float(blur)
    return scipy.ndimage.gaussian_filter(features, sigma, mode="nearest").astype(np.float32)


# ----------------------------------------------------------------------------- perturbation methods


def _with_channel(masks, with_channels):
    return masks[..., None] if with_channels else masks


def _occlusion(logit_model, shape, with_channels):
    """(x, baseline, patches, targets, batch_size) -> (B, *spatial): for every cell, the mean drop
    of the target logit when one of the patches (P, *spatial; 1 inside) that cover it is set to
    the baseline. Row-and-patch pairs run ``batch_size`` at a time."""

    def build(held):
        @tf.function(
            input_signature=[
                _spec(shape),
                _spec(shape),
                tf.TensorSpec((None,) + _spatial_of(shape, with_channels), tf.float32),
                _TARGETS,
                _INT,
            ]
        )
        def run(x, baseline, patches, targets, batch_size):
            rows, count = tf.shape(x)[0], tf.shape(patches)[0]
            pairs = rows * count
            base = _target_logit(held(), x, targets)
            total = tf.zeros(tf.concat([[rows], tf.shape(patches)[1:]], 0))

            def body(i, total):
                index, real = _chunk_rows(pairs, batch_size, i)
                row, patch = index // count, index % count
                hole = _with_channel(tf.gather(patches, patch), with_channels)
                inputs = tf.gather(x, row) * (1.0 - hole) + tf.gather(baseline, row) * hole
                drop = tf.gather(base, row) - _target_logit(held(), inputs, tf.gather(targets, row))
                drop = drop * tf.cast(real, tf.float32)
                weighted = tf.reshape(drop, [-1] + [1] * (patches.shape.rank - 1)) * tf.gather(
                    patches, patch
                )
                return i + 1, total + tf.math.unsorted_segment_sum(weighted, row, rows)

            _, total = tf.while_loop(
                lambda i, _: i < _chunks(pairs, batch_size), body, (tf.constant(0), total)
            )
            return total / tf.maximum(tf.reduce_sum(patches, 0), 1.0)[None]

        return run

    return compiled(logit_model, ("occlusion", shape, with_channels), build)


def occlusion_patches(size, patch=None, stride=None):
    """(P, *size) masks, 1 inside each patch: ``patch`` cells per axis (default an eighth of each
    axis, at least 1) every ``stride`` cells (default half a patch), the last patch of every axis
    flush with its end, so every cell is covered."""
    size = tuple(int(n) for n in size)
    patch = _per_axis(patch, size, [max(1, round(n / 8)) for n in size], "patch")
    patch = tuple(min(p, n) for p, n in zip(patch, size))
    stride = _per_axis(stride, size, [max(1, p // 2) for p in patch], "stride")
    starts = []
    for n, p, s in zip(size, patch, stride):
        axis = list(range(0, n - p + 1, s))
        if axis[-1] != n - p:
            axis.append(n - p)
        starts.append(axis)
    grids = np.meshgrid(*starts, indexing="ij")
    corners = np.stack([g.ravel() for g in grids], axis=1)
    masks = np.zeros((len(corners),) + size, np.float32)
    for k, corner in enumerate(corners):
        masks[(k,) + tuple(slice(c, c + p) for c, p in zip(corner, patch))] = 1.0
    return masks


def _per_axis(value, size, default, name):
    if value is None:
        return tuple(default)
    values = (value,) * len(size) if np.isscalar(value) else tuple(value)
    if len(values) != len(size) or any(int(v) < 1 for v in values):
        raise ValueError(f"{name} must be a positive number or one per axis of {size}, got {value}")
    return tuple(int(v) for v in values)


def _rise(logit_model, shape, with_channels, grid):
    """(x, baseline, targets, masks, keep, seed, batch_size) -> (B, *spatial): RISE's map, the
    mean of ``masks`` random masks per row weighted by the target's probability on the input
    shown through them (the rest set to the baseline), over ``keep`` (its expectation). A mask is
    a ``grid`` of cells kept with probability ``keep``, upsampled linearly and shifted by a
    random fraction of a cell (Petsiuk et al.)."""
    size = _spatial_of(shape, with_channels)
    cells = [-(-n // g) for n, g in zip(size, grid)]
    big = [(g + 1) * c for g, c in zip(grid, cells)]

    def build(held):
        @tf.function(
            input_signature=[_spec(shape), _spec(shape), _TARGETS, _INT, _FLOAT, _INT, _INT]
        )
        def run(x, baseline, targets, masks, keep, seed, batch_size):
            rows = tf.shape(x)[0]
            pairs = rows * masks

            def body(i, total):
                index, real = _chunk_rows(pairs, batch_size, i)
                row = index // masks
                chunk_seed = tf.stack([seed, i])
                low = tf.random.stateless_uniform(
                    tf.concat([[batch_size], [g + 1 for g in grid]], 0), chunk_seed
                )
                mask = resize_maps(tf.cast(low < keep, tf.float32), big)
                for axis, (n, c) in enumerate(zip(size, cells), start=1):
                    shift = tf.random.stateless_uniform(
                        [batch_size], chunk_seed + axis, maxval=c, dtype=tf.int32
                    )
                    mask = tf.gather(
                        mask, shift[:, None] + tf.range(n)[None], axis=axis, batch_dims=1
                    )
                shown = _with_channel(mask, with_channels)
                inputs = tf.gather(x, row) * shown + tf.gather(baseline, row) * (1.0 - shown)
                p = tf.gather(
                    tf.nn.softmax(held()(inputs, training=False)),
                    tf.gather(targets, row),
                    batch_dims=1,
                )
                p = p * tf.cast(real, tf.float32)
                weighted = tf.reshape(p, [-1] + [1] * len(size)) * mask
                return i + 1, total + tf.math.unsorted_segment_sum(weighted, row, rows)

            total = tf.zeros(tf.concat([[rows], size], 0))
            _, total = tf.while_loop(
                lambda i, _: i < _chunks(pairs, batch_size), body, (tf.constant(0), total)
            )
            return total / (tf.cast(masks, tf.float32) * keep)

        return run

    return compiled(logit_model, ("rise", shape, with_channels, tuple(grid)), build)


def _perturbation_map(method, logit_model, features, targets, baseline, options, with_channels):
    """(B, *spatial) raw map of occlusion or RISE."""
    shape = tuple(features.shape[1:])
    size = _spatial_of(shape, with_channels)
    x, fill, rows = tf.constant(features), tf.constant(baseline), tf.constant(targets)
    if method == "occlusion":
        patches = occlusion_patches(size, options.patch, options.stride)
        run = _occlusion(logit_model, shape, with_channels)
        return run(x, fill, tf.constant(patches), rows, options.batch_size)
    grid = _per_axis(options.grid, size, [min(7, n) for n in size], "grid")
    run = _rise(logit_model, shape, with_channels, grid)
    return run(x, fill, rows, options.masks, float(options.keep), options.seed, options.batch_size)


# ----------------------------------------------------------------------------- class activation maps

_cam_models = weakref.WeakKeyDictionary()  # logit model -> {layers: model to the layers and logits}


def _cam_model(logit_model, layers):
    models = _cam_models.setdefault(logit_model, {})
    if tuple(layers) not in models:
        models[tuple(layers)] = outputs_model(logit_model, list(layers) + [OUTPUT])
    return models[tuple(layers)]


def _cam_gradients(cam_model, shape):
    """(x, targets) -> the CAM layers' activations and the gradients of each row's target logit
    with respect to them."""

    def build(held):
        @tf.function(input_signature=[_spec(shape), _TARGETS])
        def run(x, targets):
            with tf.GradientTape() as tape:
                tape.watch(x)  # a frozen graph has no variables: nothing else would be recorded
                *acts, logits = held()(x, training=False)
                score = tf.gather(logits, targets, batch_dims=1)
            return acts, tape.gradient(score, acts)

        return run

    return compiled(cam_model, ("cam gradients", shape), build)


def _spatial_axes(act):
    return list(range(1, act.shape.rank - 1))


def _gradcam(act, grad):
    weights = tf.reduce_mean(grad, axis=_spatial_axes(act), keepdims=True)
    return tf.nn.relu(tf.reduce_sum(act * weights, axis=-1))


def _gradcam_plus_plus(act, grad, weighting="mean"):
    # tf-keras-vis' formula ("sum") without its factor exp(score): it scales every weight of a
    # row alike, so it cancels in the normalization, and exp of a large logit overflows
    axes = _spatial_axes(act)
    second, third = grad**2, grad**3
    if weighting == "mean":  # xplique's
        denominator = 2.0 * second + third * tf.reduce_mean(act, axis=axes, keepdims=True)
        denominator += tf.cast(denominator == 0.0, tf.float32) * EPSILON
        weights = tf.reduce_mean(second / denominator * tf.nn.relu(grad), axis=axes, keepdims=True)
        return tf.nn.relu(tf.reduce_sum(act * weights, axis=-1))
    total = tf.reduce_sum(act, axis=axes, keepdims=True)
    denominator = 2.0 * second + third * total
    alphas = second / (denominator + tf.cast(second == 0.0, tf.float32))
    norm = tf.reduce_sum(alphas, axis=axes, keepdims=True)
    alphas = alphas / (norm + tf.cast(norm == 0.0, tf.float32))
    weights = tf.reduce_sum(tf.nn.relu(grad) * alphas, axis=axes, keepdims=True)
    return tf.nn.relu(tf.reduce_sum(act * weights, axis=-1))


def _layercam(act, grad):
    # each position weighted by its own positive gradient, not by the channel's mean
    return tf.nn.relu(tf.reduce_sum(act * tf.nn.relu(grad), axis=-1))


def _scorecam(logit_model, shape, act_shape, with_channels):
    """(features, act, targets, batch_size) -> (B, C): the softmax probability of each row's
    target for the input masked by each channel, its activation upsampled to the input and
    min-max normalized. The (row, channel) pairs run ``batch_size`` at a time in one loop."""
    size = _spatial_of(shape, with_channels)
    channels = act_shape[-1]

    def build(held):
        @tf.function(input_signature=[_spec(shape), _spec(act_shape), _TARGETS, _INT])
        def run(features, act, targets, batch_size):
            rows = tf.shape(features)[0]
            count = rows * channels
            # channel maps as a batch: (B, *s, C) -> (B * C, *s)
            maps = tf.transpose(act, [0, act.shape.rank - 1] + _spatial_axes(act))
            maps = tf.reshape(maps, [-1] + list(act_shape[:-1]))
            chunks = _chunks(count, batch_size)

            def body(i, scores):
                index, _ = _chunk_rows(count, batch_size, i)
                masks = normalize(resize_maps(tf.gather(maps, index), size))
                row = index // channels
                x = tf.gather(features, row) * _with_channel(masks, with_channels)
                p = tf.nn.softmax(held()(x, training=False))
                return i + 1, scores.write(i, tf.gather(p, tf.gather(targets, row), batch_dims=1))

            scores = tf.TensorArray(tf.float32, size=chunks)
            _, scores = tf.while_loop(lambda i, _: i < chunks, body, (0, scores))
            return tf.reshape(tf.reshape(scores.stack(), [-1])[:count], [rows, channels])

        return run

    return compiled(logit_model, ("scorecam", shape, tuple(act_shape), with_channels), build)


def _cam_maps(method, logit_model, features, targets, layers, options, with_channels):
    """(raw combined map, {layer: normalized map}) of a CAM method over its layers."""
    shape = tuple(features.shape[1:])
    size = _spatial_of(shape, with_channels)
    x, rows = tf.constant(features), tf.constant(targets)
    acts, grads = _cam_gradients(_cam_model(logit_model, layers), shape)(x, rows)
    per_layer, total = {}, 0.0
    for name, act, grad in zip(layers, acts, grads):
        if method == "gradcam":
            cam = _gradcam(act, grad)
        elif method == "gradcam++":
            cam = _gradcam_plus_plus(act, grad, options.gradcam_pp_weights)
        elif method == "layercam":
            cam = _layercam(act, grad)
        else:
            run = _scorecam(logit_model, shape, tuple(act.shape[1:]), with_channels)
            weights = run(x, act, rows, options.batch_size)
            cam = tf.nn.relu(tf.einsum("b...c,bc->b...", act, weights))
        resized = upsample(cam, size, options.cam_upsampling)
        per_layer[name] = normalize(resized).numpy()
        # A CAM value is evidence per position of its layer; a stream at a quarter of the time
        # resolution has a quarter of the positions, each standing for four times as much input,
        # so its resized values count by its number of positions. (Normalizing each stream first
        # would give a stream that barely matters, e.g. one the model ignores, a full say.)
        total += resized * float(np.prod(cam.shape[1:]))
    return total, per_layer


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


def keras_vis_can_run(features, layers, method, model=None, options=None):
    """True when tf-keras-vis handles the case: a 2-D input with channels and at most one CAM
    layer, of a Keras model (a graph-backed model's tensors are no layers it can find), with the
    settings it has (its Grad-CAM++ weights are "sum", its upsampling "corners")."""
    if getattr(model, "graph_backed", None) is not None:
        return False
    if method not in KERAS_VIS_METHODS:
        return False
    options = options or Options()
    if method == "gradcam++" and options.gradcam_pp_weights != "sum":
        return False
    if method in CAM_METHODS and options.cam_upsampling != "corners":
        return False
    return len(features.shape) == 4 and (method == "saliency" or len(layers) == 1)


# ----------------------------------------------------------------------------- the entry point


@dataclasses.dataclass(frozen=True)
class Options:
    """The settings of a method (each is read by the methods named beside it)."""

    batch_size: int = 32  # inputs per forward pass: copies, path points, masked inputs
    smooth_samples: int = 0  # saliency, smoothgrad, smoothgrad-squared, vargrad: noisy copies
    smooth_noise: float = 0.2  # their noise, a fraction of each row's range
    seed: int = 0  # the noise, the noise baseline, RISE's masks
    steps: int = 50  # integrated-gradients: points on the path
    patch: object = None  # occlusion: cells per axis (default an eighth of each axis)
    stride: object = None  # occlusion: (default half a patch)
    masks: int = 2000  # rise: random masks per row
    grid: object = None  # rise: cells per axis of a mask (default 7)
    keep: float = 0.5  # rise: the chance that a cell is shown
    gradcam_pp_weights: str = "mean"  # gradcam++: see GRADCAM_PP_WEIGHTS
    cam_upsampling: str = "corners"  # CAM methods: see CAM_UPSAMPLING

    def check(self):
        for name, least in (("batch_size", 1), ("steps", 1), ("masks", 1), ("smooth_samples", 0)):
            if int(getattr(self, name)) < least:
                raise ValueError(f"{name} must be at least {least}, got {getattr(self, name)}")
        if not 0.0 < self.keep < 1.0:
            raise ValueError(f"keep must lie between 0 and 1, got {self.keep}")
        if self.smooth_noise < 0:
            raise ValueError(f"smooth_noise must not be negative, got {self.smooth_noise}")
        if self.cam_upsampling not in CAM_UPSAMPLING:
            raise ValueError(
                f"unknown cam_upsampling '{self.cam_upsampling}'; choose one of: "
                f"{', '.join(CAM_UPSAMPLING)}"
            )
        if self.gradcam_pp_weights not in GRADCAM_PP_WEIGHTS:
            raise ValueError(
                f"unknown gradcam_pp_weights '{self.gradcam_pp_weights}'; choose one of: "
                f"{', '.join(GRADCAM_PP_WEIGHTS)}"
            )
        return self


def _check_model(model, x):
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ValueError(
            f"the model has {len(model.inputs)} inputs and {len(model.outputs)} outputs; "
            "attribution needs one of each"
        )
    x = np.asarray(x, np.float32)
    if tuple(x.shape[1:]) != tuple(model.inputs[0].shape[1:]):
        raise ValueError(
            f"input of shape {x.shape[1:]} for a model that takes "
            f"{tuple(model.inputs[0].shape[1:])}"
        )
    return x


def _silence(front, x):
    """What the front end makes of an all-zero waveform (None without a front end)."""
    if front is None:
        return None
    shape = tuple(x.shape[1:])
    return _call_function(front, shape)(tf.zeros((1,) + shape)).numpy()


def attribute(
    model,
    x,
    method="gradcam",
    target=None,
    layers=None,
    backend="auto",
    batch_size=32,
    smooth_samples=None,
    smooth_noise=0.2,
    seed=0,
    steps=50,
    baseline="zeros",
    blur=None,
    patch=None,
    stride=None,
    masks=2000,
    grid=None,
    keep=0.5,
    gradcam_pp_weights="mean",
    cam_upsampling="corners",
):
    """Attribution maps of a batch ``x`` (the model's input) for ``target`` (None: the predicted
    class; an int; or one per row) by ``method`` (one of METHODS). ``layers``: CAM layer name(s),
    default the last convolution of every stream. ``baseline`` (one of BASELINES or an array of
    the features' shape; ``blur``: its standard deviation in cells) for integrated gradients,
    occlusion and RISE; the other settings are :class:`Options`' (``smooth_samples`` None: 0 for
    saliency, DEFAULT_SMOOTH_SAMPLES for the smoothgrad methods). Returns an
    :class:`Attribution`."""
    if method not in METHODS:
        raise ValueError(f"unknown method '{method}'; choose one of: {', '.join(METHODS)}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend '{backend}'; choose one of: {', '.join(BACKENDS)}")
    if smooth_samples is None or (method in SMOOTH_METHODS and smooth_samples == 0):
        smooth_samples = DEFAULT_SMOOTH_SAMPLES if method in SMOOTH_METHODS else 0
    options = Options(
        int(batch_size),
        int(smooth_samples),
        float(smooth_noise),
        int(seed),
        int(steps),
        patch,
        stride,
        int(masks),
        grid,
        float(keep),
        gradcam_pp_weights,
        cam_upsampling,
    ).check()
    x = _check_model(model, x)
    front, head, frontend = split_at_frontend(model)
    features = _call_function(front, x.shape[1:])(x).numpy() if front is not None else x
    logit_model = with_linear_logits(head)
    logits = _call_function(logit_model, features.shape[1:])(features)
    if logits.shape.rank != 2:
        raise ValueError(
            f"the model's output has shape {tuple(logits.shape)}; attribution needs "
            "(batch, classes)"
        )
    targets = targets_for(logits.numpy(), target)
    if method not in CAM_METHODS:
        if layers:
            raise ValueError(
                f"{method} reads the input, not a layer: it takes no layer"
                if method != "saliency"
                else "saliency is the gradient with respect to the input: it takes no layer"
            )
        layers = []
    else:
        layers = check_layers(
            logit_model,
            [layers] if isinstance(layers, str) else (layers or stream_layers(logit_model)),
        )
    can_use_keras_vis = keras_vis_can_run(features, layers, method, logit_model, options)
    if backend == "tf-keras-vis" and not can_use_keras_vis:
        if method not in KERAS_VIS_METHODS:
            raise ValueError(f"tf-keras-vis cannot compute {method}: tfam's code does")
        if method == "gradcam++" and options.gradcam_pp_weights != "sum":
            raise ValueError(
                "tf-keras-vis' Grad-CAM++ has the weights 'sum' (gradcam_pp_weights='sum')"
            )
        if method in CAM_METHODS and options.cam_upsampling != "corners":
            raise ValueError("tf-keras-vis upsamples by 'corners' (cam_upsampling='corners')")
        raise ValueError(
            f"tf-keras-vis cannot compute {method} here (input {features.shape[1:]}, "
            f"{len(layers)} layers): it needs a 2-D input with channels and one layer"
        )
    use_keras_vis = backend == "tf-keras-vis" or (backend == "auto" and can_use_keras_vis)
    with_channels = _has_channels(features)
    per_layer = {}
    if use_keras_vis:
        raw = _keras_vis_maps(
            method,
            logit_model,
            features,
            targets,
            layers[0] if layers else None,
            options.batch_size,
            options.smooth_samples,
            options.smooth_noise,
        )
        per_layer = {layers[0]: raw} if layers else {}
    elif method in CAM_METHODS:
        raw, per_layer = _cam_maps(
            method, logit_model, features, targets, layers, options, with_channels
        )
    else:
        fill = None
        if method in BASELINE_METHODS:
            fill = baseline_for(baseline, features, _silence(front, x), blur, options.seed)
        compute = _gradient_map if method in GRADIENT_METHODS else _perturbation_map
        raw = compute(method, logit_model, features, targets, fill, options, with_channels)
    raw = np.asarray(raw, np.float32)
    shown = features.mean(axis=-1) if with_channels else features
    return Attribution(
        maps=np.clip(normalize(raw).numpy(), 0.0, 1.0),
        features=shown,
        targets=targets,
        method=method,
        layers=tuple(layers),
        backend="tf-keras-vis" if use_keras_vis else "tfam",
        frontend=frontend,
        stream_maps=per_layer,
        raw=raw,
    )


__all__ = [
    "Attribution",
    "Options",
    "attribute",
    "baseline_for",
    "occlusion_patches",
    "stream_layers",
    "split_at_frontend",
    "find_frontend",
    "resize_maps",
    "normalize",
    "tracing_count",
    "METHODS",
    "KERAS_VIS_METHODS",
    "GRADIENT_METHODS",
    "PERTURBATION_METHODS",
    "CAM_METHODS",
    "BASELINES",
    "GRADCAM_PP_WEIGHTS",
    "CAM_UPSAMPLING",
    "upsample",
    "BACKENDS",
]
