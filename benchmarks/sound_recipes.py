"""Sound dream recipes side by side: for each, the time per class, p(target) under the dreaming
model, how many of the 9 dreams the model of the other architecture hears as their class (both
directions), and how natural the dreams are to that model.

Run:  .venv/bin/python benchmarks/sound_dreams.py --keep runs/bench-models        (trains two models)
      .venv/bin/python benchmarks/sound_recipes.py --models runs/bench-models [--steps 300]
      [--only direct,stft] [--json PATH]

Models: seed.keras (seed 002's CNN) and timepool.keras from benchmarks/sound_dreams.py --keep; the
ensemble rows also need seed2.keras, a second seed CNN trained here with another seed on the same
data (saved beside the others, once). Data: the same synthetic packed UrbanSound8K as
sound_dreams.py (its models.json gives the clips and the data seed).

Recipes (tfam.audio.sound_dreams.audio_recipe; all with the time shift, total variation, the
low-pass or its equivalent, silence outside the heard span and RMS 0.1):
- direct: the samples (the default until this table); fourier: lucid's 1/f spectrum (the
  high-band penalty instead of the low-pass, no silence: they act on samples); stft: a short-time
  spectrum through the inverse STFT (the default since this table); maco: the phase of a pink
  magnitude spectrum; maco-class: the phase of the mean magnitude spectrum of the class's training
  clips;
- "+ transforms": random spectral tilt (+-3 dB/octave), resampling (+-5 %) and noise (SNR 20-40 dB);
- ensemble: one dream (of the samples) for the seed CNN and seed2 (the mean of their logits),
  judged by timepool.
Columns: s/class (wall, tracing included), p(target) (mean, the dreaming model or the ensemble),
heard by the other model (of 9; the other direction: dreamed with timepool, judged by seed), and
FD: the Fréchet distance between the judge's penultimate features of the 9 dreams and of the real
test clips (8 per class), lower is closer to real sound.
"""

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import sound_dreams as base  # noqa: E402  (the models, data and training of the other benchmark)

from tfam.audio.sound_dreams import dream_sounds  # noqa: E402
from tfam.audio.sound_params import mean_magnitude  # noqa: E402
from tfam.data import urbansound as us  # noqa: E402
from tfam.models.loading import load_model  # noqa: E402
from tfam.outputs import write_json  # noqa: E402
from tfam.surgery import ensemble  # noqa: E402
from tfam.train.frechet import feature_extractor, frechet_distance  # noqa: E402

TRANSFORMS = dict(tilt_db=3.0, resample=0.05, noise_snr_db=20.0)
RECIPES = {
    "direct": dict(param="direct"),
    "direct + transforms": dict(param="direct", **TRANSFORMS),
    "fourier": dict(param="fourier"),
    "stft": dict(param="stft", learning_rate=0.05),
    "stft + transforms": dict(param="stft", learning_rate=0.05, **TRANSFORMS),
    "maco": dict(param="maco", learning_rate=0.05),
    "maco-class": dict(param="maco", learning_rate=0.05, magnitude="class"),
    "ensemble": dict(param="direct", ensemble=True),
    "ensemble + transforms": dict(param="direct", ensemble=True, **TRANSFORMS),
}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", required=True, help="the --keep DIR of benchmarks/sound_dreams.py")
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0, help="the dreams' seed")
    p.add_argument("--only", default=None, help="comma-separated recipe names")
    p.add_argument("--json", default=None)
    return p.parse_args()


def data(info, workdir):
    path = os.path.join(workdir, "urbansound.npz")
    us.synthesize_packed(path, clips_per_class=tuple(info["clips"]), seed=info["data_seed"])
    return us.load_packed(path)


def second_seed_model(args, info, splits, class_names):
    path = os.path.join(args.models, "seed2.keras")
    if os.path.exists(path):
        return load_model(path)
    seed = info["seed"]
    settings = argparse.Namespace(train_steps=seed["train_steps"], train_batch=seed["train_batch"])
    with tempfile.TemporaryDirectory() as workdir:
        model, seconds = base.train(
            "seed2",
            "seed",
            seed["width"],
            seed["learning_rate"],
            seed["seed"] + 2,
            settings,
            splits,
            class_names,
            workdir,
        )
    base.say(f"trained seed2 in {seconds:.0f}s; saved as {path}")
    model.save(path)
    return model


def probabilities(model, x):
    return base.softmax(base.predict_logits(model, x, base.FRONTEND))


def run(name, recipe, dreamer, judge, splits, class_names, args):
    recipe = dict(recipe)
    recipe.pop("ensemble", None)
    n = len(class_names)
    if recipe.get("magnitude") == "class":
        x, y = splits["train"]
        recipe["magnitude"] = np.stack([mean_magnitude(x[y == c]) for c in range(n)])
    started = time.perf_counter()
    result = dream_sounds(
        dreamer, range(n), sample_rate=base.SAMPLE_RATE, steps=args.steps, seed=args.seed, **recipe
    )
    seconds = (time.perf_counter() - started) / n
    own = probabilities(dreamer, result.x)[np.arange(n), np.arange(n)]
    heard = int(np.sum(probabilities(judge, result.x).argmax(1) == np.arange(n)))
    features = feature_extractor(judge)
    fd = frechet_distance(features(result.x), features(splits["test"][0]))
    return dict(
        seconds_per_class=seconds, p_target=float(own.mean()), heard=heard, frechet=fd, x=result.x
    )


def main():
    args = parse_args()
    with open(os.path.join(args.models, "models.json"), encoding="utf-8") as f:
        info = json.load(f)
    names = list(RECIPES) if args.only is None else [r.strip() for r in args.only.split(",")]
    unknown = [r for r in names if r not in RECIPES]
    if unknown:
        sys.exit(f"unknown recipe(s) {unknown}: {', '.join(RECIPES)}")
    with tempfile.TemporaryDirectory() as workdir:
        splits, class_names = data(info["seed"], workdir)
        benchmark(args, info, names, splits, class_names)


def benchmark(args, info, names, splits, class_names):
    seed = load_model(os.path.join(args.models, "seed.keras"))
    timepool = load_model(os.path.join(args.models, "timepool.keras"))
    pair = None
    if any(RECIPES[r].get("ensemble") for r in names):
        pair = ensemble([seed, second_seed_model(args, info, splits, class_names)])
    rows = []
    header = (
        f"{'recipe':<24}{'s/class':>8}{'p(target)':>11}{'heard by timepool':>19}{'FD':>9}"
        f"{'heard by seed':>15}{'FD':>9}"
    )
    base.say(
        f"{args.steps} steps, 9 classes, {os.cpu_count()} CPU cores\n{header}\n{'-' * len(header)}"
    )
    for name in names:
        recipe = RECIPES[name]
        dreamer = pair if recipe.get("ensemble") else seed
        forward = run(name, recipe, dreamer, timepool, splits, class_names, args)
        reverse = None
        if not recipe.get("ensemble"):
            reverse = run(name, recipe, timepool, seed, splits, class_names, args)
        back = "—" if reverse is None else f"{reverse['heard']}/9"
        back_fd = "—" if reverse is None else f"{reverse['frechet']:.1f}"
        base.say(
            f"{name:<24}{forward['seconds_per_class']:>8.2f}{forward['p_target']:>11.3f}"
            f"{str(forward['heard']) + '/9':>19}{forward['frechet']:>9.1f}{back:>15}{back_fd:>9}"
        )
        rows.append(
            dict(
                recipe=name,
                settings={k: v for k, v in recipe.items()},
                forward={k: v for k, v in forward.items() if k != "x"},
                reverse=None if reverse is None else {k: v for k, v in reverse.items() if k != "x"},
            )
        )
    if args.json:
        write_json(args.json, dict(steps=args.steps, seed=args.seed, recipes=rows))


if __name__ == "__main__":
    main()
