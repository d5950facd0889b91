"""The Keras internals tfam relies on (tfam/keras_internals.py) still exist and mean what they did:
this test fails loudly when a Keras release moves one."""

import keras
import pytest

from tfam.keras_internals import all_layers, producer, producer_inputs, safe_mode_scope


def test_the_graph_walk_reads_a_functional_model():
    a, b = keras.Input((8, 1), name="a"), keras.Input((8, 1), name="b")
    conv = keras.layers.Conv1D(2, 3, padding="same", name="conv")
    joined = keras.layers.Concatenate(name="join")([conv(a), b])
    model = keras.Model([a, b], keras.layers.Flatten(name="flat")(joined))
    assert producer(model.outputs[0]).name == "flat"
    (into_flat,) = producer_inputs(model.outputs[0])
    assert producer(into_flat).name == "join"
    assert [producer(t).name for t in producer_inputs(into_flat)] == ["conv", "b"]
    assert producer_inputs(a) == [] or producer(a).name == "a"


def test_all_layers_reaches_into_nested_models():
    inner = keras.Sequential(
        [keras.Input((4,)), keras.layers.BatchNormalization(name="bn")], name="inner"
    )
    x = keras.Input((4,))
    model = keras.Model(x, keras.layers.Dense(2, name="d")(inner(x)))
    names = [layer.name for layer in all_layers(model)]
    assert "bn" in names and "d" in names and "inner" in names


def test_safe_mode_scope_lets_clone_model_rebuild_a_lambda():
    x = keras.Input((3,))
    model = keras.Model(x, keras.layers.Lambda(lambda t: t * 2.0)(x))
    with safe_mode_scope(True):
        with pytest.raises(ValueError, match="safe_mode"):
            keras.models.clone_model(model)
    with safe_mode_scope(False):
        keras.models.clone_model(model)
