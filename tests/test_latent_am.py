"""Seed 000's AM in a generator's latent space: the class-margin objective, the L2 prior on z,
conditional generators."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfam import objectives, params, regularizers
from tfam.engine import dream


def classifier(n_in=16, n_classes=4):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((n_in,))
    x = keras.layers.Dense(12, activation="tanh")(inputs)
    return keras.Model(inputs, keras.layers.Dense(n_classes, name="logits")(x))


def generator(dim=6, n_out=16, n_classes=None):
    keras.utils.set_random_seed(1)
    z = keras.Input((dim,), name="z")
    inputs, h = [z], z
    if n_classes:
        label = keras.Input((), dtype="int32", name="label")
        inputs.append(label)
        h = keras.layers.Concatenate()([z, keras.layers.Embedding(n_classes, 3)(label)])
    h = keras.layers.Dense(10, activation="tanh")(h)
    return keras.Model(inputs, keras.layers.Dense(n_out, activation="tanh")(h))


def test_class_margin_matches_numpy():
    logits = np.array([[1.0, 2.0, -1.0, 0.5], [0.0, 3.0, 1.0, -2.0]], np.float32)
    obj = objectives.class_margin([0, 1], others_weight=1.0)
    got = obj({objectives.OUTPUT: tf.constant(logits)}).numpy()
    want = [1.0 - np.mean([2.0, -1.0, 0.5]), 3.0 - np.mean([0.0, 1.0, -2.0])]
    np.testing.assert_allclose(got, want, rtol=1e-6)
    summed = objectives.class_margin([[0, 1]])({objectives.OUTPUT: tf.constant(logits)}).numpy()
    np.testing.assert_allclose(
        summed, [3.0 - np.mean([-1.0, 0.5]), 3.0 - np.mean([1.0, -2.0])], rtol=1e-6
    )


def test_latent_l2_is_the_seeds_prior():
    z = np.array([[1.0, 2.0, 2.0], [0.0, 0.0, 3.0]], np.float32)
    np.testing.assert_allclose(
        regularizers.latent_l2(100.0)(tf.constant(z), None).numpy(),
        100.0 * (z**2).sum(1) / 3,
        rtol=1e-6,
    )


def test_latent_am_raises_the_margin_and_the_prior_keeps_z_small():
    model, gen = classifier(), generator()
    objective = objectives.class_margin([0, 1, 2, 3])
    free = dream(
        model, objective, param=params.latent(gen), steps=150, learning_rate=0.05, verbose=0
    )
    prior = dream(
        model,
        objective,
        param=params.latent(gen),
        steps=150,
        learning_rate=0.05,
        verbose=0,
        regularizers=[regularizers.latent_l2(1.0)],
    )
    for result in (free, prior):
        assert np.all(result.history[-1] > result.history[0])
    assert np.mean(prior.params**2) < np.mean(free.params**2)
    with pytest.raises(ValueError, match="needs params.latent"):
        dream(model, objective, regularizers=[regularizers.latent_l2()], steps=2, verbose=0)


def test_conditional_generator_is_steered_by_its_class_and_by_am():
    model, gen = classifier(), generator(n_classes=4)
    for condition in (2, [0, 1, 2, 3]):
        result = dream(
            model,
            objectives.class_margin([0, 1, 2, 3]),
            param=params.latent(gen, condition=condition),
            steps=100,
            learning_rate=0.05,
            verbose=0,
        )
        assert np.all(result.history[-1] > result.history[0])
    z = np.zeros((2, 6), np.float32)
    a = params.latent(gen, condition=[0, 3]).to_input(tf.constant(z), (16,), None).numpy()
    assert not np.allclose(a[0], a[1])  # the class input changes what comes out
    with pytest.raises(ValueError, match="needs condition"):
        params.latent(gen)
    with pytest.raises(ValueError, match="condition= is for generators"):
        params.latent(generator(), condition=1)


def test_generator_that_does_not_fit_the_classifier_is_a_clear_error():
    with pytest.raises(ValueError, match="generator makes inputs of shape"):
        dream(
            classifier(n_in=20),
            objectives.class_margin(0),
            param=params.latent(generator()),
            steps=2,
            verbose=0,
        )
