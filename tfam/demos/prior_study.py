"""Seed 000's study: what does a classifier think a class sounds like, asked through a generator
prior (AM on the latent z) and, for comparison, on the input itself.

    pairs = [Pair("mel GAN -> mel CNN", mel_generator, mel_cnn),
             Pair("WaveGAN -> raw CNN", wavegan, raw_cnn, distribution="uniform"),
             Pair("mel GAN -> Griffin-Lim -> raw CNN", vocoded(mel_generator, 16384), raw_cnn),
             Pair("conditional mel GAN -> mel CNN", conditional_mel_generator, mel_cnn, conditional=True)]
    report = run_study(pairs, real={id(mel_cnn): mel_real, id(raw_cnn): raw_real}, n_classes=4)

For every pair and class: the target probability of the generator's output where AM starts (z drawn
from the prior) and where it ends, and the Fréchet distance between the classifier's penultimate
features of the dreams and of real clips of that class (lower: more natural). For every classifier
and class, the same for a direct dream (the input itself optimized, tfam's usual recipe for images or
sounds), the baseline a prior should beat.

The latent AM is the seed's: z from the prior (one per dream), Adam with an exponentially decaying
rate, loss -logit[target] + mean(other logits) + prior_weight * sum(z^2) / D (objectives.class_margin
and regularizers.latent_l2). A conditional generator gets the target as its class input as well, so
the class input and AM steer together. The defaults differ from the seed's numbers (rate 0.01,
prior weight 100) on purpose: with those, on GANs trained for minutes on a CPU, the prior outweighed
the class and p(target) moved by less than 0.05 in 150 steps (some classes fell); rate 0.05 and
weight 1 raised every class (for example 0.01 -> 1.00 and 0.18 -> 1.00 on the test's models).
"""

import dataclasses
import time

import keras
import numpy as np
import tensorflow as tf

from tfam import objectives, optimizers, params, regularizers, transforms
from tfam.audio import mel
from tfam.audio.sound_dreams import audio_recipe
from tfam.engine import dream
from tfam.train.frechet import feature_extractor, frechet_distance


@dataclasses.dataclass(frozen=True)
class Pair:
    name: str
    generator: keras.Model  # z (and a class index when conditional) -> the classifier's input
    classifier: keras.Model  # its input -> class logits
    distribution: str = "normal"  # of z: "normal" (seed 000's mel GAN) or "uniform" (WaveGAN)
    conditional: bool = False  # feed the target class to the generator's class input


def vocoded(mel_generator, length, n_iter=16, sample_rate=mel.SAMPLE_RATE, margin=8):
    """A waveform generator made of a mel generator (output in [0, 1]), Griffin-Lim and a centre crop
    of ``length`` samples: what lets a mel prior feed a raw-audio classifier. The final phase is
    treated as a constant in the gradient (phase_gradient=False), which costs a ninth of the memory
    of backpropagating through every iteration.

    Griffin-Lim runs on the frames whose windows reach the crop and ``margin`` frames more on each
    side, not on all of them: the demo's 16384 samples of 160 frames need 86, half the cost of the
    study's slowest pair (``margin`` None: every frame)."""
    frames = mel_generator.outputs[0].shape[2]
    full = mel.HOP * (frames - 1)
    if length > full:
        raise ValueError(
            f"the mel generator makes {frames} frames ({full} samples); the classifier "
            f"takes {length}"
        )
    inputs = list(mel_generator.inputs)
    left = (full - length) // 2
    first, last = 0, frames  # the frames Griffin-Lim sees, [first, last)
    if margin is not None:
        reach = mel.WIN // (2 * mel.HOP)  # frame f's window spans f * HOP -+ WIN / 2
        first = max(0, left // mel.HOP - reach - margin)
        last = min(frames, -(-(left + length) // mel.HOP) + reach + margin + 1)
    x = mel_generator.outputs[0]
    if first > 0 or last < frames:
        x = keras.layers.Cropping2D(((0, 0), (first, frames - last)), name="heard_frames")(x)
    x = mel.MelGriffinLim(
        n_iter=n_iter,
        scaled_to_unit=True,
        phase_gradient=False,
        sample_rate=sample_rate,
        name="griffin_lim",
    )(x)
    made = mel.HOP * (last - first - 1)
    x = keras.layers.Reshape((made, 1), name="griffin_lim_channels")(x)
    left -= first * mel.HOP
    x = keras.layers.Cropping1D((left, made - length - left), name="centre_crop")(x)
    x = keras.layers.Reshape((length,), name="vocoded_waveform")(x)
    return keras.Model(
        inputs if len(inputs) > 1 else inputs[0], x, name=f"{mel_generator.name}_vocoded"
    )


def _softmax(logits):
    return tf.nn.softmax(logits).numpy()


def _rows(n_classes, per_class):
    """Targets of a batch: every class per_class times, class-major (0, 0, ..., 1, 1, ...)."""
    return [c for c in range(n_classes) for _ in range(per_class)]


def latent_dreams(
    pair,
    n_classes,
    per_class=8,
    steps=300,
    learning_rate=0.05,
    decay=0.99,
    prior_weight=1.0,
    seed=0,
    verbose=0,
    jit_compile="auto",
):
    """AM in ``pair``'s latent space; returns (start inputs, dreams, p(target) at start, at end),
    rows class-major."""
    targets = _rows(n_classes, per_class)
    param = params.latent(
        pair.generator,
        distribution=pair.distribution,
        condition=targets if pair.conditional else None,
    )
    regs = [regularizers.latent_l2(prior_weight)] if prior_weight > 0 else []
    result = dream(
        pair.classifier,
        objectives.class_margin(targets),
        param=param,
        regularizers=regs,
        optimizer=optimizers.adam(optimizers.exponential_decay(learning_rate, decay)),
        steps=steps,
        seed=seed,
        verbose=verbose,
        jit_compile=jit_compile,
    )
    rows = np.arange(len(targets))
    before = _softmax(pair.classifier(result.start_x, training=False))[rows, targets]
    after = result.probabilities[rows, targets]
    return result.start_x, result.x, before, after


def direct_dreams(
    classifier,
    n_classes,
    per_class=8,
    steps=300,
    sample_rate=mel.SAMPLE_RATE,
    seed=0,
    verbose=0,
    jit_compile="auto",
):
    """AM on the input itself with tfam's usual recipe: for waveforms the sound recipe
    (tfam.audio.sound_dreams), for mels and images the image defaults of ``tfam dream`` (range 0..1,
    jitter 2, total variation 0.1, L1 0.1, Adam 0.05). Returns (dreams, p(target)), class-major."""
    targets = _rows(n_classes, per_class)
    waveform = len(classifier.inputs[0].shape) == 2
    if waveform:
        recipe = audio_recipe(sample_rate)
    else:
        recipe = dict(
            param=params.direct((0.0, 1.0)),
            transforms=[transforms.jitter(2)],
            learning_rate=0.05,
            regularizers=[regularizers.total_variation(0.1), regularizers.lp_norm(0.1, p=1)],
        )
    result = dream(
        classifier,
        objectives.class_margin(targets),
        steps=steps,
        seed=seed,
        verbose=verbose,
        spatial_rank=1 if waveform else None,
        jit_compile=jit_compile,
        **recipe,
    )
    return result.x, result.probabilities[np.arange(len(targets)), targets]


def run_study(
    pairs,
    real,
    n_classes,
    per_class=8,
    steps=300,
    prior_weight=1.0,
    learning_rate=0.05,
    sample_rate=mel.SAMPLE_RATE,
    seed=0,
    verbose=0,
    decay=0.99,
    jit_compile="auto",
):
    """Dreams and scores for every pair and every classifier of the pairs (``verbose``: a line and a
    progress bar per run).

    ``real``: classifier -> (inputs, labels) of real clips as the classifier takes them (a dict keyed
    by the classifier object). Returns {"pairs": [...], "direct": [...]}, each entry with its name,
    "dreams" (class-major, per_class rows per class) and per-class "classes" records: p_after and fd
    (Fréchet distance of the dreams to the real clips); for pairs also p_before, fd_start (the
    generator's samples where AM began: how natural the prior itself is) and fd_direct."""
    features = {}
    for clf in {id(p.classifier): p.classifier for p in pairs}.values():
        if clf not in real:
            raise ValueError(f"no real clips for the classifier {clf.name}")
        features[clf] = feature_extractor(clf)

    real_features = {}  # (classifier, class) -> features of its real clips, computed once

    def fd(clf, dreams, c):
        if (clf, c) not in real_features:
            x, y = real[clf]
            real_features[clf, c] = features[clf](x[y == c])
        mine = features[clf](dreams[c * per_class : (c + 1) * per_class])
        return frechet_distance(mine, real_features[clf, c])

    report = {"pairs": [], "direct": []}
    direct = {}
    for clf in features:
        if verbose:
            print(f"[study] direct dreams on {clf.name}'s input", flush=True)
        started = time.perf_counter()
        dreams, p = direct_dreams(
            clf, n_classes, per_class, steps, sample_rate, seed, verbose, jit_compile
        )
        direct[clf] = {
            "name": clf.name,
            "classifier": clf.name,
            "dreams": dreams,
            "classes": [
                {
                    "p_after": float(np.mean(p[c * per_class : (c + 1) * per_class])),
                    "fd": fd(clf, dreams, c),
                }
                for c in range(n_classes)
            ],
        }
        direct[clf]["seconds"] = time.perf_counter() - started
        report["direct"].append(direct[clf])
    for pair in pairs:
        if verbose:
            print(f"[study] latent dreams: {pair.name}", flush=True)
        started = time.perf_counter()
        start, dreams, before, after = latent_dreams(
            pair,
            n_classes,
            per_class,
            steps,
            learning_rate,
            decay,
            prior_weight=prior_weight,
            seed=seed,
            verbose=verbose,
            jit_compile=jit_compile,
        )
        classes = []
        for c in range(n_classes):
            rows = slice(c * per_class, (c + 1) * per_class)
            classes.append(
                {
                    "p_before": float(np.mean(before[rows])),
                    "p_after": float(np.mean(after[rows])),
                    "fd": fd(pair.classifier, dreams, c),
                    "fd_start": fd(pair.classifier, start, c),
                    "fd_direct": direct[pair.classifier]["classes"][c]["fd"],
                }
            )
        report["pairs"].append(
            {
                "name": pair.name,
                "classifier": pair.classifier.name,
                "dreams": dreams,
                "classes": classes,
                "seconds": time.perf_counter() - started,
            }
        )
    return report


def markdown_table(report, class_names):
    """The study as a Markdown table: per pair and class, p(target) before -> after AM and the
    Fréchet distance of latent dreams against direct dreams of the same classifier."""
    lines = [
        "| generator -> classifier | class | p(target) before AM | after AM | Fréchet: latent dreams "
        "| direct dreams | latent more natural |",
        "|---|---|---|---|---|---|---|",
    ]
    for pair in report["pairs"]:
        for name, c in zip(class_names, pair["classes"]):
            lines.append(
                f"| {pair['name']} | {name} | {c['p_before']:.3f} | {c['p_after']:.3f} | "
                f"{c['fd']:.3g} | {c['fd_direct']:.3g} | {'yes' if c['fd'] < c['fd_direct'] else 'no'} |"
            )
    return "\n".join(lines)
