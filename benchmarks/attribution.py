"""Attribution methods x tfam's models x faithfulness metrics, with the time per 100 inputs; on the
MNIST CNN also xplique's methods, scored by the same metric code (tfam.faithfulness).

Run:  .venv/bin/python benchmarks/attribution.py [--models mnist,seed,timepool,slowfast,
      emotion_mel,emotion_raw] [--methods saliency,...] [--images 100] [--clips 3]
      [--xplique-path /tmp/w/xplique] [--seed 0] [--json PATH]

xplique 2.0.2 pins TensorFlow <= 2.20; it runs beside tfam's TF 2.21 when installed without its
dependencies into a folder of its own, which --xplique-path puts on sys.path for this benchmark only
(the README gives the pip command). Without the flag only tfam's methods run.

Models, trained as the other benchmarks train them:
- mnist: seed 004's CNN (tfam.models.mnist_cnn, RMSprop, 20 epochs of batch 32) on the embedded
  digits (scikit-learn's 8x8 digits upsampled to 28x28; --mnist PATH: a Keras mnist.npz instead);
  --images test digits, explained for their true class.
- seed, timepool, slowfast: as benchmarks/faithfulness.py (synthetic UrbanSound8K, 9 classes,
  waveform front end, tfam.train.classifier.Trainer; --train-steps); --clips test clips per class.
- emotion_mel, emotion_raw: seed 000's CNNs (width 0.25, Adam 1e-3, batch 32, as make
  demo-emotion) on tfam.data.emotion's synthetic packed set (7 emotions).

Metrics (tfam.faithfulness), on the target's softmax probability:
- images: Deletion and Insertion (28 steps, removed pixels set to 0, as the issue's xplique
  figures), MuFidelity (grid 9, 20 % removed, 200 subsets, baseline 0: xplique's defaults);
- sound: Deletion and Insertion (10 steps) and MuFidelity (grid 8, 32 subsets) removing the mel
  magnitude of the map's cells and hearing the Griffin-Lim resynthesis (16 iterations), as
  salient_audio removes a part; the maps of front-end models lie over their spectrogram.
- randomization: the mean Spearman correlation between the maps of the model and of a copy with
  random weights (tfam.faithfulness.model_randomization; lower is better: the maps depend on what
  the model learned). tfam's methods only.

Times: seconds per 100 inputs of a second call with equal settings (compiled functions reused;
xplique builds its own per call), and of the first call (tracing included), in one process.

Settings, the same for both libraries: SmoothGrad / SquareGrad / VarGrad 50 samples of noise 0.2
(the inputs span [0, 1]: xplique's absolute noise equals tfam's fraction of the range); integrated
gradients 50 steps from a zero baseline; occlusion 3x3 patches at every pixel set to 0 (the most
faithful of the sizes measured: 1, 2, 3 and 4 pixels; audio: tfam's default, an eighth of each
axis every sixteenth); RISE 4000 masks (audio 2000) of a 7x7
grid kept with probability 0.5; batches of 128.
"""

import argparse
import os
import shlex
import sys
import tempfile
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

tf.get_logger().setLevel("ERROR")

from tfam import attribution as at  # noqa: E402
from tfam import faithfulness as ff  # noqa: E402
from tfam.outputs import write_json  # noqa: E402

AUDIO_MODELS = ("seed", "timepool", "slowfast", "emotion_mel", "emotion_raw")
MODELS = ("mnist",) + AUDIO_MODELS
URBANSOUND = {  # as benchmarks/faithfulness.py
    "seed": dict(width=0.25, learning_rate=0.001),
    "timepool": dict(width=1.0, learning_rate=0.003),
    "slowfast": dict(width=0.25, learning_rate=0.003, blocks=(1, 1)),
}
BATCH = 128
SMOOTH = dict(smooth_samples=50, smooth_noise=0.2)
IMAGE_SETTINGS = {
    "smoothgrad": SMOOTH,
    "smoothgrad-squared": SMOOTH,
    "vargrad": SMOOTH,
    "integrated-gradients": dict(steps=50, baseline="zeros"),
    "occlusion": dict(patch=3, stride=1, baseline="zeros"),
    "rise": dict(masks=4000, grid=7, keep=0.5, baseline="zeros"),
}
AUDIO_SETTINGS = {**IMAGE_SETTINGS, "occlusion": dict(baseline="zeros"), "rise": dict(masks=2000)}


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated: {MODELS}")
    p.add_argument("--methods", default=",".join(at.METHODS), help="comma-separated")
    p.add_argument("--images", type=int, default=100, help="MNIST test digits")
    p.add_argument("--mnist", default=None, help="a Keras mnist.npz (default: embedded digits)")
    p.add_argument("--clips", type=int, default=3, help="audio test clips per class")
    p.add_argument("--train-steps", type=int, default=300, help="UrbanSound and emotion models")
    p.add_argument(
        "--xplique-path", default=None, help="folder holding xplique 2.0.2 (pip --target)"
    )
    p.add_argument("--no-randomization", action="store_true", help="skip the sanity check")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    return p.parse_args()


# ----------------------------------------------------------------------------- models and data


def mnist_model(args):
    from tfam.data.digits import embedded_digits, load_mnist
    from tfam.models.mnist_cnn import mnist_cnn, train_mnist_cnn

    (x, y), (xt, yt) = load_mnist(args.mnist) if args.mnist else embedded_digits()
    keras.utils.set_random_seed(args.seed)
    model = mnist_cnn()
    train_mnist_cnn(model, x, y, epochs=20, batch_size=32, seed=args.seed)
    xt, yt = xt[: args.images], yt[: args.images]
    accuracy = float(np.mean(model.predict(xt, verbose=0).argmax(1) == yt))
    return model, xt, yt, accuracy


def urbansound_model(architecture, args, tmp):
    from tfam.data import urbansound as us
    from tfam.train.classifier import TrainConfig, Trainer

    packed = os.path.join(tmp, "urbansound.npz")
    if not os.path.exists(packed):
        us.synthesize_packed(packed, clips_per_class=(24, 4, args.clips), seed=args.seed)
    splits, class_names = us.load_packed(packed)
    settings = URBANSOUND[architecture]
    config = TrainConfig(
        iterations=args.train_steps,
        batch_size=45,
        logdir=os.path.join(tmp, architecture),
        architecture=architecture,
        frontend="waveform",
        width=settings["width"],
        blocks=settings.get("blocks", ()),
        learning_rate=settings["learning_rate"],
        schedule="constant",
        val_every=50,
        ckpt_every=args.train_steps,
        seed=args.seed,
        n_classes=len(class_names),
        class_names=tuple(class_names),
    )
    trainer = Trainer(config, splits, overwrite=True, progress_every=10**9)
    trainer.train()
    return trainer.model, splits["test"]


def emotion_model(architecture, args, tmp):
    from tfam.audio import mel
    from tfam.data import emotion
    from tfam.models.emotion import RAW_SAMPLES
    from tfam.train.classifier import MEL_FRAMES, TrainConfig, Trainer

    packed = os.path.join(tmp, "emotion.npz")
    if not os.path.exists(packed):
        emotion.synthesize_packed(packed, clips_per_class=(16, 2, args.clips), seed=args.seed)
    splits, class_names = emotion.load_packed(packed)
    frontend, crop = (
        ("mel", (MEL_FRAMES - 1) * mel.HOP)
        if architecture == "emotion_mel"
        else ("waveform", RAW_SAMPLES)
    )
    config = TrainConfig(
        iterations=args.train_steps,
        batch_size=28,
        logdir=os.path.join(tmp, architecture),
        architecture=architecture,
        frontend=frontend,
        crop=crop,
        sample_rate=mel.SAMPLE_RATE,
        width=0.25,
        learning_rate=1e-3,
        schedule="constant",
        val_every=50,
        ckpt_every=args.train_steps,
        seed=args.seed,
        n_classes=len(class_names),
        class_names=tuple(class_names),
    )
    trainer = Trainer(config, splits, overwrite=True, progress_every=10**9)
    trainer.train()
    return trainer.model, splits["test"]


def audio_case(architecture, args, tmp):
    """(model, model inputs, clips as the model hears them, labels, hearing, accuracy)."""
    from tfam.audio import salient as sa
    from tfam.audio.fitting import fit_length

    if architecture in URBANSOUND:
        model, (clips, labels) = urbansound_model(architecture, args, tmp)
    else:
        model, (clips, labels) = emotion_model(architecture, args, tmp)
    hear = sa.hearing(model, 22050)
    clips = np.stack([fit_length(c, hear.samples)[0] for c in clips]).astype(np.float32)
    x = np.asarray(hear.model_input(clips))
    accuracy = float(np.mean(sa.probabilities(model, hear, clips).argmax(1) == labels))
    return model, x, clips, np.asarray(labels, np.int32), hear, accuracy


# ----------------------------------------------------------------------------- methods


def tfam_explainer(method, settings):
    options = dict(batch_size=BATCH, backend="tfam", **settings.get(method, {}))
    return lambda model, x, y: at.attribute(model, x, method, target=y, **options).raw


def xplique_explainers(model, path):
    """{tfam's method name: (model, x, y) -> maps} of xplique's methods on the MNIST CNN."""
    sys.path.insert(0, os.path.abspath(path))
    import xplique.attributions as xa

    from tfam.surgery import with_linear_logits

    logits = with_linear_logits(model)  # as tfam explains: the target's logit
    conv = at.stream_layers(logits)[0]

    def make(cls, **options):
        def explain(_, x, y):
            onehot = tf.one_hot(y, logits.outputs[0].shape[-1])
            return np.asarray(cls(logits, batch_size=BATCH, **options).explain(x, onehot))

        return explain

    return {
        "saliency": make(xa.Saliency),
        "smoothgrad": make(xa.SmoothGrad, nb_samples=50, noise=0.2),
        "smoothgrad-squared": make(xa.SquareGrad, nb_samples=50, noise=0.2),
        "vargrad": make(xa.VarGrad, nb_samples=50, noise=0.2),
        "gradient-input": make(xa.GradientInput),
        "integrated-gradients": make(xa.IntegratedGradients, steps=50, baseline_value=0.0),
        "occlusion": make(xa.Occlusion, patch_size=3, patch_stride=1, occlusion_value=0.0),
        "rise": make(xa.Rise, nb_samples=4000, grid_size=7, preservation_probability=0.5),
        "gradcam": make(xa.GradCAM, conv_layer=conv),
        "gradcam++": make(xa.GradCAMPP, conv_layer=conv),
    }


def timed(explain, model, x, y):
    t0 = time.perf_counter()
    explain(model, x, y)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    maps = explain(model, x, y)
    return np.asarray(maps, np.float32), first, time.perf_counter() - t0


# ----------------------------------------------------------------------------- metrics


def image_metrics(model, x, y, maps):
    zero = ff.baseline(0.0)
    return {
        "deletion": ff.deletion(model, x, maps, y, steps=28, perturbation=zero).mean_auc,
        "insertion": ff.insertion(model, x, maps, y, steps=28, perturbation=zero).mean_auc,
        "mu_fidelity": float(np.mean(ff.mu_fidelity(model, x, maps, y, perturbation=zero))),
    }


def audio_metrics(model, clips, y, maps, hear):
    from tfam.audio import salient as sa

    removal = sa.mel_removal(hear, n_iter=16)
    options = dict(perturbation=removal, batch_size=BATCH)
    return {
        "deletion": ff.deletion(model, clips, maps, y, steps=10, **options).mean_auc,
        "insertion": ff.insertion(model, clips, maps, y, steps=10, **options).mean_auc,
        "mu_fidelity": float(
            np.mean(ff.mu_fidelity(model, clips, maps, y, grid=8, samples=32, **options))
        ),
    }


def randomization(model, x, y, explain, seed):
    check = ff.model_randomization(model, lambda m: explain(m, x, y), seed=seed)
    return float(np.mean(check.spearman))


def run_methods(name, model, x, y, methods, explainers, score, rows, library, randomize, seed):
    for method in methods:
        if method not in explainers:
            continue
        maps, first, second = timed(explainers[method], model, x, y)
        if maps.ndim == x.ndim and maps.shape[1:] == x.shape[1:] and maps.ndim >= 3:
            maps = maps.mean(axis=-1)  # xplique keeps the channel axis
        row = {
            "model": name,
            "library": library,
            "method": method,
            "seconds_per_100": round(100.0 * second / len(x), 3),
            "first_call_seconds_per_100": round(100.0 * first / len(x), 3),
            **score(maps),
        }
        if randomize:
            row["randomization_spearman"] = randomization(model, x, y, explainers[method], seed)
        rows.append(row)
        print(
            f"[{name}] {library} {method}: {row['seconds_per_100']:.2f} s/100 "
            f"(first {row['first_call_seconds_per_100']:.2f}), deletion {row['deletion']:.3f}, "
            f"insertion {row['insertion']:.3f}, MuFidelity {row['mu_fidelity']:.3f}"
            + (
                f", randomization rho {row['randomization_spearman']:.2f}"
                if "randomization_spearman" in row
                else ""
            ),
            flush=True,
        )


def random_row(name, shape, score, rows, seed):
    maps = np.random.default_rng(seed).uniform(size=shape).astype(np.float32)
    rows.append({"model": name, "library": "-", "method": "random map", **score(maps)})
    print(f"[{name}] random map: {rows[-1]}", flush=True)


# ----------------------------------------------------------------------------- the table


def table(rows, accuracy):
    lines = [
        "| model (accuracy) | method | library | s / 100 (first call) | Deletion ↓ | Insertion ↑ "
        "| MuFidelity ↑ | randomization ρ ↓ |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        seconds = (
            f"{r['seconds_per_100']:.2f} ({r['first_call_seconds_per_100']:.2f})"
            if "seconds_per_100" in r
            else ""
        )
        rho = f"{r['randomization_spearman']:.2f}" if "randomization_spearman" in r else ""
        lines.append(
            f"| {r['model']} ({accuracy[r['model']]:.2f}) | {r['method']} | {r['library']} "
            f"| {seconds} | {r['deletion']:.3f} | {r['insertion']:.3f} | {r['mu_fidelity']:.3f} "
            f"| {rho} |"
        )
    return "\n".join(lines)


def main():
    args = parse_args()
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for name in models:
        if name not in MODELS:
            sys.exit(f"unknown model '{name}'; choose from {', '.join(MODELS)}")
    for method in methods:
        if method not in at.METHODS:
            sys.exit(f"unknown method '{method}'; choose from {', '.join(at.METHODS)}")
    started = time.perf_counter()
    rows, accuracy = [], {}
    randomize = not args.no_randomization
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            t0 = time.perf_counter()
            if name == "mnist":
                model, x, y, accuracy[name] = mnist_model(args)
                print(
                    f"[mnist] trained in {time.perf_counter() - t0:.0f} s; accuracy "
                    f"{accuracy[name]:.3f} on {len(x)} test digits",
                    flush=True,
                )

                def score(maps, model=model, x=x, y=y):
                    return image_metrics(model, x, y, maps)

                ours = {m: tfam_explainer(m, IMAGE_SETTINGS) for m in methods}
                run_methods(
                    name, model, x, y, methods, ours, score, rows, "tfam", randomize, args.seed
                )
                if args.xplique_path:
                    theirs = xplique_explainers(model, args.xplique_path)
                    run_methods(
                        name, model, x, y, methods, theirs, score, rows, "xplique", False, args.seed
                    )
                random_row(name, (len(x), 28, 28), score, rows, args.seed)
                continue
            model, x, clips, y, hear, accuracy[name] = audio_case(name, args, tmp)
            print(
                f"[{name}] trained in {time.perf_counter() - t0:.0f} s; accuracy "
                f"{accuracy[name]:.3f} on {len(x)} test clips",
                flush=True,
            )

            def score(maps, model=model, clips=clips, y=y, hear=hear):
                return audio_metrics(model, clips, y, maps, hear)

            ours = {m: tfam_explainer(m, AUDIO_SETTINGS) for m in methods}
            run_methods(name, model, x, y, methods, ours, score, rows, "tfam", randomize, args.seed)
            grid = at.attribute(model, x[:1], "gradient-input").maps.shape[1:]
            random_row(name, (len(x),) + grid, score, rows, args.seed)

    command = " ".join(
        [".venv/bin/python", "benchmarks/attribution.py"] + [shlex.quote(a) for a in sys.argv[1:]]
    )
    print(f"\n`{command}` ({time.perf_counter() - started:.0f} s in all)\n")
    print(table(rows, accuracy))
    if args.json:
        write_json(args.json, {"command": command, "accuracy": accuracy, "rows": rows})


if __name__ == "__main__":
    main()
