"""Deep dream for images, spectrograms and long waveforms, after the TensorFlow DeepDream tutorial.

Each step rolls the input by a random offset, cuts it into tiles the model can take, follows the
std-normalized gradient of an objective (by default the mean square of some layers' activations)
and rolls it back. Octaves repeat this at several scales. The steps run in a ``tf.function`` with
an ``input_signature`` whose spatial sizes and step count are free, so new octave sizes and step
counts reuse the same graph. Calls are sized to take about half a second (``tfam.pacing``), so that
Ctrl-C stops a dream soon: several steps to a call on short inputs, one step in several calls (a few
groups of tiles each) on inputs so long that one step takes longer. Memory holds one group of tiles'
activations and a few copies of the input, however long the input is.

Shapes: ``start`` is one unbatched input, (H, W, C) or (H, W) for 2-D models and (samples,) or
(samples, C) for 1-D models. Internally the input is kept "canonical": its spatial axes followed by
one channel axis (size 1 when the model takes no channel axis).
"""

import numbers
import time
import weakref

import numpy as np
import tensorflow as tf

from tfam import objectives
from tfam.layout import layout_of
from tfam.optimizers import normalize_per_row
from tfam.pacing import Pace
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


# ----------------------------------------------------------------------------- loudness


def loudness_of(x):
    """(RMS, peak) of a waveform, as float32."""
    x = np.asarray(x, np.float64)
    return np.array([np.sqrt(np.mean(x**2)), np.max(np.abs(x))], np.float32)


def restore_loudness(x, mask, loudness):
    """x with the part the mask frees (mask > 0) scaled so that the whole has RMS loudness[0]
    again, then limited to the peak loudness[1]; the rest (mask 0) is left exactly as it is.

    Deep dream's steps add sound; on a waveform, without this, the clip grows louder step by step
    (RMS 0.043 -> 0.129 in 50 steps at step size 0.01) instead of growing the layer's pattern."""
    free = tf.cast(mask > 0, x.dtype)
    fixed_energy = tf.reduce_sum(tf.square(x * (1 - free)))
    free_energy = tf.reduce_sum(tf.square(x * free))
    wanted = tf.square(loudness[0]) * tf.cast(tf.size(x), x.dtype) - fixed_energy
    scale = tf.sqrt(tf.maximum(wanted, 0.0) / tf.maximum(free_energy, 1e-20))
    x = x * (1 - free) + x * free * scale
    return tf.clip_by_value(x, -loudness[1], loudness[1])


# ----------------------------------------------------------------------------- the dreamer


class DeepDream(tf.Module):
    """The compiled dream loop for one model, objective and tiling.

    ``dreamer(x, steps, step_size, first_step, seed)`` runs ``steps`` steps on a canonical float32
    input x (spatial..., C) of any spatial size in one call and returns (x, objective of the last
    step). ``first_step`` numbers the steps so that random rolls differ between octaves yet repeat
    for the same seed. ``dreamer.run`` does the same in calls of about half a second each.
    """

    def __init__(
        self,
        model,
        objective,
        layout,
        channels,
        tile_size=None,
        tile_batch=4,
        value_range=None,
        keep_loudness=False,
        max_roll=None,
    ):
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
        self.keep_loudness = bool(keep_loudness)
        self.max_roll = None if max_roll is None else int(max_roll)
        f32, i32 = tf.TensorSpec([], tf.float32), tf.TensorSpec([], tf.int32)
        loudness = tf.TensorSpec([2], tf.float32)  # (RMS, peak) kept by keep_loudness
        x = tf.TensorSpec([None] * self.spatial_rank + [channels], tf.float32)
        # a batch of tiles; without tiling, the whole input as a batch of one
        tiles = tf.TensorSpec(
            ([1] + [None] * self.spatial_rank if tile_size is None else [None, *tile_size])
            + [channels],
            tf.float32,
        )
        shift = tf.TensorSpec([self.spatial_rank], tf.int32)
        # Plain tf.while_loops below, so no autograph.
        self._run = tf.function(
            self._dream,
            autograph=False,
            input_signature=[
                x,
                x,  # mask: where the input may change (1), where it stays as it is (0)
                loudness,
                i32,  # steps
                f32,  # step size
                i32,  # number of the first step, for the random rolls
                i32,  # seed
            ],
        )
        # One step in parts, for inputs so long that a step takes longer than a chunk should:
        # the same functions the step loop above is made of, so the result is the same.
        self._cut_step = tf.function(self._cut, autograph=False, input_signature=[x, i32, i32])
        self._group_gradients = tf.function(
            self._tile_gradients, autograph=False, input_signature=[tiles, i32, i32, f32]
        )
        self._apply_step = tf.function(
            self._apply, autograph=False, input_signature=[x, x, loudness, tiles, shift, f32]
        )
        self._score = tf.function(self._objective, autograph=False, input_signature=[tiles])

    def __call__(self, x, steps, step_size, first_step=0, seed=0, mask=None, loudness=None):
        x = tf.convert_to_tensor(x, tf.float32)
        return self._run(
            x,
            self._everywhere(x) if mask is None else tf.convert_to_tensor(mask, tf.float32),
            tf.zeros([2]) if loudness is None else tf.convert_to_tensor(loudness, tf.float32),
            tf.constant(steps, tf.int32),
            tf.constant(step_size, tf.float32),
            tf.constant(first_step, tf.int32),
            tf.constant(seed, tf.int32),
        )

    def _everywhere(self, x):
        """The mask "change everything": ones of size 1 along the spatial axes (broadcast), not
        another copy of a long input."""
        return tf.ones([1] * self.spatial_rank + [x.shape[-1]], tf.float32)

    def tiles(self, spatial_shape):
        """How many tiles an input of this size is cut into."""
        if self.tile_size is None:
            return 1
        return int(np.prod([-(-int(s) // t) for s, t in zip(spatial_shape, self.tile_size)]))

    def groups(self, spatial_shape):
        """How many groups of ``tile_batch`` tiles one step over an input of this size runs."""
        return -(-self.tiles(spatial_shape) // self.tile_batch)

    def run(self, x, steps, step_size, first_step=0, seed=0, pace=None, mask=None, loudness=None):
        """What ``dreamer(...)`` returns, computed in compiled calls sized by ``pace`` (a
        ``tfam.pacing.Pace``; default: about half a second each), so that Python sees Ctrl-C
        between them. Its unit is one group of tiles: whole steps run several to a call, and a
        step of more groups than a call should take runs in parts.

        ``mask`` (x's shape): where x may change, 1, and where it stays, 0 (default: everywhere).
        ``loudness`` (RMS, peak): kept after every step when the dreamer keeps loudness."""
        pace = Pace() if pace is None else pace
        x = tf.convert_to_tensor(x, tf.float32)
        mask = self._everywhere(x) if mask is None else tf.convert_to_tensor(mask, tf.float32)
        loudness = tf.zeros([2]) if loudness is None else tf.constant(loudness, tf.float32)
        groups = self.groups(x.shape[:-1])
        value, done = tf.constant(0.0), 0
        while done < steps:
            count = pace.next((steps - done) * groups)
            if count < groups:
                x, value = self._step_in_parts(
                    x, mask, loudness, first_step + done, step_size, seed, pace, groups
                )
                done += 1
                continue
            started = time.perf_counter()
            x, value = self(x, count // groups, step_size, first_step + done, seed, mask, loudness)
            pace.took(count // groups * groups, time.perf_counter() - started)
            done += count // groups
        return x, value

    def _step_in_parts(self, x, mask, loudness, step, step_size, seed, pace, groups):
        """One step, its tiles' gradients a few groups per call."""
        tiles, shift = self._cut_step(x, tf.constant(seed), tf.constant(step))
        parts, total, done = [], tf.constant(0.0), 0
        while done < groups:
            count = pace.next(groups - done)
            started = time.perf_counter()
            grads, total = self._group_gradients(
                tiles, tf.constant(done), tf.constant(count), total
            )
            pace.took(count, time.perf_counter() - started)
            parts.append(grads)
            done += count
        del tiles  # memory: the clip's tiles are no longer needed once their gradients are in
        grads = tf.concat(parts, 0)
        del parts
        step_size = tf.constant(step_size, tf.float32)
        return self._apply_step(x, mask, loudness, grads, shift, step_size), total

    def _objective(self, tiles):
        """Sum over a batch of canonical tiles of the objective."""
        if not self.has_channels:
            tiles = tiles[..., 0]
        outs = self.features(tiles, training=False)
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        return tf.reduce_sum(self.objective(dict(zip(self.names, outs))))

    def _tiles(self, x):
        return x[None] if self.tile_size is None else split_tiles(x, self.tile_size)

    def mean_objective(self, x):
        """The objective of a canonical input averaged over its tiles (no roll), one group of tiles
        per call: bounded memory however long x is, and Ctrl-C works between groups."""
        tiles = self._tiles(tf.convert_to_tensor(x, tf.float32))
        n = int(tiles.shape[0])
        total = sum(
            float(self._score(tiles[g : g + self.tile_batch])) for g in range(0, n, self.tile_batch)
        )
        return total / n

    def _group_count(self, tiles):
        return (tf.shape(tiles)[0] + self.tile_batch - 1) // self.tile_batch

    def _cut(self, x, seed, step):
        """x rolled by the step's random shift and cut into tiles; and the shift."""
        # A fresh random roll each step moves the tile seams, so they do not show in the result.
        u = tf.random.stateless_uniform([self.spatial_rank], seed=tf.stack([seed, step]))
        if self.max_roll is None:
            shift = tf.cast(tf.floor(u * tf.cast(tf.shape(x)[:-1], tf.float32)), tf.int32)
        else:  # a small jitter instead: a front end that hears a span keeps hearing it
            shift = tf.cast(tf.round((2 * u - 1) * self.max_roll), tf.int32)
        return self._tiles(tf.roll(x, shift, list(range(self.spatial_rank)))), shift

    def _tile_gradients(self, tiles, first, count, total):
        """Gradients of ``count`` groups of tiles from group ``first`` on, and ``total`` plus their
        objective (added group by group, so a step in parts sums in the same order)."""
        grads = tf.TensorArray(tf.float32, size=count, infer_shape=False)

        def body(g, grads, total):
            start = (first + g) * self.tile_batch
            group = tiles[start : start + self.tile_batch]
            with tf.GradientTape() as tape:
                tape.watch(group)
                value = self._objective(group)
            return g + 1, grads.write(g, tape.gradient(value, group)), total + value

        # parallel_iterations=1: groups run one after another, so memory holds one group's
        # activations at a time, however long the input.
        _, grads, total = tf.while_loop(
            lambda g, *_: g < count, body, (tf.constant(0), grads, total), parallel_iterations=1
        )
        return grads.concat(), total

    def _apply(self, x, mask, loudness, grads, shift, step_size):
        """Put the tiles' gradients together, undo the roll and step along the normalized gradient
        where the mask allows; then the loudness, if kept."""
        if self.tile_size is None:
            grads = grads[0]
        else:
            grads = merge_tiles(grads, tf.shape(x)[:-1], self.tile_size)
        # The while_loop over steps needs x's static shape (None..., C) to stay the same.
        grads = tf.roll(tf.ensure_shape(grads, x.shape), -shift, list(range(self.spatial_rank)))
        # Normalizing by the std makes step_size independent of the objective's scale.
        step = step_size * normalize_per_row(grads[None])[0]
        if self.keep_loudness:
            return restore_loudness(x + step * loudness[0] * mask, mask, loudness)
        x = x + step * mask
        if self.value_range is not None:
            x = tf.clip_by_value(x, *self.value_range)
        return x

    def gradients(self, x):
        """Gradient of the objective summed over all tiles of x (no roll), and that sum."""
        tiles = self._tiles(x)
        grads, total = self._tile_gradients(tiles, 0, self._group_count(tiles), tf.constant(0.0))
        if self.tile_size is None:
            return grads[0], total
        return merge_tiles(grads, tf.shape(x)[:-1], self.tile_size), total

    def _dream(self, x, mask, loudness, steps, step_size, first_step, seed):
        def body(i, x, _):
            tiles, shift = self._cut(x, seed, first_step + i)
            grads, value = self._tile_gradients(
                tiles, 0, self._group_count(tiles), tf.constant(0.0)
            )
            return i + 1, self._apply(x, mask, loudness, grads, shift, step_size), value

        _, x, value = tf.while_loop(
            lambda i, *_: i < steps, body, (tf.constant(0), x, tf.constant(0.0))
        )
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
        raise ValueError(
            f"start has shape {x.shape} but the model takes inputs of shape "
            f"(batch,) + {model_shape}: expected {expected} (None = any size)"
        )
    if layout.channel_axis is None:
        x = x[..., None]
    elif channel is not None and x.shape[-1] != channel:
        raise ValueError(
            f"start has {x.shape[-1]} channels (shape {x.shape}); the model takes "
            f"{channel} (input shape {model_shape})"
        )
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
        raise ValueError(
            f"tile_size must be a positive int or {spatial_rank} positive ints, got {tile_size}"
        )
    for t, m in zip(tile_size, model_spatial):
        if m is not None and t != m:
            raise ValueError(
                f"tile_size {tile_size} does not match the model's fixed input size "
                f"{tuple(model_spatial)}"
            )
    return tile_size


def _dreamer(
    model,
    layers,
    start,
    tile_size,
    tile_batch,
    value_range,
    spatial_rank,
    keep_loudness=False,
    max_roll=None,
):
    """The compiled dreamer for these settings (reused from an earlier call with the same model and
    settings), ``start`` as a canonical array, and the model's fixed spatial sizes (None: any)."""
    if len(model.inputs) != 1:
        raise ValueError(
            f"deepdream needs a model with one input, this one has {len(model.inputs)}"
        )
    if int(tile_batch) < 1:
        raise ValueError(f"tile_batch must be >= 1, got {tile_batch}")
    input_shape = tuple(model.inputs[0].shape)
    layout = layout_of(input_shape, spatial_rank)
    objective = _as_objective(layers)
    x = _canonical_start(start, input_shape, layout)
    model_spatial = [input_shape[a] for a in layout.spatial_axes]
    tiles = _tile_shape(tile_size, model_spatial, layout.spatial_rank)
    key = (
        layers if isinstance(layers, (objectives.Objective, str)) else tuple(layers),
        layout.spatial_rank,
        x.shape[-1],
        tiles,
        int(tile_batch),
        None if value_range is None else tuple(float(v) for v in value_range),
        bool(keep_loudness),
        max_roll,
    )
    cache = _dreamers.setdefault(model, {})
    if key not in cache:
        cache[key] = DeepDream(
            model,
            objective,
            layout,
            x.shape[-1],
            tiles,
            tile_batch,
            value_range,
            keep_loudness,
            max_roll,
        )
    return cache[key], x, model_spatial


def deepdream(
    model,
    layers,
    start,
    steps=50,
    step_size=0.01,
    octaves=(0,),
    octave_scale=1.3,
    tile_size=None,
    tile_batch=4,
    value_range=None,
    spatial_rank=None,
    seed=0,
    verbose=False,
    pace=None,
    mask=None,
    keep_loudness=False,
    max_roll=None,
):
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
    pace: a ``tfam.pacing.Pace`` sizing the compiled calls, in groups of tiles (default: about half
        a second each, so Ctrl-C stops a dream of any length soon). It does not change the result.
    mask: start's shape (or its spatial shape); 1 where the dream may change the input, 0 where it
        stays as it is (samples the model does not hear, a clip's silence). Default: everywhere.
    keep_loudness: for sounds: the steps are relative to the start's RMS, and after every step
        the changing part is scaled back to the start's RMS and limited to its peak (see
        restore_loudness), so that the dream grows the layer's pattern instead of the volume.
    max_roll: roll by at most this many positions each step instead of anywhere (sounds: a model
        that hears only a span of its input keeps hearing that span).
    """
    if int(steps) < 0:
        raise ValueError(f"steps must be >= 0, got {steps}")
    dreamer, x, model_spatial = _dreamer(
        model,
        layers,
        start,
        tile_size,
        tile_batch,
        value_range,
        spatial_rank,
        keep_loudness,
        max_roll,
    )
    base = x.shape[:-1]
    free = None  # no mask: no array of ones as long as the input
    if mask is not None:
        free = np.asarray(mask, np.float32)
        if free.shape == base:
            free = np.broadcast_to(free[..., None], x.shape)
        if free.shape != x.shape:
            raise ValueError(f"mask has shape {np.shape(mask)}; the start has {np.shape(start)}")
    loudness = loudness_of(x) if keep_loudness else None
    if keep_loudness and not loudness[0] > 0:
        raise ValueError("the start is silent: there is no loudness to keep")
    shapes = [tuple(max(1, int(round(s * octave_scale**o))) for s in base) for o in octaves]
    if dreamer.tile_size is None and any(m is not None for m in model_spatial):
        for shape in shapes:
            if any(m is not None and m != s for m, s in zip(model_spatial, shape)):
                raise ValueError(
                    f"the model takes a fixed input size {tuple(model_spatial)} but "
                    f"an octave has size {shape}: pass tile_size={tuple(model_spatial)}"
                )
    first = x if mask is not None else None  # the canonical start, for what the mask keeps
    pace = Pace() if pace is None else pace  # one for all octaves: a group's time hardly varies
    # x stays the caller's array until the first octave's result replaces it: a tensor copy here
    # would be one more copy of the input held through the whole first octave.
    for k, (o, shape) in enumerate(zip(octaves, shapes)):
        x, value = dreamer.run(
            resize(x, shape),
            int(steps),
            step_size,
            k * int(steps),
            seed,
            pace,
            mask=None if free is None else resize(free, shape),
            loudness=loudness,
        )
        if verbose:  # per tile, as tiled_objective: comparable across octaves and lengths
            tiles = dreamer.tiles(shape)
            print(
                f"octave {o}: size {shape}, {dreamer.objective.name} = {float(value) / tiles:.5g}"
                + (f" (mean over {tiles} tiles)" if tiles > 1 else "")
            )
    x = resize(x, base).numpy()  # a copy of its own: no second one
    if free is not None:  # what may not change is the start's, exactly (not resized back and forth)
        x = np.where(free > 0, x, first)
    if keep_loudness and len(octaves) > 1:  # resizing back changes the loudness a little
        kept = np.ones([1] * (x.ndim - 1) + [x.shape[-1]], np.float32) if free is None else free
        x = restore_loudness(tf.constant(x), tf.constant(kept), tf.constant(loudness)).numpy()
    return x.reshape(np.shape(start)).astype(np.float32, copy=False)


def tiled_objective(model, layers, x, tile_size=None, tile_batch=4, spatial_rank=None):
    """The objective of one unbatched input as ``deepdream`` with these settings sees it: averaged
    over its tiles, ``tile_batch`` tiles per compiled call, so memory stays bounded by the tiles
    however long x is. Without tile_size it is the objective of the whole input."""
    dreamer, x, _ = _dreamer(model, layers, x, tile_size, tile_batch, None, spatial_rank)
    return dreamer.mean_objective(x)
