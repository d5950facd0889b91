"""Seed 000's emotion classifiers at their full size: inputs, outputs and the layers the seed names."""

import numpy as np
import pytest

from tfam.models.emotion import MEL_SHAPE, RAW_SAMPLES, emotion_mel_cnn, emotion_raw_cnn


def test_mel_cnn_is_the_seeds_best_model():
    model = emotion_mel_cnn()
    assert model.input_shape == (None,) + MEL_SHAPE == (None, 80, 160, 1)
    assert model.output_shape == (None, 4) and model.layers[-1].name == "logits"
    assert model.get_layer("logits").activation.__name__ == "linear"  # logits, for AM
    assert (
        model.get_layer("conv1").kernel_size == (11, 11) and model.get_layer("conv1").filters == 64
    )
    assert [model.get_layer(f"conv{i}").filters for i in (2, 3, 4)] == [128, 256, 512]
    assert model.get_layer("gap").output.shape == (None, 512)
    x = np.random.default_rng(0).uniform(0, 1, (2,) + MEL_SHAPE).astype(np.float32)
    assert model(x, training=False).shape == (2, 4)


def test_raw_cnn_has_two_stacks_of_dilations_1_to_512():
    model = emotion_raw_cnn()
    assert model.input_shape == (None, RAW_SAMPLES) == (None, 32768)
    rates = [model.get_layer(f"dilated{i}_filter").dilation_rate[0] for i in range(20)]
    assert rates == [2**i for i in range(10)] * 2
    assert [model.get_layer(f"conv{i}").filters for i in (1, 2, 3)] == [16, 32, 64]
    # three max pools of 8 leave 32768 / 512 = 64 steps of 64 channels before the linear layer
    assert model.get_layer("flatten").output.shape == (None, 64 * 64)
    assert model.output_shape == (None, 4)
    small = emotion_raw_cnn(samples=4096, width=0.25, dilations=(1, 2))
    x = np.random.default_rng(0).uniform(-1, 1, (2, 4096)).astype(np.float32)
    assert small(x, training=False).shape == (2, 4)


def test_raw_cnn_stacks_of_dilations_are_a_training_setting():
    from tfam.train.classifier import TrainConfig, build_model

    def rates(model):
        return [layer.dilation_rate[0] for layer in model.layers if layer.name.endswith("_filter")]

    assert rates(emotion_raw_cnn(samples=4096, width=0.125, stacks=1)) == [2**i for i in range(10)]
    settings = dict(architecture="emotion_raw", crop=4096, width=0.125, n_classes=4)
    assert rates(build_model(TrainConfig(blocks=(1,), **settings))) == [2**i for i in range(10)]
    assert len(rates(build_model(TrainConfig(**settings)))) == 20  # the seed's two stacks
    with pytest.raises(ValueError, match="one number of blocks"):
        build_model(TrainConfig(blocks=(1, 2), **settings))
