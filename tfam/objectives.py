"""What to maximize: small immutable objects that map a model's activations to one value per row.

An objective names the layers it reads (``OUTPUT`` is the model's output, as logits) and a function
``fn(acts) -> (B,)`` where ``acts`` maps each of those names to its activation tensor. Objectives add,
subtract and scale (``a + 2 * b - c``); every operation returns a new object, nothing is mutated.

Targets may be one index for every row (``class_logit(3)``), one per row (``class_logit([0, 1, 2])``
dreams three classes in a batch of three), or several summed in a row (``class_logit([[1, 7]])``, as
keras-vis ``filter_indices=[1, 7]``).

Targets are data, not code: an objective's ``structure`` is what it computes without them, and the
compiled loop takes the targets as an input, so dreaming other classes or channels, or the next
part of a batch too wide for memory, runs in the loop already traced.
"""

import numbers

import numpy as np
import tensorflow as tf

from tfam.immutable import Immutable, factory

OUTPUT = "<output>"  # the key under which objectives read the model's output (logits)


class Objective(Immutable):
    """``fn(acts) -> (B,)``; or, given ``targets`` (a tuple of int arrays, one per targeted part:
    (rows, k) indices, -1 where a row has fewer, one row for every row of the batch),
    ``fn(acts, targets)`` reads them as tensors. Targets are data, not code: the compiled loop takes
    them as an input, so the same objective with other targets (another class, other channels, the
    next part of a wide batch) runs in the same loop (see ``structure``)."""

    def __init__(self, fn, layers, name, class_targets=None, rows=None, targets=None):
        self._set(
            _fn=fn,
            layers=frozenset(layers),
            name=name,
            class_targets=class_targets,  # per-row target lists when the objective is about classes
            rows=rows,  # the batch size that per-row targets require, or None for any batch
            targets=None if targets is None else tuple(np.asarray(t, np.int32) for t in targets),
        )

    def __call__(self, acts, targets=None):
        if self.targets is None:
            return self._fn(acts)
        if targets is None:
            targets = tuple(tf.constant(t) for t in self.targets)
        return self._fn(acts, tuple(targets))

    @property
    def structure(self):
        """What the objective computes, without its targets: objectives of equal structure differ
        only in the data the compiled loop is fed."""
        recipe = vars(self).get("_recipe")
        return self if self.targets is None or recipe is None else _Structure(recipe)

    def _made_by_value(self, *recipe):
        # the recipe leaves the targets out (they are data); equal objectives have equal targets too
        object.__setattr__(self, "_recipe", recipe)
        return super()._made_by_value(recipe, self.targets)

    def with_targets(self, targets, class_targets, rows):
        """The same computation with other targets."""
        made = Objective(self._fn, self.layers, self.name, class_targets, rows, targets)
        recipe = vars(self).get("_recipe")
        return made if recipe is None else made._made_by_value(*recipe)

    def select_rows(self, start, stop):
        """The same objective for rows ``start:stop`` of its per-row targets (itself when it has
        none), so that a batch too large for memory can run in parts."""
        if self.rows is None:
            return self
        if self.targets is None:
            raise ValueError(f"the objective {self.name} cannot be split by rows")
        start, stop = min(start, self.rows), min(stop, self.rows)
        return self.with_targets(
            tuple(t if len(t) == 1 else t[start:stop] for t in self.targets),
            None if self.class_targets is None else self.class_targets[start:stop],
            stop - start,
        )

    def __repr__(self):
        return f"Objective({self.name})"

    def _combine(self, other, op, symbol):
        if isinstance(other, numbers.Number):
            value = float(other)
            if self.targets is None:
                fn = lambda acts: op(self(acts), value)  # noqa: E731
            else:
                fn = lambda acts, t: op(self._fn(acts, t), value)  # noqa: E731
            return Objective(
                fn,
                self.layers,
                f"({self.name} {symbol} {value:g})",
                self.class_targets,
                self.rows,
                self.targets,
            )._made_by_value(symbol, self.structure, value)
        if not isinstance(other, Objective):
            return NotImplemented
        if self.rows and other.rows and self.rows != other.rows:
            raise ValueError(f"cannot combine objectives for {self.rows} and {other.rows} rows")
        if self.targets is None and other.targets is None:
            fn, targets = (lambda acts: op(self(acts), other(acts))), None
        else:
            mine, theirs = len(self.targets or ()), len(other.targets or ())

            def fn(acts, t):
                return op(
                    self(acts, t[:mine] or None), other(acts, t[mine : mine + theirs] or None)
                )

            targets = (self.targets or ()) + (other.targets or ())
        return Objective(
            fn,
            self.layers | other.layers,
            f"({self.name} {symbol} {other.name})",
            self.class_targets or other.class_targets,
            self.rows or other.rows,
            targets,
        )._made_by_value(symbol, self.structure, other.structure)

    def __add__(self, other):
        return self._combine(other, lambda a, b: a + b, "+")

    def __sub__(self, other):
        return self._combine(other, lambda a, b: a - b, "-")

    def __radd__(self, other):
        return self + other

    def __rsub__(self, other):
        return -self + other

    def __mul__(self, k):
        if not isinstance(k, numbers.Number):
            return NotImplemented
        k = float(k)
        if self.targets is None:
            fn = lambda acts: k * self(acts)  # noqa: E731
        else:
            fn = lambda acts, t: k * self._fn(acts, t)  # noqa: E731
        return Objective(
            fn, self.layers, f"{k:g}*{self.name}", self.class_targets, self.rows, self.targets
        )._made_by_value("*", self.structure, k)

    __rmul__ = __mul__

    def __truediv__(self, k):
        return self * (1.0 / k)

    def __neg__(self):
        return self * -1.0


class _Structure(Immutable):
    """An objective's computation without its targets: the key of a compiled loop."""

    def __init__(self, recipe):
        self._set(recipe=recipe)


def as_targets(targets):
    """Normalize targets to a tuple of rows, each a tuple of indices.

    ``3`` -> ((3,),) for every row; ``[0, 1]`` -> ((0,), (1,)); ``[[1, 7]]`` -> ((1, 7),).
    """
    if isinstance(targets, (numbers.Integral, np.integer)):
        return ((int(targets),),)
    rows = []
    for row in targets:
        if isinstance(row, (numbers.Integral, np.integer)):
            rows.append((int(row),))
        else:
            row = tuple(int(i) for i in row)
            if not row:
                raise ValueError("a target row is empty")
            rows.append(row)
    if not rows:
        raise ValueError("no targets given")
    return tuple(rows)


def _target_array(rows):
    """(rows, k) int32 indices, -1 where a row has fewer than the longest."""
    width = max(len(row) for row in rows)
    return np.array([row + (-1,) * (width - len(row)) for row in rows], np.int32)


def _selector(target, depth, dtype):
    """A (rows, depth) 0/1 matrix that sums each row's chosen indices (-1 chooses nothing)."""
    return tf.minimum(tf.reduce_sum(tf.one_hot(target, depth, dtype=dtype), axis=1), 1.0)


def _check_targets(values, target, what):
    """Where the targets are known (not fed to a compiled loop): in range, one per row."""
    known = tf.get_static_value(target)
    if known is None:
        return
    depth = values.shape[-1]
    bad = known[(known >= depth) | (known < -1)]
    if len(bad):
        raise ValueError(f"{what} {int(bad[0])} is out of range: the layer has {depth}")
    if len(known) > 1 and values.shape[0] is not None and values.shape[0] != len(known):
        raise ValueError(f"{len(known)} per-row targets for a batch of {values.shape[0]}")


def _rows(rows):
    return len(rows) if len(rows) > 1 else None


def _select(values, target, what):
    if values.shape.rank != 2:
        plural = what + ("es" if what.endswith("s") else "s")
        raise ValueError(
            f"{what} targets need a (batch, {plural}) tensor, but the layer gives shape "
            f"{tuple(values.shape)}"
        )
    _check_targets(values, target, what)
    return tf.reduce_sum(values * _selector(target, values.shape[-1], values.dtype), axis=-1)


def _targeted(fn, layers, name, rows, class_targets=None):
    return Objective(fn, layers, name, class_targets, _rows(rows), (_target_array(rows),))


@factory(data="targets")
def class_logit(targets):
    """The logit (pre-softmax output) of one or more classes per row."""
    rows = as_targets(targets)
    return _targeted(
        lambda acts, t: _select(acts[OUTPUT], t[0], "class"),
        [OUTPUT],
        f"class{list(rows) if len(rows) > 1 else list(rows[0])}",
        rows,
        class_targets=rows,
    )


@factory(data="targets")
def class_margin(targets, others_weight=1.0):
    """Seed 000's AM objective: the target logit minus ``others_weight`` times the mean of the other
    logits, so that a dream is this class rather than every class at once."""
    rows = as_targets(targets)

    def fn(acts, t):
        logits = acts[OUTPUT]
        target = _select(logits, t[0], "class")
        others_mask = 1.0 - _selector(t[0], logits.shape[-1], logits.dtype)
        others = tf.reduce_sum(logits * others_mask, axis=-1)
        count = tf.reduce_sum(others_mask, axis=-1)
        return target - others_weight * others / tf.maximum(count, 1.0)

    return _targeted(
        fn,
        [OUTPUT],
        f"class_margin{list(rows) if len(rows) > 1 else list(rows[0])}",
        rows,
        class_targets=rows,
    )


@factory(data="unit")
def neuron(layer, unit, position=None):
    """One unit of a layer; for conv layers at a spatial position (default: the centre)."""
    rows = as_targets(unit)

    def fn(acts, t):
        act = acts[layer]
        spatial = act.shape[1:-1]
        if spatial:
            pos = position if position is not None else tuple(s // 2 for s in spatial)
            pos = (pos,) if isinstance(pos, numbers.Integral) else tuple(pos)
            if len(pos) != len(spatial):
                raise ValueError(
                    f"position {pos} does not fit layer '{layer}' of shape {act.shape}"
                )
            act = act[(slice(None),) + pos]
        return _select(act, t[0], "unit")

    return _targeted(fn, [layer], f"neuron({layer}:{unit})", rows)


@factory(data="index")
def channel(layer, index):
    """The mean activation of one channel of a 1-D or 2-D conv layer (a unit of a dense layer)."""
    rows = as_targets(index)

    def fn(acts, t):
        act = acts[layer]
        if act.shape.rank > 2:
            act = tf.reduce_mean(act, axis=list(range(1, act.shape.rank - 1)))
        return _select(act, t[0], "channel")

    return _targeted(fn, [layer], f"channel({layer}:{index})", rows)


@factory(data="pairs")
def mixed_channels(layers, pairs):
    """One row per (layer, index) pair: the mean activation of that channel (as ``channel``) of
    any of ``layers``; ``OUTPUT`` as the layer reads a class logit. The layers are the structure,
    the pairs are data, so every batch over the same layers runs in one compiled loop, whichever
    layers its rows come from: an atlas of a whole model traces once, not once per layer."""
    layers = tuple(layers)
    unknown = [layer for layer, _ in pairs if layer not in layers]
    if unknown:
        raise ValueError(f"layer '{unknown[0]}' is not one of {list(layers)}")
    if not pairs:
        raise ValueError("no (layer, channel) pair given")
    which = [(layers.index(layer),) for layer, _ in pairs]
    units = [(int(index),) for _, index in pairs]

    def fn(acts, t):
        total = 0.0
        for i, name in enumerate(layers):
            act = acts[name]
            if act.shape.rank > 2:
                act = tf.reduce_mean(act, axis=list(range(1, act.shape.rank - 1)))
            # rows of other layers choose nothing here (-1)
            chosen = tf.where(t[0] == i, t[1], -1)
            total += _select(act, chosen, "channel")
        return total

    shown = ", ".join(f"{'output' if layer == OUTPUT else layer}:{index}" for layer, index in pairs)
    return Objective(
        fn,
        layers,
        f"mixed_channels({shown})",
        rows=_rows(units),
        targets=(_target_array(which), _target_array(units)),
    )


@factory
def layer(name):
    """The mean square of a layer's activations: what deep dream amplifies."""

    def fn(acts):
        act = acts[name]
        return tf.reduce_mean(tf.square(act), axis=list(range(1, act.shape.rank)))

    return Objective(fn, [name], f"layer({name})")


@factory
def diversity(name):
    """Minus the mean cosine similarity of a row's Gram matrix of ``name`` to the other rows' (lucid).

    Added to another objective it pushes the rows of a batch apart.
    """

    def fn(acts):
        act = acts[name]
        flat = tf.reshape(act, [tf.shape(act)[0], -1, act.shape[-1]])
        gram = tf.matmul(flat, flat, transpose_a=True)
        gram = tf.math.l2_normalize(tf.reshape(gram, [tf.shape(act)[0], -1]), axis=-1)
        sim = tf.matmul(gram, gram, transpose_b=True)
        n = tf.cast(tf.shape(act)[0], act.dtype)
        others = tf.reduce_sum(sim, axis=-1) - tf.linalg.diag_part(sim)
        return -others / tf.maximum(n - 1.0, 1.0)

    return Objective(fn, [name], f"diversity({name})")
