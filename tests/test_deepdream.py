import keras
import numpy as np
import pytest
import tensorflow as tf

from tfam import objectives
from tfam.deep_dream import DeepDream, deepdream, merge_tiles, resize, split_tiles
from tfam.layout import layout_of


def mean_square(model, name, x):
    """The layer objective of one input, evaluated with NumPy in and out."""
    features = keras.Model(model.inputs[0], model.get_layer(name).output)
    return float(np.mean(np.square(features(x[None]).numpy())))


def image_model(shape=(None, None, 3)):
    inp = keras.Input(shape)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inp)
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="c2")(h)
    return keras.Model(inp, h)


class BatchSpy(keras.layers.Layer):
    """Identity that records the largest batch it was called with and how many rows it saw."""

    def build(self, shape):
        self.largest = self.add_weight(
            shape=(), dtype="int32", initializer="zeros", trainable=False
        )
        self.rows = self.add_weight(shape=(), dtype="int32", initializer="zeros", trainable=False)

    def call(self, x):
        n = tf.shape(x)[0]
        self.largest.assign(tf.maximum(self.largest, n))
        self.rows.assign_add(n)
        return x


def wave_model(length=4000):
    inp = keras.Input((length, 1))
    spy = BatchSpy(name="spy")
    h = spy(inp)
    h = keras.layers.Conv1D(8, 9, strides=4, activation="relu", name="c1")(h)
    h = keras.layers.Conv1D(8, 9, strides=4, activation="relu", name="c2")(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    return keras.Model(inp, keras.layers.Dense(3, name="logits")(h)), spy


def test_layer_objective_rises():
    keras.utils.set_random_seed(0)
    model = image_model()
    start = np.random.default_rng(0).uniform(0, 1, (24, 24, 3)).astype(np.float32)
    out = deepdream(model, "c2", start, steps=20, step_size=0.02)
    assert out.shape == start.shape and out.dtype == np.float32
    assert mean_square(model, "c2", out) > 2 * mean_square(model, "c2", start)


def test_long_waveform_in_tiles():
    keras.utils.set_random_seed(1)
    model, spy = wave_model(4000)
    start = np.random.default_rng(1).normal(0, 0.1, 40_000).astype(np.float32)
    steps, tile_batch = 3, 4
    out = deepdream(
        model, ["c2"], start, steps=steps, step_size=0.05, tile_size=4000, tile_batch=tile_batch
    )
    assert out.shape == start.shape and out.dtype == np.float32
    assert not np.allclose(out, start)
    # The model never sees more than tile_batch tiles in one call, and sees 10 tiles per step.
    assert int(spy.largest.numpy()) == tile_batch
    assert int(spy.rows.numpy()) == 10 * steps

    def tiled_objective(x):
        tiles = split_tiles(x[:, None], [4000]).numpy()
        return sum(mean_square(model, "c2", t) for t in tiles)

    assert tiled_objective(out) > 2 * tiled_objective(start)


@pytest.mark.parametrize(
    "shape,tile", [((10, 7, 3), (4, 3)), ((9, 2), (4,)), ((5, 6, 1), (12, 4)), ((8, 8, 2), (4, 4))]
)
def test_tiles_round_trip(shape, tile):
    x = np.random.default_rng(2).normal(size=shape).astype(np.float32)
    tiles = split_tiles(x, tile).numpy()
    # Against NumPy: symmetric padding to a multiple of the tile, then row-major tiles.
    grid = [-(-s // t) for s, t in zip(shape[:-1], tile)]
    pad = [(0, n * t - s) for n, t, s in zip(grid, tile, shape)] + [(0, 0)]
    padded = x
    for axis, (_, p) in enumerate(pad[:-1]):  # np.pad symmetric handles pads beyond the axis length
        padded = np.pad(
            padded, [(0, p) if a == axis else (0, 0) for a in range(x.ndim)], "symmetric"
        )
    expected = [
        padded[tuple(slice(i * t, (i + 1) * t) for i, t in zip(idx, tile))]
        for idx in np.ndindex(*grid)
    ]
    np.testing.assert_array_equal(tiles, np.stack(expected))
    np.testing.assert_array_equal(merge_tiles(tiles, shape[:-1], tile).numpy(), x)


def test_deterministic_under_seed():
    keras.utils.set_random_seed(3)
    model = image_model()
    start = np.random.default_rng(3).uniform(0, 1, (20, 20, 3)).astype(np.float32)
    kw = dict(steps=4, tile_size=8, value_range=(0.0, 1.0))
    a = deepdream(model, "c1", start, seed=5, **kw)
    b = deepdream(model, "c1", start, seed=5, **kw)
    c = deepdream(model, "c1", start, seed=6, **kw)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0.0 and a.max() <= 1.0


def test_octaves_on_variable_size_model(capsys):
    keras.utils.set_random_seed(4)
    model = image_model((None, None, 3))
    start = np.random.default_rng(4).uniform(0, 1, (20, 26, 3)).astype(np.float32)
    out = deepdream(
        model,
        objectives.layer("c1") + objectives.layer("c2"),
        start,
        steps=5,
        octaves=(-1, 0, 1),
        verbose=True,
    )
    assert out.shape == start.shape and np.all(np.isfinite(out))
    assert not np.allclose(out, start)
    assert len(capsys.readouterr().out.strip().splitlines()) == 3


def test_no_retrace_for_new_sizes_and_steps():
    model = image_model()
    dreamer = DeepDream(
        model, objectives.layer("c1"), layout_of((None, None, None, 3)), 3, tile_size=(8, 8)
    )
    for size, steps in [((16, 16), 1), ((23, 11), 2), ((9, 30), 3)]:
        x, value = dreamer(tf.zeros(size + (3,)) + 0.5, steps, 0.01)
        assert tuple(x.shape) == size + (3,)
    assert dreamer._run.experimental_get_tracing_count() == 1


def test_repeated_calls_reuse_the_compiled_dreamer():
    from tfam import deep_dream as dd

    model = image_model()
    for size, seed in [((10, 12), 0), ((14, 9), 1)]:
        deepdream(
            model,
            "c1",
            np.full(size + (3,), 0.5, np.float32),
            steps=2,
            octaves=(-1, 0),
            tile_size=8,
            seed=seed,
        )
    (dreamer,) = dd._dreamers[model].values()
    assert dreamer._run.experimental_get_tracing_count() == 1


def test_spectrogram_without_channel_and_1d_resize():
    model = image_model((None, None, 1))
    start = np.random.default_rng(5).uniform(0, 1, (12, 16)).astype(np.float32)
    out = deepdream(model, "c1", start, steps=2, octaves=(-1, 0))
    assert out.shape == (12, 16)
    np.testing.assert_allclose(
        resize(np.arange(4.0)[:, None], [7]).numpy()[:, 0],
        np.interp((np.arange(7) + 0.5) * 4 / 7 - 0.5, np.arange(4), np.arange(4.0)),
        atol=1e-6,
    )


def test_errors():
    model = image_model((None, None, 3))
    good = np.zeros((8, 8, 3), np.float32)
    with pytest.raises(ValueError, match="no_such_layer"):
        deepdream(model, "no_such_layer", good, steps=1)
    bad = good.copy()
    bad[1, 2, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        deepdream(model, "c1", bad, steps=1)
    with pytest.raises(ValueError, match="shape"):
        deepdream(model, "c1", np.zeros(8, np.float32), steps=1)
    with pytest.raises(ValueError, match="channels"):
        deepdream(model, "c1", np.zeros((8, 8, 2), np.float32), steps=1)
    fixed = image_model((28, 28, 1))
    with pytest.raises(ValueError, match="tile_size"):
        deepdream(fixed, "c1", np.zeros((40, 40), np.float32), steps=1)


def test_class_objectives_in_deep_dream_read_logits_not_probabilities():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    start = np.random.default_rng(0).uniform(size=(8, 8, 1)).astype(np.float32)
    dreamer = DeepDream(model, objectives.class_logit(1), layout_of((None, 8, 8, 1)), 1)
    _, value = dreamer(start, 0, 0.0)  # no steps: just the start's score (of the last step: none)
    logits = model.layers[-1].kernel.numpy().T @ start.reshape(-1) + model.layers[-1].bias.numpy()
    grads, total = dreamer.gradients(tf.constant(start))
    np.testing.assert_allclose(float(total), logits[1], rtol=1e-5, atol=1e-5)
