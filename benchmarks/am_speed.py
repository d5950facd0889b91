"""Activation maximization speed: tfam against tf-keras-vis 0.8.7 and against a bare compiled pass.

Run:  .venv/bin/python benchmarks/am_speed.py [--steps 200] [--repeats 7] [--keras-vis-repeats 2]
      [--json PATH]

All contenders optimize the MNIST CNN (untrained, seeded) for a batch of 10, one row per class 0..9,
from the same start image, in one process:

- tf-keras-vis: ActivationMaximization with ReplaceToLinear, Jitter(4), TotalVariation2D, Norm(p=1),
  keras Adam. It runs eagerly, one Python iteration per step.
- tfam: Dreamer with the same settings (jitter of the whole batch, as tf-keras-vis), and a second
  tfam line with per-row jitter for transparency.
- bare: one tf.function of a tf.while_loop of forward + gradient of the summed logits + x update on
  the same linear-logits model: the floor that any compiled AM loop on this model pays.

"Equivalent" settings mean the same loss per row: minus the target logit (softmax replaced by
linear) plus the same two penalties with the same definitions and weights:
  TotalVariation2D(w) = w * (sum |dx| + sum |dy|) / (H*W*C)   == tfam total_variation(w, beta=1)
  Norm(w, p=1)        = w * sum |x| / (H*W*C)                 == tfam lp_norm(w, p=1)
and the same optimizer (Adam, same rate, betas, epsilon 1e-7) summed over rows.
Remaining differences (they change the images, not the work per step):
- tf-keras-vis rolls the stored variable itself every step (the shifts accumulate, a random walk,
  shifts in [-4, 3]); tfam rolls only the input the model sees, shifts in [-4, 4]. tf-keras-vis
  Adam moments are not rolled with the image.
- tf-keras-vis computes the penalties on the rolled image, tfam on the unrolled one (TV differs
  only across the wrap-around edge).
- tf-keras-vis never clips the variable during the run (only the returned image is clipped to the
  input range); tfam's direct parameterization clips into [0, 1] after every step.
- tfam also records every step's objective and keeps each row's best input (tf-keras-vis does not).
"""

import argparse
import os
import statistics
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tf_keras_vis.activation_maximization import ActivationMaximization  # noqa: E402
from tf_keras_vis.activation_maximization.input_modifiers import Jitter  # noqa: E402
from tf_keras_vis.activation_maximization.regularizers import Norm, TotalVariation2D  # noqa: E402
from tf_keras_vis.utils.model_modifiers import ReplaceToLinear  # noqa: E402
from tf_keras_vis.utils.scores import CategoricalScore  # noqa: E402

import tfam  # noqa: E402
from tfam import objectives as obj  # noqa: E402
from tfam import regularizers as reg
from tfam import transforms as tr
from tfam.models import mnist_cnn  # noqa: E402
from tfam.outputs import write_json  # noqa: E402
from tfam.surgery import with_linear_logits  # noqa: E402

# tf-keras-vis calls the model with a list of one input; Keras 3 warns on every such call. Harmless.
warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")

CLASSES = list(range(10))
JITTER = 4
TV_WEIGHT = 1.0  # tf-keras-vis's own default weights (for VGG); the same numbers go to tfam
L1_WEIGHT = 0.3
LEARNING_RATE = 0.05


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--repeats", type=int, default=7, help="timed runs of bare and tfam")
    p.add_argument(
        "--keras-vis-repeats", type=int, default=2, help="timed runs of tf-keras-vis (slow)"
    )
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return p.parse_args()


def make_bare_pass(linear_model):
    """Forward + gradient of the summed logits w.r.t. x + x update, n times in one call."""

    @tf.function(
        input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32), tf.TensorSpec([], tf.int32)]
    )
    def bare(x, n):
        def body(i, x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                total = tf.reduce_sum(linear_model(x, training=False))
            return i + 1, x + LEARNING_RATE * tape.gradient(total, x)

        return tf.while_loop(lambda i, x: i < n, body, (0, x))[1]

    return bare


def make_tfam(model, start, per_row):
    return tfam.Dreamer(
        model,
        obj.class_logit(CLASSES),
        param=tfam.params.direct((0.0, 1.0), start=start),
        transforms=[tr.jitter(JITTER, per_row=per_row)],
        regularizers=[reg.total_variation(TV_WEIGHT, beta=1.0), reg.lp_norm(L1_WEIGHT, p=1)],
        learning_rate=LEARNING_RATE,
    )


def run_keras_vis(visualizer, start, steps):
    # a fresh optimizer per call: a Keras optimizer is built for one set of variables
    optimizer = keras.optimizers.Adam(learning_rate=LEARNING_RATE)
    return visualizer(
        CategoricalScore(CLASSES),
        seed_input=start,
        input_range=(0.0, 1.0),
        input_modifiers=[Jitter(jitter=JITTER)],
        regularizers=[TotalVariation2D(weight=TV_WEIGHT), Norm(weight=L1_WEIGHT, p=1)],
        steps=steps,
        optimizer=optimizer,
        callbacks=None,
    )


def timed(fn):
    started = time.perf_counter()
    out = fn()
    return time.perf_counter() - started, out


def main():
    args = parse_args()
    keras.utils.set_random_seed(0)  # the weights, and np.random for tf-keras-vis's jitter
    model = mnist_cnn()
    linear = with_linear_logits(
        model
    )  # the copy tfam scores; also used by the bare pass and checks
    rng = np.random.default_rng(0)
    # tfam's own default start (mid-range noise), given to every contender
    start = np.clip(0.5 + 0.05 * rng.standard_normal((10, 28, 28, 1)), 0.0, 1.0).astype(np.float32)

    bare = make_bare_pass(linear)
    dreamer = make_tfam(model, start, per_row=False)
    dreamer_rows = make_tfam(model, start, per_row=True)
    visualizer = ActivationMaximization(model, model_modifier=ReplaceToLinear(), clone=True)

    contenders = {
        "bare": lambda: bare(tf.constant(start), tf.constant(args.steps, tf.int32)).numpy(),
        "tfam": lambda: dreamer.run(steps=args.steps, verbose=0, chunk_size=args.steps).x,
        "tfam per-row jitter": lambda: (
            dreamer_rows.run(steps=args.steps, verbose=0, chunk_size=args.steps).x
        ),
        "tf-keras-vis": lambda: run_keras_vis(visualizer, start, args.steps),
    }

    # warm up: trace the compiled loops; tf-keras-vis is eager, a few steps build its optimizer
    for name in ("bare", "tfam", "tfam per-row jitter"):
        contenders[name]()
    run_keras_vis(visualizer, start, min(5, args.steps))

    # interleave so that drift in machine speed hits every contender alike; tf-keras-vis runs spread
    # over the repetitions because it is slow
    kv_at = (
        set(
            np.linspace(0, args.repeats - 1, min(args.keras_vis_repeats, args.repeats))
            .round()
            .astype(int)
        )
        if args.keras_vis_repeats > 0
        else set()
    )
    times = {name: [] for name in contenders}
    outputs = {}
    for rep in range(args.repeats):
        names = ["bare", "tfam", "tfam per-row jitter"] + (["tf-keras-vis"] if rep in kv_at else [])
        for name in names:
            seconds, outputs[name] = timed(contenders[name])
            times[name].append(seconds)
        print(
            f"repeat {rep + 1}/{args.repeats}: "
            + ", ".join(f"{n} {times[n][-1]:.3f}s" for n in names),
            flush=True,
        )

    median = {n: statistics.median(t) for n, t in times.items() if t}
    kv = median.get("tf-keras-vis")
    print(
        f"\n{args.steps} steps, batch {len(CLASSES)}, MNIST CNN (untrained), "
        f"{args.repeats} repeats ({len(times['tf-keras-vis'])} for tf-keras-vis), medians"
    )
    header = f"{'contender':<22}{'s/run':>9}{'steps/s':>10}{'ms/step':>10}{'speed vs kvis':>15}{'time vs bare':>14}"
    print(header)
    print("-" * len(header))
    figures = {}
    for name, sec in median.items():
        vs_kvis = kv / sec if kv else float("nan")  # how many times faster than tf-keras-vis
        vs_bare = sec / median["bare"]  # time per step over the bare pass
        figures[name] = dict(
            seconds_per_run=sec,
            steps_per_second=args.steps / sec,
            ms_per_step=1000 * sec / args.steps,
            speedup_vs_keras_vis=vs_kvis,
            time_vs_bare=vs_bare,
            runs=times[name],
        )
        print(
            f"{name:<22}{sec:>9.3f}{args.steps / sec:>10.1f}{1000 * sec / args.steps:>10.2f}"
            f"{vs_kvis:>14.1f}x{vs_bare:>13.2f}x"
        )
    # paired per-repeat ratio: less sensitive to slow drift than the ratio of medians
    paired = statistics.median(t / b for t, b in zip(times["tfam"], times["bare"]))
    figures["tfam"]["paired_time_vs_bare"] = paired
    print(f"tfam/bare per repeat, median: {paired:.2f}x")

    # sanity: every AM contender must have raised its objective (mean target logit), else the
    # comparison is not of the same work; the probability is from the original softmax model
    def target_logit(x):
        return float(np.mean(np.diag(linear(x, training=False).numpy())))

    def target_prob(x):
        return float(np.mean(np.diag(model(x, training=False).numpy())))

    print("\nsanity (mean target logit before -> after; mean target probability after)")
    before = target_logit(start)
    for name in ("tfam", "tfam per-row jitter", "tf-keras-vis"):
        if name not in outputs:
            continue
        x = np.asarray(outputs[name])
        after, prob = target_logit(x), target_prob(x)
        ok = "raised" if after > before else "NOT RAISED"
        figures[name].update(
            target_logit_before=before, target_logit_after=after, target_probability=prob
        )
        print(
            f"{name:<22}{before:>8.3f} -> {after:<8.3f} {ok:<11} p={prob:.3f}  "
            f"x in [{x.min():.2f}, {x.max():.2f}]"
        )

    def total(x):
        return float(np.mean(np.sum(linear(x, training=False).numpy(), axis=1)))

    print(f"{'bare (sum of logits)':<22}{total(start):>8.3f} -> {total(outputs['bare']):<8.3f}")

    if args.json:
        write_json(
            args.json,
            dict(
                steps=args.steps,
                repeats=args.repeats,
                batch=len(CLASSES),
                tensorflow=tf.__version__,
                keras=keras.__version__,
                contenders=figures,
            ),
        )
        print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
