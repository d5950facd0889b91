import keras
import numpy as np
import pytest
import tensorflow as tf

import tfam
from tfam import objectives as obj
from tfam import params
from tfam import regularizers as reg
from tfam import transforms as tr
from tfam.audio.sound_params import stft
from tfam.surgery import ends_in_softmax, with_linear_logits


def rises(result):
    """The objective went up from the first step to the best step, for every row."""
    return np.all(result.best_value > result.history[0] + 1e-6)


@pytest.mark.parametrize(
    "objective",
    [
        obj.class_logit(1),
        obj.class_logit([[0, 2]]),
        obj.neuron("conv", 3),
        obj.neuron("conv", 1, position=(2, 5)),
        obj.channel("conv", 2),
        obj.channel("dense", 4),
        obj.layer("conv"),
        obj.layer("dense") + 0.5 * obj.channel("conv", 1) - 0.1 * obj.class_logit(0),
    ],
    ids=lambda o: o.name,
)
def test_each_objective_rises_under_ascent(tiny_image_model, objective):
    result = tfam.dream(tiny_image_model, objective, steps=15, batch_size=2, verbose=0)
    assert result.history.shape == (15, 2)
    assert rises(result)


def test_diversity_pushes_rows_apart(tiny_image_model):
    objective = obj.diversity("conv")
    result = tfam.dream(
        tiny_image_model,
        objective,
        steps=20,
        batch_size=4,
        verbose=0,
        param=params.direct(noise=0.2),
    )
    assert rises(result)


@pytest.mark.trains
def test_one_batched_run_dreams_all_ten_digits(digits_cnn, measured):
    result = tfam.dream(
        digits_cnn,
        obj.class_logit(list(range(10))),
        transforms=[tr.jitter(2)],
        regularizers=[reg.total_variation(0.1), reg.lp_norm(0.1, p=1)],
        steps=300,
        verbose=0,
    )
    assert result.x.shape == (10, 28, 28, 1)
    assert result.x.min() >= 0.0 and result.x.max() <= 1.0
    measured("p(target)", result.target_probability)
    assert np.all(result.target_probability >= 0.9), result.target_probability
    # the reported probabilities are the user's softmax model's own
    np.testing.assert_allclose(
        result.probabilities, digits_cnn.predict(result.x, verbose=0), atol=1e-5
    )


def test_softmax_swap_works_on_a_copy_and_leaves_the_model_untouched(tiny_image_model):
    x = np.random.default_rng(0).uniform(size=(3, 12, 12, 2)).astype(np.float32)
    before = tiny_image_model.predict(x, verbose=0)
    weights = [w.copy() for w in tiny_image_model.get_weights()]
    tfam.dream(tiny_image_model, obj.class_logit(2), steps=5, verbose=0)
    assert ends_in_softmax(tiny_image_model)
    assert tiny_image_model.get_layer("out").activation is keras.activations.softmax
    np.testing.assert_allclose(tiny_image_model.predict(x, verbose=0), before, atol=1e-6)
    for w, w0 in zip(tiny_image_model.get_weights(), weights):
        np.testing.assert_array_equal(w, w0)
    logits = with_linear_logits(tiny_image_model).predict(x, verbose=0)
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), before, atol=1e-5)


def test_a_separate_softmax_layer_is_removed_on_the_copy():
    inputs = keras.Input((5,))
    logits = keras.layers.Dense(3, name="dense")(inputs)
    model = keras.Model(inputs, keras.layers.Softmax(name="softmax")(logits))
    assert ends_in_softmax(model)
    copy = with_linear_logits(model)
    x = np.ones((2, 5), np.float32)
    np.testing.assert_allclose(
        copy.predict(x, verbose=0), model.get_layer("dense")(x).numpy(), atol=1e-6
    )
    assert ends_in_softmax(model)


def test_new_step_counts_and_batch_sizes_do_not_retrace(tiny_image_model):
    dreamer = tfam.Dreamer(
        tiny_image_model,
        obj.class_logit(1),
        transforms=[tr.jitter(1)],
        regularizers=[reg.total_variation(0.1)],
    )
    for steps, batch in [(3, 1), (7, 2), (4, 5)]:
        result = dreamer.run(steps=steps, batch_size=batch, verbose=0, chunk_size=2)
        assert result.history.shape == (steps, batch)
    assert dreamer.trace_count == 1


def test_dream_reuses_the_compiled_loop_for_the_same_components(tiny_image_model):
    objective, jitter = obj.class_logit(0), tr.jitter(1)
    tfam.dream(tiny_image_model, objective, transforms=[jitter], steps=3, verbose=0)
    tfam.dream(tiny_image_model, objective, transforms=[jitter], steps=6, batch_size=3, verbose=0)
    (dreamer,) = tfam.engine._dreamers[tiny_image_model].values()
    assert dreamer.trace_count == 1


def test_a_seed_makes_runs_repeatable(tiny_image_model):
    kwargs = dict(transforms=[tr.jitter(2), tr.random_scale()], steps=10, batch_size=2, verbose=0)
    a = tfam.dream(tiny_image_model, obj.class_logit(1), seed=3, **kwargs)
    b = tfam.dream(tiny_image_model, obj.class_logit(1), seed=3, **kwargs)
    c = tfam.dream(tiny_image_model, obj.class_logit(1), seed=4, **kwargs)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.history, b.history)
    assert not np.array_equal(a.x, c.x)


def test_best_input_is_the_highest_scoring_one(tiny_image_model):
    # without transforms the objective of best_x is exactly the best value seen
    dreamer = tfam.Dreamer(tiny_image_model, obj.class_logit(2), learning_rate=0.5)
    result = dreamer.run(steps=30, batch_size=3, verbose=0)
    np.testing.assert_allclose(result.best_value, result.history.max(axis=0))
    logits = with_linear_logits(tiny_image_model)(result.best_x).numpy()[:, 2]
    np.testing.assert_allclose(logits, result.best_value, rtol=1e-4, atol=1e-4)


def test_callbacks_run_between_chunks(tiny_image_model):
    seen = []
    tfam.dream(
        tiny_image_model,
        obj.class_logit(1),
        steps=10,
        chunk_size=4,
        verbose=0,
        callbacks=[lambda p: seen.append((p.step, p.input().shape))],
    )
    assert seen == [(4, (1, 12, 12, 2)), (8, (1, 12, 12, 2)), (10, (1, 12, 12, 2))]


def test_sgd_with_yosinski_projections_rises(tiny_image_model):
    regs = [
        reg.l2_decay(0.01),
        reg.blur(0.5, every=4),
        reg.norm_crop(10),
        reg.contribution_crop(10),
    ]
    result = tfam.dream(
        tiny_image_model,
        obj.class_logit(1),
        regularizers=regs,
        steps=20,
        optimizer=tfam.optimizers.sgd(5.0, normalize_gradients=True),
        verbose=0,
    )
    assert rises(result)


def test_fourier_parameterization_rises(tiny_image_model):
    result = tfam.dream(
        tiny_image_model,
        obj.class_logit(0),
        param=params.fourier(),
        steps=20,
        batch_size=2,
        verbose=0,
    )
    assert rises(result)
    assert result.x.shape == (2, 12, 12, 2)


def test_latent_parameterization_optimizes_z_through_a_generator(tiny_image_model):
    keras.utils.set_random_seed(5)
    z = keras.Input((6,))
    h = keras.layers.Dense(12 * 12 * 2, activation="sigmoid")(z)
    generator = keras.Model(z, keras.layers.Reshape((12, 12, 2))(h))
    result = tfam.dream(
        tiny_image_model,
        obj.class_logit(1),
        param=params.latent(generator),
        steps=30,
        batch_size=3,
        learning_rate=0.1,
        verbose=0,
    )
    assert rises(result)
    assert result.params.shape == (3, 6)
    np.testing.assert_allclose(generator(result.params).numpy(), result.x, atol=1e-6)


def test_waveform_model_dreams_with_audio_transforms(tiny_audio_model):
    result = tfam.dream(
        tiny_audio_model,
        obj.class_logit([0, 1, 2, 3]),
        param=params.direct((-1.0, 1.0)),
        transforms=[tr.time_shift(8), tr.gain(-3, 3), tr.random_scale(0.95, 1.05)],
        regularizers=[reg.total_variation(0.1), reg.lp_norm(0.1, p=2)],
        steps=40,
        verbose=0,
    )
    assert result.x.shape == (4, 256)
    assert np.abs(result.x).max() <= 1.0
    assert rises(result)
    assert np.all(result.target_probability > 0.25)


def test_unknown_layer_is_a_clear_error(tiny_image_model):
    with pytest.raises(ValueError, match="unknown layer 'nope'.*conv"):
        tfam.dream(tiny_image_model, obj.layer("nope"), steps=2, verbose=0)


def test_unknown_class_is_a_clear_error(tiny_image_model):
    with pytest.raises(ValueError, match="class 7 is out of range"):
        tfam.dream(tiny_image_model, obj.class_logit(7), steps=2, verbose=0)


def test_batch_size_must_fit_per_row_targets(tiny_image_model):
    with pytest.raises(ValueError, match="3 rows but batch_size is 2"):
        tfam.dream(tiny_image_model, obj.class_logit([0, 1, 2]), batch_size=2, steps=2, verbose=0)


def test_wrong_start_shape_is_a_clear_error(tiny_image_model):
    with pytest.raises(ValueError, match="does not fit the model input"):
        tfam.dream(
            tiny_image_model,
            obj.class_logit(0),
            param=params.direct(start=np.zeros((5, 5))),
            steps=2,
            verbose=0,
        )


def test_nan_from_the_model_is_a_clear_error():
    inputs = keras.Input((4,))
    broken = keras.layers.Lambda(lambda t: tf.math.log(t - 2.0))(inputs)  # log of a negative: NaN
    model = keras.Model(inputs, keras.layers.Dense(2)(broken))
    with pytest.raises(FloatingPointError, match="non-finite"):
        tfam.dream(model, obj.class_logit(0), steps=3, verbose=0)


def test_projections_need_the_direct_parameterization(tiny_image_model):
    with pytest.raises(ValueError, match="direct parameterization"):
        tfam.Dreamer(
            tiny_image_model, obj.class_logit(0), param=params.fourier(), regularizers=[reg.blur()]
        )


def test_objective_algebra_is_immutable():
    a = obj.class_logit(1)
    b = a + 2 * obj.layer("conv")
    assert a.layers == {obj.OUTPUT} and b.layers == {obj.OUTPUT, "conv"}
    assert b.class_targets == ((1,),)
    acts = {obj.OUTPUT: tf.constant([[1.0, 2.0, 3.0]]), "conv": tf.constant([[[[2.0]]]])}
    np.testing.assert_allclose((a - 0.5 * b)(acts), [2.0 - 0.5 * (2.0 + 2 * 4.0)])
    np.testing.assert_allclose(a(acts), [2.0])


def test_components_are_immutable():
    penalty, jitter, objective = reg.total_variation(1.0), tr.jitter(2), obj.class_logit(1)
    for thing, name in (
        (penalty, "weight"),
        (jitter, "name"),
        (objective, "layers"),
        (params.direct(), "value_range"),
        (tfam.optimizers.adam(), "learning_rate"),
    ):
        with pytest.raises(AttributeError, match="immutable"):
            setattr(thing, name, 0)


EQUAL_BUT_SEPARATE = [
    # (make, another) : make() twice gives equal things; another() differs from them
    (lambda: obj.class_logit([0, 2]), lambda: obj.class_logit([2, 0])),
    (lambda: obj.class_logit((0, 2)), lambda: obj.class_margin([0, 2])),
    (
        lambda: obj.layer("conv") + 2 * obj.channel("conv", 1),
        lambda: obj.layer("conv") + 3 * obj.channel("conv", 1),
    ),
    (lambda: obj.neuron("conv", 3, position=(1, 2)), lambda: obj.neuron("conv", 3)),
    (lambda: reg.total_variation(0.05), lambda: reg.total_variation(0.05, beta=1)),
    (lambda: reg.silence_outside(10, 90, fade=4), lambda: reg.silence_outside(10, 90)),
    (lambda: reg.low_pass(3500, 8000), lambda: reg.low_pass(3000, 8000)),
    (lambda: tr.jitter(2), lambda: tr.jitter(2, per_row=False)),
    (lambda: tr.time_shift(100, per_row=False), lambda: tr.time_shift(101, per_row=False)),
    (
        lambda: params.direct((0, 1), start=np.zeros((2, 3))),
        lambda: params.direct((0, 1), start=np.ones((2, 3))),
    ),
    (lambda: params.fourier(decay_power=1.0), lambda: params.fourier(decay_power=0.5)),
    (lambda: tfam.optimizers.adam(0.05), lambda: tfam.optimizers.adam(0.01)),
]


@pytest.mark.parametrize("make, another", EQUAL_BUT_SEPARATE)
def test_components_built_alike_compare_and_hash_by_value(make, another):
    first, second, other = make(), make(), another()
    assert first is not second
    assert first == second and hash(first) == hash(second)
    assert first != other
    assert len({first, second, other}) == 2


def test_components_holding_a_function_or_model_compare_by_its_identity():
    fn = lambda acts: acts[obj.OUTPUT][:, 0]  # noqa: E731
    assert obj.Objective(fn, [obj.OUTPUT], "mine") == obj.Objective(fn, [obj.OUTPUT], "mine")
    assert obj.Objective(fn, [obj.OUTPUT], "mine") != obj.Objective(
        lambda acts: acts[obj.OUTPUT][:, 0], [obj.OUTPUT], "mine"
    )
    decay = tfam.optimizers.exponential_decay(0.05, 0.99)
    assert tfam.optimizers.adam(decay) == tfam.optimizers.adam(decay)
    assert tfam.optimizers.adam(decay) != tfam.optimizers.adam(
        tfam.optimizers.exponential_decay(0.05, 0.99)
    )


def test_a_second_dream_with_equal_components_built_anew_does_not_trace_again(tiny_image_model):
    from tfam import engine

    def settings():
        return dict(
            param=params.direct((0.0, 1.0), start=np.full((2, 12, 12, 2), 0.5, np.float32)),
            transforms=[tr.jitter(1)],
            regularizers=[reg.total_variation(0.1), reg.blur(0.5, every=2)],
        )

    before = len(engine._dreamers.get(tiny_image_model, {}))
    first = tfam.dream(tiny_image_model, obj.class_logit([0, 1]), steps=3, verbose=0, **settings())
    second = tfam.dream(tiny_image_model, obj.class_logit([0, 1]), steps=5, verbose=0, **settings())
    dreamers = engine._dreamers[tiny_image_model]
    assert len(dreamers) == before + 1
    assert list(dreamers.values())[-1].trace_count == 1
    assert second.history.shape == (5, 2) and not np.array_equal(
        first.history[-1], second.history[-1]
    )
    # other targets are data for the same loop: no new loop, no new trace
    other = tfam.dream(tiny_image_model, obj.class_logit([1, 0]), steps=3, verbose=0, **settings())
    assert len(dreamers) == before + 1 and list(dreamers.values())[-1].trace_count == 1
    assert other.class_targets == ((1,), (0,))
    tfam.dream(tiny_image_model, obj.class_logit([1, 0]), steps=3, verbose=0, learning_rate=0.1)
    assert len(dreamers) == before + 2  # another setting: another loop


def test_objectives_with_other_targets_share_one_loop_and_score_their_own_targets(
    tiny_image_model,
):
    from tfam import engine

    linear = with_linear_logits(tiny_image_model)
    for targets in ([1, 0], [2, 2], [0, 1]):
        for objective in (obj.class_logit(targets), obj.channel("dense", targets)):
            result = tfam.dream(tiny_image_model, objective, steps=4, verbose=0, learning_rate=0.2)
            scored = (linear if objective.class_targets else engine_features(tiny_image_model))(
                result.best_x
            ).numpy()
            np.testing.assert_allclose(
                result.best_value, scored[[0, 1], targets], rtol=1e-4, atol=1e-5
            )
    loops = [
        d for k, d in engine._dreamers[tiny_image_model].items() if k[5] == 0.2
    ]  # (structure, param, ..., rate, ...)
    assert len(loops) == 2 and all(d.trace_count == 1 for d in loops)


def engine_features(model):
    return keras.Model(model.inputs, model.get_layer("dense").output)


def test_a_sigmoid_classifier_reports_its_own_probabilities_and_is_dreamed_on_logits():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((6,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid", name="out")(inputs))
    result = tfam.dream(
        model,
        obj.class_logit(1),
        param=params.direct((-1.0, 1.0)),
        steps=30,
        batch_size=2,
        learning_rate=0.1,
        verbose=0,
    )
    np.testing.assert_allclose(result.probabilities, model.predict(result.x, verbose=0), atol=1e-6)
    logits = with_linear_logits(model)(result.best_x).numpy()[:, 1]
    np.testing.assert_allclose(result.best_value, logits, rtol=1e-4, atol=1e-4)
    assert model.get_layer("out").activation is keras.activations.sigmoid


def test_softmax_at_the_end_of_a_nested_model_is_swapped_on_a_copy():
    keras.utils.set_random_seed(4)
    head = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="softmax")])
    inputs = keras.Input((5,))
    model = keras.Model(inputs, head(keras.layers.Dense(5)(inputs)))
    x = np.ones((2, 5), np.float32)
    copy = with_linear_logits(model)
    np.testing.assert_allclose(tf.nn.softmax(copy(x)).numpy(), model(x).numpy(), atol=1e-6)
    nested_softmax = keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(3), keras.layers.Softmax()]
    )
    outer = keras.Model(inputs, nested_softmax(inputs))
    with pytest.raises(ValueError, match="Softmax layer inside a nested model"):
        with_linear_logits(outer)


def test_dreaming_does_not_keep_the_model_alive():
    import gc
    import weakref

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    tfam.dream(model, obj.class_logit(0), steps=2, verbose=0)
    ref = weakref.ref(model)
    del model, inputs
    gc.collect()
    assert ref() is None


def test_class_targets_on_a_layer_that_is_not_batch_by_classes_is_a_clear_error():
    inputs = keras.Input((16, 4))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))  # output (B, 16, 3)
    with pytest.raises(
        ValueError, match=r"class targets need a \(batch, classs\) tensor|\(batch, class"
    ):
        tfam.Dreamer(model, obj.class_logit(1), spatial_rank=1)


def test_batch_size_must_be_positive(tiny_image_model):
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        tfam.dream(tiny_image_model, obj.class_logit(0), batch_size=0, steps=2, verbose=0)


def test_the_compiled_parts_give_the_gradients_of_the_plain_graph(tiny_image_model):
    """With jit_compile="parts" the parameterization, the transforms and their backward passes run
    as compiled parts of their own: the steps must be those of the plain graph."""
    runs = [
        tfam.dream(
            tiny_image_model,
            obj.class_logit([0, 2]),
            param=params.fourier(),
            # fixed transforms: XLA draws other (equally random) numbers than TensorFlow's kernels
            transforms=[
                tr.Transform(lambda x, seed, layout: 0.5 * tf.roll(x, 1, axis=1), "roll"),
                tr.Transform(
                    lambda x, seed, layout: tf.pad(x[:, 1:], [[0, 0], [0, 1]] + [[0, 0]] * 2),
                    "shift",
                ),
            ],
            regularizers=[reg.total_variation(0.1)],
            steps=6,
            seed=4,
            verbose=0,
            jit_compile=mode,
        )
        for mode in ("parts", False)
    ]
    assert not np.allclose(runs[0].history[0], runs[0].history[-1])  # the steps moved it
    np.testing.assert_allclose(runs[0].history, runs[1].history, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(runs[0].x, runs[1].x, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "kind, components",
    [
        (
            "sound",
            dict(
                param=stft(8000, frame=32, hop=16, heard=(40, 200), cutoff_hz=3500),
                transforms=[
                    tr.time_shift(16, per_row=False),
                    tr.time_shift(8),
                    tr.gain(),
                    tr.noise(),
                    tr.spectral_tilt(),
                    tr.random_scale(),
                ],
                regularizers=[reg.total_variation(0.05), reg.high_band(1.0, 3000, 8000)],
                spatial_rank=1,
            ),
        ),
        (
            "image",
            dict(
                param=params.direct(),
                transforms=[tr.jitter(2), tr.jitter(1, per_row=False), tr.random_scale()],
                regularizers=[reg.total_variation(0.1), reg.lp_norm(0.1), reg.blur(1.0, every=2)],
            ),
        ),
    ],
)
def test_the_compiled_rest_of_a_step_is_one_program_for_every_step(
    kind, components, tiny_image_model, tiny_audio_model
):
    """XLA takes some op arguments only as constants (a slice's start): fed from the step's random
    seed, they would make it compile the step again for every new step. The program must not depend
    on the step or the seed."""
    model = tiny_audio_model if kind == "sound" else tiny_image_model
    dreamer = tfam.engine.Dreamer(model, obj.class_logit([0, 1]), **components)
    assert dreamer._fused
    params_ = tf.constant(dreamer.initial_params(2))
    state = tuple(dreamer.optimizer.init_state(params_))

    def program(seed, step):
        seed, step = tf.constant(seed), tf.constant(step)
        made = dreamer._begin(params_, seed, step)
        x, seen, _ = dreamer._unpack(made)
        args = (
            params_,
            state,
            made,
            tf.ones_like(seen),
            tf.zeros(2),
            x,
            tf.zeros(2),
            seed,
            step,
        )
        return dreamer._rest_of_step.experimental_get_compiler_ir(*args)(stage="hlo")

    assert program(0, 3) == program(0, 4) == program(5, 3)
