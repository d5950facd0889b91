"""Faithfulness of attribution maps: do the cells a map ranks first matter to the model?

    curve = deletion(model, x, att.maps, att.targets)        # any maps: tfam's, xplique's, ...
    curve.auc        # (B,) area under the target's probability as the top cells are removed
    insertion(model, x, maps, targets).auc                   # ... as they are put back
    mu_fidelity(model, x, maps, targets)                     # (B,) rank correlations
    model_randomization(model, lambda m: attribute(m, x, "gradcam").maps)

The maps lie over the model's input (without its channel axis) or, for a model with a front end
(tfam's SeedSpectrogram or LogMel), over the front end's output, as tfam.attribution gives them:
the metric then perturbs that spectrogram and scores the rest of the model. Only the order of the
cells matters to Deletion and Insertion; ties keep the cells' order (stable sort).

Perturbations say what a removed cell becomes: ``baseline(value)`` (default 0, as xplique),
``blurred(sigma)`` (the input blurred), or any :class:`Perturbation`; one that works on the model's
own input, such as tfam.audio.salient.mel_removal (for sound: the cells lose their mel magnitude and
the model hears the Griffin-Lim sound of the rest, as salient_audio does), gets the input as given
and the keep mask on the map's grid.

Deletion and Insertion follow Petsiuk et al. (RISE) as xplique 2.0.2 computes them: ``steps + 1``
points from 0 to all cells, the area by the trapezoid rule over [0, 1]; the score is the target's
softmax probability (a softmax model is read through its linear logits, then the softmax).
MuFidelity (Bhatt et al.) is the rank correlation between the drop of the score when random
subsets of grid cells are removed and the sum of the map over them. The model-randomization check
(Adebayo et al.) compares maps of the model with maps of a copy whose weights are random: a map
that does not change explains the input, not the model.
"""

import dataclasses

import numpy as np
import scipy.stats
import tensorflow as tf

from tfam import attribution as at
from tfam.immutable import Immutable
from tfam.surgery import clone_model, with_linear_logits

SCORES = ("probability", "logit")


class Perturbation(Immutable):
    """What removing cells does. ``fill(x) -> x removed everywhere`` (the removed cells take its
    values), or ``apply(x, keep) -> the model's input`` for a perturbation of the model's own
    input (``keep``: (n, *map grid), 1 kept, 0 removed)."""

    __slots__ = ("name", "fill", "apply")

    def __init__(self, name, fill=None, apply=None):
        if (fill is None) == (apply is None):
            raise ValueError("a perturbation has a fill or an apply, not both")
        self._set(name=name, fill=fill, apply=apply)

    @property
    def on_input(self):
        return self.apply is not None

    def __call__(self, x, keep):
        if self.apply is not None:
            return self.apply(x, keep)
        keep = keep[..., None] if keep.ndim < x.ndim else keep
        return x * keep + self.fill(x) * (1.0 - keep)

    def __repr__(self):
        return f"Perturbation({self.name})"


def baseline(value=0.0):
    """Removed cells take ``value``."""
    value = float(value)
    return Perturbation(f"baseline {value:g}", fill=lambda x: np.full_like(x, value))


def blurred(sigma=None):
    """Removed cells take the input blurred over its time/space axes (``sigma`` cells; default a
    tenth of each axis)."""

    def fill(x):
        return at.baseline_for("blurred", x, blur=sigma)

    return Perturbation(f"blurred (sigma {sigma or 'a tenth'})", fill=fill)


@dataclasses.dataclass
class Curve:
    """A Deletion or Insertion curve per row."""

    fractions: np.ndarray  # (steps + 1,) the share of cells removed (or inserted)
    scores: np.ndarray  # (B, steps + 1) the target's score at each
    auc: np.ndarray  # (B,) the area under each row's curve (trapezoid rule over [0, 1])
    perturbation: str

    @property
    def mean_auc(self):
        return float(np.mean(self.auc))


# ----------------------------------------------------------------------------- what is scored


def _scorer(model, kind):
    """(inputs, targets) -> (n,) the target's softmax probability or logit, compiled once."""
    logit_model = with_linear_logits(model)

    def build(held):
        def score(x, targets):
            logits = held()(x, training=False)
            values = tf.nn.softmax(logits) if kind == "probability" else logits
            return tf.gather(values, targets, batch_dims=1)

        return score

    cache = {}

    def run(x, targets):
        x = np.asarray(x, np.float32)
        shape = tuple(x.shape[1:])
        if shape not in cache:
            cache[shape] = at.compiled(
                logit_model,
                ("faithfulness score", kind, shape),
                lambda held: tf.function(
                    build(held),
                    input_signature=[
                        tf.TensorSpec((None,) + shape, tf.float32),
                        tf.TensorSpec((None,), tf.int32),
                    ],
                ),
            )
        return cache[shape](tf.constant(x), tf.constant(targets, tf.int32)).numpy()

    return run


def _view(model, x, maps, perturbation):
    """(what is perturbed, the model that scores it): the input and the model, or the front end's
    output and the rest of the model, whichever the maps lie over."""
    x = np.asarray(x, np.float32)
    grid = tuple(maps.shape[1:])
    if perturbation.on_input:
        return x, model
    if at._spatial(x) == grid:
        return x, model
    front, head, _ = at.split_at_frontend(model)
    if front is not None:
        features = at._call_function(front, x.shape[1:])(x).numpy()
        if at._spatial(features) == grid:
            return features, head
    raise ValueError(
        f"maps of shape {grid} lie neither over the input {x.shape[1:]} nor over the output of "
        "a front end of the model"
    )


def _targets(model, x, targets):
    if targets is not None:
        return np.broadcast_to(np.asarray(targets, np.int32), (len(x),)).copy()
    logits = at._call_function(with_linear_logits(model), x.shape[1:])(x)
    return np.argmax(logits.numpy(), axis=-1).astype(np.int32)


def _check(x, maps):
    maps = np.asarray(maps, np.float32)
    if len(maps) != len(x):
        raise ValueError(f"{len(maps)} maps for {len(x)} inputs")
    if maps.ndim == np.ndim(x) and maps.ndim >= 3 and maps.shape[1:] == np.shape(x)[1:]:
        maps = maps.mean(axis=-1)  # maps with the input's channels: their mean, as xplique
    if not np.all(np.isfinite(maps)):
        raise ValueError("the maps hold NaN or infinite values")
    return maps


def _score_all(scorer, perturbation, inputs, keeps_for, count, targets, rows_per_call):
    """(B, count) scores of every row's input under each of its ``count`` keep masks;
    ``keeps_for(rows)`` gives the masks of a slice of rows, (n, count, *grid), a few rows at a
    time (all of them at once could fill the memory)."""
    rows = len(inputs)
    scores = np.zeros((rows, count), np.float32)
    for start in range(0, rows, rows_per_call):
        part = slice(start, min(rows, start + rows_per_call))
        n = part.stop - part.start
        keeps = keeps_for(part)
        repeated = np.repeat(inputs[part], count, axis=0)
        perturbed = perturbation(repeated, keeps.reshape((n * count,) + keeps.shape[2:]))
        values = scorer(perturbed, np.repeat(targets[part], count))
        scores[part] = values.reshape(n, count)
    return scores


def _rows_per_call(count, batch_size):
    return max(1, batch_size // count)


# ----------------------------------------------------------------------------- the metrics


def _causal(model, x, maps, targets, steps, perturbation, batch_size, score, insert):
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if score not in SCORES:
        raise ValueError(f"unknown score '{score}'; choose one of: {', '.join(SCORES)}")
    maps = _check(x, maps)
    inputs, scored = _view(model, x, maps, perturbation)
    grid = maps.shape[1:]
    cells = int(np.prod(grid))
    order = np.argsort(-maps.reshape(len(maps), -1), axis=1, kind="stable")
    counts = np.linspace(0, cells, steps + 1).astype(np.int64)
    # rank of every cell in its row: a cell is among the top k when its rank is below k
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(cells)[None], axis=1)

    def keeps_for(part):
        top = ranks[part, None, :] < counts[None, :, None]  # (n, steps + 1, cells)
        keep = top if insert else ~top
        return keep.astype(np.float32).reshape((len(top), steps + 1) + grid)

    targets = _targets(model, np.asarray(x, np.float32), targets)
    values = _score_all(
        _scorer(scored, score),
        perturbation,
        inputs,
        keeps_for,
        steps + 1,
        targets,
        _rows_per_call(steps + 1, batch_size),
    )
    auc = np.mean((values[:, :-1] + values[:, 1:]) / 2.0, axis=1)
    return Curve(counts / cells, values, auc, perturbation.name)


def deletion(
    model,
    x,
    maps,
    targets=None,
    steps=28,
    perturbation=None,
    batch_size=256,
    score="probability",
):
    """The target's score as the cells the maps rank first are removed, ``steps`` at a time, to
    none left: a faithful map makes it fall at once (a small area). ``targets`` default to the
    predicted classes; ``perturbation`` to ``baseline(0)``. Returns a :class:`Curve`."""
    return _causal(
        model, x, maps, targets, steps, perturbation or baseline(), batch_size, score, False
    )


def insertion(
    model,
    x,
    maps,
    targets=None,
    steps=28,
    perturbation=None,
    batch_size=256,
    score="probability",
):
    """The target's score as the cells the maps rank first are put back into the removed input:
    a faithful map makes it rise at once (a large area). Returns a :class:`Curve`."""
    return _causal(
        model, x, maps, targets, steps, perturbation or baseline(), batch_size, score, True
    )


def _cell_masks(count, grid, size, removed, rng):
    """(count, *size) keep masks: a ``grid`` of cells, each removed with probability ``removed``,
    stretched to ``size`` (nearest)."""
    keep = (rng.uniform(size=(count,) + tuple(grid)) >= removed).astype(np.float32)
    for axis, (g, n) in enumerate(zip(grid, size), start=1):
        keep = np.take(keep, (np.arange(n) * g) // n, axis=axis)
    return keep


def mu_fidelity(
    model,
    x,
    maps,
    targets=None,
    grid=9,
    removed=0.2,
    samples=200,
    perturbation=None,
    batch_size=256,
    score="probability",
    seed=0,
):
    """(B,) MuFidelity: per row, the Spearman correlation between the drop of the target's score
    when a random subset of ``grid`` cells (each removed with probability ``removed``) is removed
    and the sum of the map over that subset, over ``samples`` subsets."""
    if samples < 2:
        raise ValueError(f"samples must be at least 2, got {samples}")
    maps = _check(x, maps)
    perturbation = perturbation or baseline()
    inputs, scored = _view(model, x, maps, perturbation)
    size = maps.shape[1:]
    grid = tuple(min(int(g), n) for g, n in zip(at._per_axis(grid, size, (), "grid"), size))
    # each row's subsets (drawn from the row's own seed) and the map summed over them, made a
    # few rows at a time: all of them at once could fill the memory
    attributed = np.zeros((len(maps), samples), np.float32)

    def keeps_for(part):
        keeps = []
        for i in range(part.start, part.stop):
            subsets = _cell_masks(samples, grid, size, removed, np.random.default_rng([seed, i]))
            attributed[i] = np.sum((maps[i] * (1.0 - subsets)).reshape(samples, -1), axis=1)
            keeps.append(np.concatenate([np.ones((1,) + size, np.float32), subsets]))
        return np.stack(keeps)

    targets = _targets(model, np.asarray(x, np.float32), targets)
    values = _score_all(
        _scorer(scored, score),
        perturbation,
        inputs,
        keeps_for,
        samples + 1,
        targets,
        _rows_per_call(samples + 1, batch_size),
    )
    drops = values[:, :1] - values[:, 1:]
    correlations = []
    for drop, attr in zip(drops, attributed):
        rho = scipy.stats.spearmanr(drop, attr)[0]
        correlations.append(0.0 if np.isnan(rho) else rho)  # a flat score says nothing
    return np.asarray(correlations, np.float32)


@dataclasses.dataclass
class Randomization:
    """Maps of a model and of a copy with random weights."""

    spearman: np.ndarray  # (B,) rank correlation of each row's two maps
    maps: np.ndarray
    randomized_maps: np.ndarray


def randomized_copy(model, seed=0):
    """A copy of the Keras ``model`` whose trainable weights are drawn anew: Gaussian with the
    original array's standard deviation (0.05 where it is constant, as a bias of zeros), mean
    zero. Statistics (batch norm's moving variance) and front ends stay as they are."""
    if getattr(model, "graph_backed", None) is not None:
        raise ValueError("a SavedModel or frozen graph cannot be copied with new weights")
    copy = clone_model(model)
    copy.set_weights(model.get_weights())
    rng = np.random.default_rng(seed)
    for layer in copy.layers:
        if getattr(layer, "is_frontend", False):
            continue
        for variable in layer.trainable_weights:
            w = np.asarray(variable.numpy())
            std = float(np.std(w)) or 0.05
            variable.assign(rng.normal(0.0, std, w.shape).astype(w.dtype))
    return copy


def model_randomization(model, explain, seed=0):
    """The sanity check by model randomization: ``explain(m) -> (B, *grid) maps`` is called with
    the model and with a copy whose weights are random; returns their rank correlation per row
    (near 1: the maps do not depend on what the model learned)."""
    maps = np.asarray(explain(model), np.float32)
    randomized = np.asarray(explain(randomized_copy(model, seed)), np.float32)
    if maps.shape != randomized.shape:
        raise ValueError(f"maps of shapes {maps.shape} and {randomized.shape}")
    flat, other = maps.reshape(len(maps), -1), randomized.reshape(len(maps), -1)
    rho = []
    for a, b in zip(flat, other):
        value = scipy.stats.spearmanr(a, b)[0]
        rho.append(1.0 if np.isnan(value) and np.allclose(a, b) else np.nan_to_num(value))
    return Randomization(np.asarray(rho, np.float32), maps, randomized)


__all__ = [
    "Perturbation",
    "baseline",
    "blurred",
    "Curve",
    "deletion",
    "insertion",
    "mu_fidelity",
    "Randomization",
    "randomized_copy",
    "model_randomization",
    "SCORES",
]
