"""Deep dream for images, spectrograms and long waveforms, after the TensorFlow DeepDream tutorial.

Each step rolls the input by a random offset, cuts it into tiles the model can take, follows the
std-normalized gradient of an objective (by default the mean square of some layers' activations)
and rolls it back. Octaves repeat this at several scales. The steps run in one ``tf.function`` with
an ``input_signature`` whose spatial sizes and step count are free, so new octave sizes and step
counts reuse the same graph.

Shapes: ``start`` is one unbatched input, (H, W, C) or (H, W) for 2-D models and (samples,) or
(samples, C) for 1-D models. Internally the input is kept "canonical": its spatial axes followed by
one channel axis (size 1 when the model takes no channel axis).
"""
import numbers
import weakref

import numpy as np
import tensorflow as tf

from tfam import objectives
from tfam.layout import layout_of
from tfam.optimizers import normalize_per_row
from tfam.regularizers import mirror_index
from tfam.surgery import feature_model, with_linear_logits


# ----------------------------------------------------------------------------- tiles

def _tile_perm(k):
    # (n1, t1, n2, t2, C) -> (n1, n2, t1, t2, C): grid axes first, then tile axes, then channels.
    return [2 * i for i in range(k)] + [2 * i + 1 for i in range(k)] + [2 * k]


def split_tiles(x, tile_size):
    """Cut a canonical input (spatial..., C) into tiles (N, *tile_size, C), row-major over the grid.

    Each spatial axis is first padded at its end (symmetric) up to a multiple of its tile size.
    """
    x = tf.convert_to_tensor(x)
    tile_size = tuple(int(t) for t in tile_size)
    k = len(tile_size)
    shape = tf.shape(x)
    split = []
    for axis, t in enumerate(tile_size):
        n = (shape[axis] + t - 1) // t
        x = tf.gather(x, mirror_index(tf.range(n * t), shape[axis]), axis=axis)
        split += [n, t]
    channels = x.shape[-1] if x.shape[-1] is not None else shape[-1]
    x = tf.reshape(x, split + [channels])
    x = tf.transpose(x, _tile_perm(k))
    return tf.reshape(x, [-1, *tile_size, channels])


def merge_tiles(tiles, spatial_shape, tile_size):
    """Inverse of ``split_tiles``: put tiles (N, *tile_size, C) back and crop to ``spatial_shape``."""
    tiles = tf.convert_to_tensor(tiles)
    tile_size = tuple(int(t) for t in tile_size)
    k = len(tile_size)
    spatial_shape = tf.cast(tf.convert_to_tensor(spatial_shape), tf.int32)
    grid = [(spatial_shape[i] + t - 1) // t for i, t in enumerate(tile_size)]
    channels = tiles.shape[-1] if tiles.shape[-1] is not None else tf.shape(tiles)[-1]
    x = tf.reshape(tiles, grid + list(tile_size) + [channels])
    x = tf.transpose(x, np.argsort(_tile_perm(k)))
    x = tf.reshape(x, [n * t for n, t in zip(grid, tile_size)] + [channels])
    return tf.slice(x, tf.zeros([k + 1], tf.int32), tf.concat([spatial_shape, [-1]], 0))


# ----------------------------------------------------------------------------- resizing

def resize(x, spatial_shape):
    """Resize a canonical input (spatial..., C) bilinearly (linearly for 1-D) to ``spatial_shape``."""
    x = tf.convert_to_tensor(x, tf.float32)
    spatial_shape = [int(s) for s in spatial_shape]
    if list(x.shape[:-1]) == spatial_shape:
        return x
    if len(spatial_shape) == 1:
        # tf.image.resize on a (1, L, 1, C) view interpolates along L only.
        return tf.image.resize(x[None, :, None, :], (spatial_shape[0], 1))[0, :, 0, :]
    return tf.image.resize(x, spatial_shape)


# ----------------------------------------------------------------------------- the dreamer

class DeepDream(tf.Module):
    """The compiled dream loop for one model, objective and tiling.

    ``dreamer(x, steps, step_size, first_step, seed)`` runs ``steps`` steps on a canonical float32
    input x (spatial..., C) of any spatial size and returns (x, objective of the last step).
    ``first_step`` numbers the steps so that random rolls differ between octaves yet repeat for the
    same seed.
    """

    def __init__(self, model, objective, layout, channels, tile_size=None, tile_batch=4,
                 value_range=None):
        super().__init__()
        self.objective = objective
        # class objectives read logits, as in the engine: a softmax output would saturate
        scored = with_linear_logits(model) if objectives.OUTPUT in objective.layers else model
        self.names, self.features = feature_model(scored, objective.layers)
        self.spatial_rank = layout.spatial_rank
        self.has_channels = layout.channel_axis is not None
        self.tile_size = tile_size
        self.tile_batch = int(tile_batch)
        self.value_range = value_range
        spec = tf.TensorSpec([None] * self.spatial_rank + [channels], tf.float32)
        # Plain tf.while_loops below, so no autograph.
        self._run = tf.function(self._dream, autograph=False, input_signature=[
            spec,
            tf.TensorSpec([], tf.int32),    # steps
            tf.TensorSpec([], tf.float32),  # step size
            tf.TensorSpec([], tf.int32),    # number of the first step, for the random rolls
            tf.TensorSpec([], tf.int32),    # seed
        ])

    def __call__(self, x, steps, step_size, first_step=0, seed=0):
        return self._run(tf.convert_to_tensor(x, tf.float32), tf.constant(steps, tf.int32),
                         tf.constant(step_size, tf.float32), tf.constant(first_step, tf.int32),
                         tf.constant(seed, tf.int32))

    def _objective(self, tiles):
        """Sum over a batch of canonical tiles of the objective."""
        if not self.has_channels:
            tiles = tiles[..., 0]
        outs = self.features(tiles, training=False)
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        return tf.reduce_sum(self.objective(dict(zip(self.names, outs))))

    def gradients(self, x):
        """Gradient of the objective summed over all tiles of x, and that sum."""
        if self.tile_size is None:
            tiles = x[None]
        else:
            tiles = split_tiles(x, self.tile_size)
        n_groups = (tf.shape(tiles)[0] + self.tile_batch - 1) // self.tile_batch
        grads = tf.TensorArray(tf.float32, size=n_groups, infer_shape=False)

        def body(g, grads, total):
            group = tiles[g * self.tile_batch:(g + 1) * self.tile_batch]
            with tf.GradientTape() as tape:
                tape.watch(group)
                value = self._objective(group)
            return g + 1, grads.write(g, tape.gradient(value, group)), total + value

        # parallel_iterations=1: groups run one after another, so memory holds one group's
        # activations at a time, however long the input.
        _, grads, total = tf.while_loop(lambda g, *_: g < n_groups, body,
                                        (tf.constant(0), grads, tf.constant(0.0)),
                                        parallel_iterations=1)
        grads = grads.concat()
        if self.tile_size is None:
            grads = grads[0]
        else:
            grads = merge_tiles(grads, tf.shape(x)[:-1], self.tile_size)
        # The while_loop over steps needs x's static shape (None..., C) to stay the same.
        return tf.ensure_shape(grads, x.shape), total

    def _dream(self, x, steps, step_size, first_step, seed):
        axes = list(range(self.spatial_rank))
        sizes = tf.shape(x)[:-1]

        def body(i, x, _):
            # A fresh random roll each step moves the tile seams, so they do not show in the result.
            u = tf.random.stateless_uniform([self.spatial_rank], seed=tf.stack([seed, first_step + i]))
            shift = tf.cast(tf.floor(u * tf.cast(sizes, tf.float32)), tf.int32)
            grads, value = self.gradients(tf.roll(x, shift, axes))
            grads = tf.roll(grads, -shift, axes)
            # Normalizing by the std makes step_size independent of the objective's scale.
            grads = normalize_per_row(grads[None])[0]
            x = x + step_size * grads
            if self.value_range is not None:
                x = tf.clip_by_value(x, *self.value_range)
            return i + 1, x, value

        _, x, value = tf.while_loop(lambda i, *_: i < steps, body,
                                    (tf.constant(0), x, tf.constant(0.0)))
        return x, value


# ----------------------------------------------------------------------------- entry point

# Compiled dreamers per model (weakly held, so models can be freed), keyed by the other settings:
# repeated deepdream() calls then do not trace again.
_dreamers = weakref.WeakKeyDictionary()


def _as_objective(layers):
    if isinstance(layers, objectives.Objective):
        return layers
    names = [layers] if isinstance(layers, str) else list(layers)
    if not names:
        raise ValueError("no layers given")
    total = objectives.layer(names[0])
    for name in names[1:]:
        total = total + objectives.layer(name)
    return total


def _canonical_start(start, input_shape, layout):
    """``start`` as float32 (spatial..., C); raises ValueError when it cannot feed the model."""
    x = np.asarray(start, np.float32)
    if not np.all(np.isfinite(x)):
        raise ValueError("start contains NaN or infinite values")
    model_shape = tuple(input_shape[1:])  # unbatched
    channel = model_shape[-1] if layout.channel_axis is not None else None
    # A missing channel axis is added when the model takes one channel (or any number).
    can_expand = layout.channel_axis is not None and channel in (1, None)
    if x.ndim == len(model_shape) - 1 and can_expand:
        x = x[..., None]
    if x.ndim != len(model_shape):
        expected = f"{model_shape}" + (f" or {model_shape[:-1]}" if can_expand else "")
        raise ValueError(f"start has shape {x.shape} but the model takes inputs of shape "
                         f"(batch,) + {model_shape}: expected {expected} (None = any size)")
    if layout.channel_axis is None:
        x = x[..., None]
    elif channel is not None and x.shape[-1] != channel:
        raise ValueError(f"start has {x.shape[-1]} channels (shape {x.shape}); the model takes "
                         f"{channel} (input shape {model_shape})")
    if min(x.shape[:-1]) < 1:
        raise ValueError(f"start has an empty axis: shape {x.shape}")
    return x


def _tile_shape(tile_size, model_spatial, spatial_rank):
    if tile_size is None:
        return None
    if isinstance(tile_size, numbers.Integral):
        tile_size = (int(tile_size),) * spatial_rank
    tile_size = tuple(int(t) for t in tile_size)
    if len(tile_size) != spatial_rank or min(tile_size) < 1:
        raise ValueError(f"tile_size must be a positive int or {spatial_rank} positive ints, "
                         f"got {tile_size}")
    for t, m in zip(tile_size, model_spatial):
        if m is not None and t != m:
            raise ValueError(f"tile_size {tile_size} does not match the model's fixed input size "
                             f"{tuple(model_spatial)}")
    return tile_size


def deepdream(model, layers, start, steps=50, step_size=0.01, octaves=(0,), octave_scale=1.3,
              tile_size=None, tile_batch=4, value_range=None, spatial_rank=None, seed=0,
              verbose=False):
    """Dream ``start`` (one unbatched input) into ``model``'s ``layers``; returns float32, same shape.

    layers: a layer name, a list of names (the objective is the sum of their mean squared
        activations) or an ``objectives.Objective``.
    octaves: exponents o; each octave runs ``steps`` steps at the start's spatial size times
        ``octave_scale ** o``, carrying the result on; the result is resized back at the end.
    tile_size: int or one int per spatial axis; the input is cut into such tiles (padded at the end)
        and the model sees ``tile_batch`` tiles at a time. None: the whole input is one tile. Models
        with a fixed input size need tile_size equal to it (unless the input has exactly that size).
    value_range: (low, high) to clip the input to after each step, or None.
    spatial_rank: 1 or 2, when the model's input rank does not tell (see ``tfam.layout``).
    seed: the random rolls are stateless functions of (seed, step number): same seed, same result.
    """
    if len(model.inputs) != 1:
        raise ValueError(f"deepdream needs a model with one input, this one has {len(model.inputs)}")
    if int(tile_batch) < 1 or int(steps) < 0:
        raise ValueError(f"tile_batch must be >= 1 and steps >= 0, got {tile_batch} and {steps}")
    input_shape = tuple(model.inputs[0].shape)
    layout = layout_of(input_shape, spatial_rank)
    objective = _as_objective(layers)
    x = _canonical_start(start, input_shape, layout)
    model_spatial = [input_shape[a] for a in layout.spatial_axes]
    tiles = _tile_shape(tile_size, model_spatial, layout.spatial_rank)

    base = x.shape[:-1]
    shapes = [tuple(max(1, int(round(s * octave_scale ** o))) for s in base) for o in octaves]
    if tiles is None and any(m is not None for m in model_spatial):
        for shape in shapes:
            if any(m is not None and m != s for m, s in zip(model_spatial, shape)):
                raise ValueError(f"the model takes a fixed input size {tuple(model_spatial)} but "
                                 f"an octave has size {shape}: pass tile_size={tuple(model_spatial)}")

    # Reuse the compiled dreamer of an earlier call with the same model and settings.
    key = (layers if isinstance(layers, (objectives.Objective, str)) else tuple(layers),
           layout.spatial_rank, x.shape[-1], tiles, int(tile_batch),
           None if value_range is None else tuple(float(v) for v in value_range))
    cache = _dreamers.setdefault(model, {})
    if key not in cache:
        cache[key] = DeepDream(model, objective, layout, x.shape[-1], tiles, tile_batch, value_range)
    dreamer = cache[key]
    x = tf.constant(x)
    for k, (o, shape) in enumerate(zip(octaves, shapes)):
        x, value = dreamer(resize(x, shape), steps, step_size, k * int(steps), seed)
        if verbose:
            print(f"octave {o}: size {shape}, {objective.name} = {float(value):.5g}")
    x = resize(x, base).numpy()
    return x.reshape(np.shape(start)).astype(np.float32)
