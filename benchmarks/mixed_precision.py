"""bfloat16 on this CPU: Keras' mixed_bfloat16 policy against float32, for dreaming and training.

Run:  .venv/bin/python benchmarks/mixed_precision.py [--steps 100] [--repeats 5]
      [--train-steps 300] [--json PATH]

Models (seeded, the same weights at both precisions: the bfloat16 copy is built under the policy
and given the float32 model's weights, so its variables stay float32 and it computes in bfloat16):
- the MNIST CNN (tfam.models.mnist_cnn), a batch of 10, one row per digit;
- seed 002's CNN on waveforms (urbansound_cnn, width 0.25), 18 rows of 4 s at 8 kHz, as
  benchmarks/sound_step.py runs it.

Dreaming: tfam.dream of the class logits (the MNIST CNN, trained as below, with jitter and total
variation; the seed CNN, untrained, with the sound recipe) from the same start: ms per step over
--steps steps (median of --repeats interleaved calls after a warm-up), and the target probability
of dreams of --result-steps steps as the float32 model hears them. Results agree when every
row's probability is within 0.01 of float32's. Also the largest difference between the two
copies' probabilities on the same inputs (the float32 dreams).

Training (first; MNIST CNN on the embedded digits, Keras fit with Adam 1e-3, batch 64,
--train-steps steps): ms per step and test accuracy; and the seed CNN's ms per training step on random
waveforms (batch 32).
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

try:
    import tfam  # noqa: F401  (installed, or ...)
except ImportError:  # ... run from a source checkout without installing
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfam.cli.common import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tfam import objectives, params  # noqa: E402
from tfam import regularizers as reg  # noqa: E402
from tfam import transforms as tr  # noqa: E402
from tfam.audio.heard import heard_span  # noqa: E402
from tfam.audio.sound_dreams import audio_recipe  # noqa: E402
from tfam.data.digits import embedded_digits  # noqa: E402
from tfam.engine import Dreamer  # noqa: E402
from tfam.models import mnist_cnn  # noqa: E402
from tfam.models.urbansound_cnn import urbansound_cnn  # noqa: E402
from tfam.outputs import write_json  # noqa: E402

SAMPLE_RATE = 8000


def seed_cnn():
    return urbansound_cnn(9, frontend="waveform", width=0.25)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--train-steps", type=int, default=300)
    p.add_argument("--result-steps", type=int, default=300, help="steps of the dreams compared")
    p.add_argument("--json", default=None)
    return p.parse_args()


def at_both_precisions(build):
    """(float32 model, the same weights computing in bfloat16)."""
    keras.utils.set_random_seed(0)
    model = build()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        half = build()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    half.set_weights(model.get_weights())
    return model, half


def median_ms(runs, repeats, steps):
    """{label: median ms per step} of interleaved calls, after one warm-up call each."""
    for run in runs.values():
        run()
    times = {label: [] for label in runs}
    for _ in range(repeats):
        for label, run in runs.items():
            started = time.perf_counter()
            run()
            times[label].append(1000 * (time.perf_counter() - started) / steps)
    return {label: statistics.median(t) for label, t in times.items()}


def dreams(name, model, half, objective, recipe, rows, steps, repeats, result_steps):
    dreamers = {
        precision: Dreamer(m, objective, **recipe)
        for precision, m in (("float32", model), ("bfloat16", half))
    }
    ms = median_ms(
        {
            p: (lambda d=d: d.run(steps, seed=0, verbose=0, chunk_size=steps))
            for p, d in dreamers.items()
        },
        repeats,
        steps,
    )
    results = {p: d.run(result_steps, seed=0, verbose=0) for p, d in dreamers.items()}
    heard = {p: dreamers["float32"].probabilities(r.x) for p, r in results.items()}
    rows = np.arange(rows)
    targets = np.array([t[0] for t in objective.class_targets])
    p_target = {p: heard[p][rows, targets] for p in heard}
    same_inputs = np.abs(
        dreamers["bfloat16"].probabilities(results["float32"].x) - heard["float32"]
    ).max()
    return {
        "model": name,
        "ms_per_step": ms,
        "speedup": ms["float32"] / ms["bfloat16"],
        "p_target_float32": float(p_target["float32"].mean()),
        "p_target_bfloat16": float(p_target["bfloat16"].mean()),
        "max_p_target_difference": float(np.abs(p_target["float32"] - p_target["bfloat16"]).max()),
        "max_p_difference_same_inputs": float(same_inputs),
    }


def train_mnist(model, data, steps):
    (x, y), (x_test, y_test) = data
    keras.utils.set_random_seed(1)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    batches = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x), seed=1).repeat().batch(64)
    model.fit(batches.take(5), epochs=1, verbose=0)  # trace
    started = time.perf_counter()
    model.fit(batches.take(steps), epochs=1, verbose=0)
    ms = 1000 * (time.perf_counter() - started) / steps
    accuracy = float(np.mean(np.argmax(model.predict(x_test, verbose=0), 1) == y_test))
    return ms, accuracy


def train_step_ms(model, steps, repeats):
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal((32, 4 * SAMPLE_RATE))).astype(np.float32)
    y = rng.integers(0, 9, 32)
    model.train_on_batch(x, y)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(steps):
            model.train_on_batch(x, y)
        times.append(1000 * (time.perf_counter() - started) / steps)
    return statistics.median(times)


def main():
    args = parse_args()
    table = []

    data = embedded_digits()
    training = {}
    trained = {}
    for precision, m in zip(("float32", "bfloat16"), at_both_precisions(mnist_cnn)):
        training[precision] = train_mnist(m, data, args.train_steps)
        trained[precision] = m
    waveform = {
        precision: train_step_ms(m, 10, args.repeats)
        for precision, m in zip(("float32", "bfloat16"), at_both_precisions(seed_cnn))
    }
    # the trained float32 model, and its weights computing in bfloat16
    model, half = at_both_precisions(mnist_cnn)
    model.set_weights(trained["float32"].get_weights())
    half.set_weights(trained["float32"].get_weights())
    start = np.full((10, 28, 28, 1), 0.5, np.float32)
    table.append(
        dreams(
            "MNIST CNN, 10 rows",
            model,
            half,
            objectives.class_logit(list(range(10))),
            dict(
                param=params.direct((0.0, 1.0), start=start),
                transforms=[tr.jitter(2)],
                regularizers=[reg.total_variation(0.1)],
                learning_rate=0.05,
            ),
            len(start),
            args.steps,
            args.repeats,
            args.result_steps,
        )
    )

    model, half = at_both_precisions(seed_cnn)
    recipe = audio_recipe(SAMPLE_RATE, heard=heard_span(model))
    table.append(
        dreams(
            "seed CNN 0.25, 18 rows of 4 s",
            model,
            half,
            objectives.class_logit([c % 9 for c in range(18)]),
            dict(spatial_rank=1, **recipe),
            18,
            args.steps,
            args.repeats,
            args.result_steps,
        )
    )

    print("Dreaming: ms per step, float32 / bfloat16; mean p(target) of the dreams (float32 ears)")
    print(
        "| model | float32 ms | bfloat16 ms | speed-up | p float32 | p bfloat16 | max Δp | max Δp, same inputs |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for row in table:
        ms = row["ms_per_step"]
        print(
            f"| {row['model']} | {ms['float32']:.1f} | {ms['bfloat16']:.1f} | {row['speedup']:.2f}× "
            f"| {row['p_target_float32']:.3f} | {row['p_target_bfloat16']:.3f} "
            f"| {row['max_p_target_difference']:.3f} | {row['max_p_difference_same_inputs']:.3f} |"
        )

    print("\nTraining: ms per step")
    print("| model | float32 | bfloat16 | speed-up | test accuracy float32 / bfloat16 |")
    print("|---|---|---|---|---|")
    f, b = training["float32"], training["bfloat16"]
    print(
        f"| MNIST CNN, batch 64, {args.train_steps} steps | {f[0]:.1f} | {b[0]:.1f} "
        f"| {f[0] / b[0]:.2f}× | {f[1]:.3f} / {b[1]:.3f} |"
    )
    print(
        f"| seed CNN 0.25, batch 32 of 4 s | {waveform['float32']:.1f} | "
        f"{waveform['bfloat16']:.1f} | {waveform['float32'] / waveform['bfloat16']:.2f}× | |"
    )
    if args.json:
        write_json(
            args.json,
            {
                "settings": vars(args),
                "dreaming": table,
                "training": {"mnist": training, "seed_cnn_ms": waveform},
            },
        )


if __name__ == "__main__":
    main()
