"""The slow/fast audio CNN (seed 003): stream shapes, what each stream sees, the lateral connections,
the waveform front end, saving, and the seed's ResNet-50-sized configuration."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfam.models.slowfast_audio import seed_log_mel, slowfast_audio, stream_features

MELS, FRAMES = 32, 40


@pytest.fixture(scope="module")
def tiny():
    keras.utils.set_random_seed(0)
    # beta 1/4: two fast channels; dropout 0 so inference and these checks are deterministic
    return slowfast_audio(
        5, input_shape=(MELS, FRAMES, 1), alpha=4, beta=1 / 4, width=8, stages=(1, 1), dropout=0.0
    )


def _randomize_norms(model, seed=0):
    """Non-trivial batch-norm scales (the last norm of each residual branch starts at 0) so every
    path of the network carries signal in inference."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights(
                [rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape), mean, var]
            )


def _time(model, name):
    return model.get_layer(name).output.shape[2]


def test_stream_shapes_and_names(tiny):
    assert tiny.output_shape == (None, 5)
    assert _time(tiny, "slow_frames") == FRAMES // 4  # every 4th frame
    assert _time(tiny, "fast_stem_conv") == FRAMES // 2  # all frames, stem stride 2
    assert _time(tiny, "slow_stem_conv") == FRAMES // 8
    assert _time(tiny, "lateral1") == FRAMES // 8  # stride alpha over the fast frames
    slow_c = tiny.get_layer("slow_stem_conv").output.shape[-1]
    fast_c = tiny.get_layer("fast_stem_conv").output.shape[-1]
    assert (slow_c, fast_c) == (8, 2)  # beta of the channels
    assert tiny.get_layer("lateral1").output.shape[-1] == 2 * fast_c
    assert tiny.get_layer("slow_fuse1").output.shape[-1] == slow_c + 2 * fast_c  # concatenated
    assert [
        n
        for n in ("lateral1", "lateral2", "lateral3")
        if n in {layer.name for layer in tiny.layers}
    ] == ["lateral1", "lateral2"]  # after the stem and after each stage but the last
    features = stream_features(tiny)
    assert features == {"slow": "slow_res3_block1_out", "fast": "fast_res3_block1_out"}
    slow, fast = (tiny.get_layer(features[s]).output.shape for s in ("slow", "fast"))
    assert slow[1] == fast[1] == MELS // 4  # stem and res3 halve frequency
    assert fast[2] == 4 * slow[2]


def _activation(model, name, x):
    return keras.Model(model.input, model.get_layer(name).output)(x, training=False).numpy()


def test_slow_stream_sees_only_every_alpha_th_frame(tiny):
    _randomize_norms(tiny)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, MELS, FRAMES, 1)).astype(np.float32)
    skipped = x.copy()
    skipped[:, :, 5] += 3.0  # frame 5: not a multiple of 4
    seen = x.copy()
    seen[:, :, 8] += 3.0  # frame 8: the slow stream's third frame

    def slow_only(model, v):
        return _activation(model, "slow_stem_conv_relu", v)

    assert np.array_equal(_activation(tiny, "slow_frames", x)[:, :, :, 0], x[:, :, ::4, 0])
    assert np.allclose(slow_only(tiny, skipped), slow_only(tiny, x))  # the slow path never sees it
    assert not np.allclose(slow_only(tiny, seen), slow_only(tiny, x))
    # the skipped frame still changes the fast stream, and through it the output
    assert not np.allclose(
        _activation(tiny, "fast_stem_conv_relu", skipped),
        _activation(tiny, "fast_stem_conv_relu", x),
    )
    assert not np.allclose(tiny(skipped, training=False), tiny(x, training=False), atol=1e-6)


def test_skipped_frame_reaches_the_output_only_through_the_fast_stream(tiny):
    """With the fast stream's stem silenced, a frame the slow stream skips no longer matters."""
    _randomize_norms(tiny)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, MELS, FRAMES, 1)).astype(np.float32)
    skipped = x.copy()
    skipped[:, :, 6] += 3.0
    stem = tiny.get_layer("fast_stem_conv")
    saved = stem.get_weights()
    try:
        stem.set_weights([np.zeros_like(w) for w in saved])
        assert np.allclose(tiny(skipped, training=False), tiny(x, training=False), atol=1e-6)
    finally:
        stem.set_weights(saved)


def test_laterals_carry_the_fast_stream_into_the_slow_one(tiny):
    """The slow stream's last features depend on the fast stream's weights only through the
    laterals: change a fast weight and they change; cut the laterals and they do not."""
    _randomize_norms(tiny)
    x = np.random.default_rng(2).normal(size=(2, MELS, FRAMES, 1)).astype(np.float32)
    slow_out = stream_features(tiny)["slow"]
    fast_conv = tiny.get_layer("fast_stem_conv")
    laterals = [tiny.get_layer(n) for n in ("lateral1", "lateral2")]
    saved_fast = fast_conv.get_weights()
    saved_laterals = [layer.get_weights() for layer in laterals]
    try:
        before = _activation(tiny, slow_out, x)
        fast_conv.set_weights([w * 1.7 + 0.05 for w in saved_fast])
        assert not np.allclose(_activation(tiny, slow_out, x), before, atol=1e-6)
        for layer in laterals:
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
        cut = _activation(tiny, slow_out, x)
        fast_conv.set_weights(saved_fast)
        assert np.allclose(_activation(tiny, slow_out, x), cut, atol=1e-6)
    finally:
        fast_conv.set_weights(saved_fast)
        for layer, w in zip(laterals, saved_laterals):
            layer.set_weights(w)

    # and by gradient: the slow features have a non-zero gradient with respect to a fast weight
    sub = keras.Model(tiny.input, tiny.get_layer(slow_out).output)
    with tf.GradientTape() as tape:
        y = tf.reduce_sum(sub(x, training=False))
    gradient = tape.gradient(y, fast_conv.kernel)
    assert float(tf.reduce_max(tf.abs(gradient))) > 0


def test_waveform_front_end_is_the_seed_log_mel_at_the_data_rate(tmp_path):
    from tfam.models.loading import load_model

    layer = seed_log_mel(8000)
    assert layer.settings["win"] == 160 and layer.settings["hop"] == 80  # 20 ms, 10 ms at 8 kHz
    assert layer.settings["n_mels"] == 128 and layer.settings["fmax"] == 4000
    assert seed_log_mel(22050).settings["win"] == 441
    model = slowfast_audio(9, width=8, stages=(1, 1), sample_rate=8000, samples=32000)
    assert model.input_shape == (None, 32000)
    assert model.get_layer("log_mel").output.shape == (None, 128, 401, 1)  # 10 ms frames of 4 s
    assert model.get_layer("slow_frames").output.shape[2] == 101
    emotion = slowfast_audio(4, width=8, stages=(1,), sample_rate=22050, samples=66150)
    assert emotion.get_layer("log_mel").output.shape[2] == 301

    x = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 32000)).astype(np.float32)
    path = str(tmp_path / "slowfast.keras")
    model.save(path)
    loaded = load_model(path)  # safe mode: only registered layers
    assert np.allclose(loaded(x, training=False), model(x, training=False), atol=1e-5)
    # a fresh process that imported nothing else loads it too (freeze_graph.py, tfam dream do that)
    import subprocess
    import sys

    code = f"from tfam.models.loading import load_model; print(load_model({path!r}).name)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0 and model.name in done.stdout, done.stderr[-500:]
    with tf.GradientTape() as tape:  # gradients reach the waveform (dreamable, explainable)
        w = tf.constant(x)
        tape.watch(w)
        y = tf.reduce_sum(model(w, training=False)[:, 0])
    assert float(tf.reduce_max(tf.abs(tape.gradient(y, w)))) > 0


def test_the_seed_resnet50_configuration_builds():
    model = slowfast_audio(309, input_shape=(128, 400, 1))  # VGG-Sound's 309 classes
    names = {layer.name for layer in model.layers}
    # 3, 4, 6, 3 bottleneck blocks per stream; laterals after the stem, res2, res3, res4
    for stream in ("slow", "fast"):
        for stage, blocks in zip(range(2, 6), (3, 4, 6, 3)):
            assert f"{stream}_res{stage}_block{blocks}_c" in names
            assert f"{stream}_res{stage}_block{blocks + 1}_c" not in names
    assert {"lateral1", "lateral2", "lateral3", "lateral4"} <= names and "lateral5" not in names
    assert model.get_layer("slow_res5_block3_out").output.shape == (None, 8, 50, 2048)
    assert model.get_layer("fast_res5_block3_out").output.shape == (None, 8, 200, 256)
    assert model.get_layer("slow_res4_block1_a").kernel.shape[:2] == (1, 3)  # temporal kernel 3
    assert model.get_layer("slow_res2_block1_a").kernel.shape[:2] == (1, 1)  # frequency only
    assert 25e6 < model.count_params() < 28e6, model.count_params()


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="alpha"):
        slowfast_audio(3, alpha=0)
    with pytest.raises(ValueError, match="sample_rate and samples"):
        slowfast_audio(3, sample_rate=8000)
