"""``make demo-emotion``: seed 000's study, from speech files to dreams through GAN priors.

    1. data        a packed TESS/RAVDESS set (--data), else a synthetic stand-in written in the real
                   TESS and RAVDESS layouts and packed by the real preparation code
    2. classifiers seed 000's mel CNN and its raw-audio CNN, trained with train.py's Trainer
    3. priors      WaveGAN (raw audio), the mel GAN and a conditional mel GAN, trained with WGAN-GP
    4. study       per (generator, classifier) pair and class: p(target) before and after AM in the
                   latent space, and the Fréchet distance of the dreams' classifier features to real
                   clips of the class, against direct dreams of the same classifier
    5. gallery     OUT/index.html (spectrogram and audio player per dream), OUT/summary.json,
                   OUT/table.md

Every model trains in OUT/logs/<name> with checkpoints and TensorBoard; running the demo again
resumes or reuses them (--fresh starts over). The raw-audio classifier sees 16384-sample crops
(0.74 s), not the seed's 32768, so that WaveGAN's output (16 x 4^5 samples) is its input.

The demo prints the time of every phase as it ends ("[time] ..." lines, and all of them at the end)
and keeps them in summary.json ("seconds"). Its settings (the constants below) were chosen by
measuring each phase on 2 cores: the raw CNN, whose gated dilated layers run at the full
16384-sample rate, was most of the time in training and in the study, so it runs at width 1/8 with
batches of 16 (validation accuracy 0.84 after 200 steps, against 0.77 with batches of 32 and 0.59 at
Adam 1e-3) and with one stack of dilations 1..512 instead of the seed's two (half the cost, the same
accuracy); the GANs train 200 steps (their cost does not fall with the batch: 16 was no faster
than 32) and the dreams 100 steps at a faster-decaying rate.
"""

import contextlib
import os
import sys
import time

from tfam.cli.common import ArgumentParser, import_tensorflow_quietly, run_guarded

RAW_SAMPLES = 16384
# the settings, chosen by measurement (README, "Speech emotion"): the demo in minutes on 2 cores
MEL_STEPS, MEL_BATCH, RAW_STEPS, RAW_BATCH, RAW_WIDTH, RAW_STACKS = 60, 32, 200, 16, 0.125, 1
CLASSIFIER_LEARNING_RATE = 3e-3
GAN_STEPS, GAN_BATCH, GAN_LEARNING_RATE = 200, 32, 1e-4
DREAM_STEPS, AM_LEARNING_RATE, AM_DECAY = 100, 0.1, 0.98
SYNTH_TESS_WORDS, SYNTH_TESS_SPLIT, SYNTH_RAVDESS_CLIPS = 30, (24, 3), 2


def build_data(out):
    """A synthetic stand-in in the real layouts, prepared and packed: OUT/data/emotion.npz."""
    from tfam.data import emotion

    root = os.path.join(out, "data")
    packed = os.path.join(root, "emotion.npz")
    if os.path.exists(packed):
        print(f"[data] reusing the synthetic set at {packed}")
        return packed
    print(f"[data] synthesizing TESS and RAVDESS stand-ins in their real layouts under {root}")
    tess, ravdess = os.path.join(root, "TESS"), os.path.join(root, "RAVDESS")
    emotion.synthesize_tess(
        tess, words_per_emotion=SYNTH_TESS_WORDS, emotions=("angry", "happy", "neutral", "sad")
    )
    emotion.synthesize_ravdess(ravdess, clips_per_emotion=SYNTH_RAVDESS_CLIPS)
    summary = emotion.prepare(tess, ravdess, packed, tess_split=SYNTH_TESS_SPLIT)
    print(f"[data] packed {summary.counts} into {packed}")
    return packed


def _resume_or_start(logdir, fresh):
    exists = os.path.exists(os.path.join(logdir, "model", "config.json"))
    return dict(resume=exists and not fresh, overwrite=exists and fresh)


def train_classifier(
    splits,
    class_names,
    logdir,
    architecture,
    steps,
    width,
    fresh,
    seed,
    learning_rate=1e-3,
    batch_size=32,
    blocks=(),
):
    from tfam.audio import mel
    from tfam.train.classifier import MEL_FRAMES, TrainConfig, Trainer

    frontend, crop = (
        ("mel", (MEL_FRAMES - 1) * mel.HOP)
        if architecture == "emotion_mel"
        else ("waveform", RAW_SAMPLES)
    )
    config = TrainConfig(
        iterations=steps,
        batch_size=batch_size,
        logdir=logdir,
        architecture=architecture,
        frontend=frontend,
        crop=crop,
        sample_rate=mel.SAMPLE_RATE,
        width=width,
        blocks=tuple(blocks),
        learning_rate=learning_rate,
        schedule="constant",
        val_every=25,
        ckpt_every=100,
        seed=seed,
        n_classes=len(class_names),
        class_names=tuple(class_names),
    )
    trainer = Trainer(config, splits, progress_every=50, **_resume_or_start(logdir, fresh))
    print(
        f"[train] {trainer.model.name}: {trainer.model.count_params():,} weights, {steps} steps -> {logdir}"
    )
    trainer.train()
    return trainer.model, frontend, crop


def train_gan(
    data,
    labels,
    class_names,
    logdir,
    kind,
    steps,
    width,
    fresh,
    seed,
    learning_rate=1e-4,
    batch_size=32,
):
    from tfam.train.gan import GanConfig, GanTrainer

    conditional = labels is not None
    config = GanConfig(
        kind=kind,
        iterations=steps,
        batch_size=batch_size,
        width=width,
        learning_rate=learning_rate,
        samples=RAW_SAMPLES,
        sample_rate=22050,
        n_classes=len(class_names) if conditional else 0,
        class_names=tuple(class_names) if conditional else (),
        logdir=logdir,
        summary_every=100,
        ckpt_every=100,
        seed=seed,
    )
    trainer = GanTrainer(config, data, labels, progress_every=50, **_resume_or_start(logdir, fresh))
    print(
        f"[prior] {trainer.generator.name}{' (conditional)' if conditional else ''}: "
        f"{trainer.generator.count_params():,} weights, {steps} steps -> {logdir}"
    )
    trainer.train()
    return trainer.generator, config.latent_distribution


class Phases:
    """Wall-clock seconds of the demo's phases, printed as each ends: ``with phases("name"): ...``."""

    def __init__(self):
        self.seconds = {}

    @contextlib.contextmanager
    def __call__(self, name):
        started = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - started
        print(f"[time] {name}: {self.seconds[name]:.0f} s", flush=True)


def _slug(text):
    return "".join(ch if ch.isalnum() else "_" for ch in text.lower()).strip("_").replace("__", "_")


def write_results(
    out, report, class_names, per_class, sample_rate, real_waveforms, intro, seconds=None
):
    """WAV + spectrogram PNG of the first dream of every (pair or direct run, class), real examples,
    the gallery, summary.json and table.md."""
    from tfam import audio, outputs
    from tfam.audio import mel
    from tfam.demos.prior_study import markdown_table
    from tfam.report import summaries

    def as_sound(x):  # mels in [0, 1] are heard through Griffin-Lim
        x = x[None]
        if x.ndim == 4:
            x = mel.mel_griffin_lim(x, n_iter=64, scaled_to_unit=True).numpy()
        return x[0]

    def card(folder, label, name, x, scores, note=None):
        wav, png = (
            os.path.join(out, folder, f"{name}.wav"),
            os.path.join(out, folder, f"{name}.png"),
        )
        sound = as_sound(x)
        audio.write_wav(wav, sound, sample_rate)
        summaries.write_spectrogram_png(png, sound, sample_rate, title=f"{name}: {label}")
        return {
            "name": f"{name} · {label}",
            "image": os.path.relpath(png, out),
            "audio": os.path.relpath(wav, out),
            "scores": scores,
            "note": note,
        }

    entries, summary = [], {"per_class": per_class, "pairs": [], "direct": []}
    for c, name in enumerate(class_names):
        entries.append(
            card(
                "real",
                "real clip",
                name,
                real_waveforms[c],
                {},
                "a real clip of the class (test split)",
            )
        )
    for kind in ("pairs", "direct"):
        for run in report[kind]:
            folder = os.path.join("dreams" if kind == "pairs" else "direct", _slug(run["name"]))
            rows = []
            for c, name in enumerate(class_names):
                record = {"class": name, **run["classes"][c]}
                scores = {
                    "p(target) before AM": record.get("p_before"),
                    "p(target) after AM": record["p_after"],
                    "Fréchet to real": record["fd"],
                    "Fréchet of direct dreams": record.get("fd_direct"),
                }
                label = run["name"] if kind == "pairs" else f"direct AM on {run['classifier']}"
                entry = card(
                    folder,
                    label,
                    name,
                    run["dreams"][c * per_class],
                    {k: v for k, v in scores.items() if v is not None},
                    f"the first of {per_class} dreams; p and Fréchet over all of them",
                )
                record["wav"], record["png"] = entry["audio"], entry["image"]
                entries.append(entry)
                rows.append(record)
            summary[kind].append(
                {"name": run["name"], "classifier": run["classifier"], "classes": rows}
            )
    table = markdown_table(report, class_names)
    if seconds is not None:
        summary["seconds"] = dict(seconds)
    outputs.write_json(os.path.join(out, "summary.json"), summary)
    with outputs.atomic_write(os.path.join(out, "table.md"), "w") as f:
        f.write(table + "\n")
    summaries.write_gallery(
        os.path.join(out, "index.html"),
        "tfam: what an emotion classifier hears, through GAN priors",
        entries,
        intro=intro,
    )
    return table


def run(args):
    import numpy as np
    import tensorflow as tf

    from tfam.data import emotion
    from tfam.demos.prior_study import Pair, run_study, vocoded
    from tfam.train.classifier import model_inputs
    from tfam.train.gan import waveforms_to_mels

    # every dream builds its own compiled loop, which TensorFlow reports as retracing: expected here
    tf.get_logger().setLevel("ERROR")
    started = time.perf_counter()
    phases = Phases()
    os.makedirs(args.out, exist_ok=True)
    with phases("data"):
        data_path = args.data or build_data(args.out)
        splits, class_names = emotion.load_packed(data_path)
    logs = os.path.join(args.out, "logs")
    x_train, y_train = splits["train"]

    def classifier(name, architecture, steps, width, batch_size, blocks=()):
        with phases(f"train {name}"):
            return train_classifier(
                splits,
                class_names,
                os.path.join(logs, name),
                architecture,
                steps,
                width,
                args.fresh,
                args.seed,
                args.classifier_learning_rate,
                batch_size,
                blocks,
            )

    mel_cnn, mel_frontend, mel_crop = classifier(
        "mel_cnn", "emotion_mel", args.mel_steps, 0.25, MEL_BATCH
    )
    raw_cnn, raw_frontend, raw_crop = classifier(
        "raw_cnn", "emotion_raw", args.raw_steps, args.raw_width, RAW_BATCH, (args.raw_stacks,)
    )

    with phases("mels of the training clips"):
        train_mels = waveforms_to_mels(x_train, emotion.SAMPLE_RATE)

    def prior(name, data, labels, kind, width):
        with phases(f"train {name}"):
            return train_gan(
                data,
                labels,
                class_names,
                os.path.join(logs, name),
                kind,
                args.gan_steps,
                width,
                args.fresh,
                args.seed,
                args.gan_learning_rate,
                args.gan_batch,
            )

    wavegan, wave_z = prior("wavegan", x_train, None, "wavegan", 1 / 16)
    mel_gan, mel_z = prior("mel_gan", train_mels, None, "mel", 0.125)
    cond_gan, cond_z = prior("mel_gan_conditional", train_mels, y_train, "mel", 0.125)

    pairs = [
        Pair("WaveGAN -> raw CNN", wavegan, raw_cnn, wave_z),
        Pair("mel GAN -> mel CNN", mel_gan, mel_cnn, mel_z),
        Pair("mel GAN -> Griffin-Lim -> raw CNN", vocoded(mel_gan, RAW_SAMPLES), raw_cnn, mel_z),
        Pair("conditional mel GAN -> mel CNN", cond_gan, mel_cnn, cond_z, conditional=True),
    ]
    with phases("study"):
        # real clips of every class, as each classifier takes them (centre crops), for Fréchet
        x_real = np.concatenate([splits["validate"][0], splits["test"][0]])
        y_real = np.concatenate([splits["validate"][1], splits["test"][1]])
        real = {
            mel_cnn: (model_inputs(x_real, mel_frontend, mel_crop).numpy(), y_real),
            raw_cnn: (model_inputs(x_real, raw_frontend, raw_crop).numpy(), y_real),
        }
        print(
            f"[study] {len(pairs)} pairs + direct dreams of 2 classifiers, {args.per_class} dreams "
            f"per class, {args.dream_steps} steps each"
        )
        report = run_study(
            pairs,
            real,
            len(class_names),
            args.per_class,
            args.dream_steps,
            args.prior_weight,
            args.am_learning_rate,
            emotion.SAMPLE_RATE,
            args.seed,
            verbose=1,
            decay=args.am_decay,
        )
    for run_ in report["direct"] + report["pairs"]:
        label = run_["name"] if run_ in report["pairs"] else f"direct dreams on {run_['name']}"
        phases.seconds[f"study: {label}"] = run_["seconds"]
    examples = [
        splits["test"][0][np.flatnonzero(splits["test"][1] == c)[0]]
        for c in range(len(class_names))
    ]
    intro = [
        f"Data: {data_path}. Classifiers: seed 000's mel CNN (width 0.25, {args.mel_steps} steps of "
        f"{MEL_BATCH}) and raw-audio CNN (width {args.raw_width:g}, {args.raw_stacks} stack(s) of "
        f"dilations 1..512, {args.raw_steps} steps of "
        f"{RAW_BATCH}; Adam {args.classifier_learning_rate:g}). Priors: WaveGAN, "
        f"mel GAN, conditional mel GAN ({args.gan_steps} WGAN-GP steps of {args.gan_batch}, Adam "
        f"{args.gan_learning_rate:g}).",
        f"Each dream optimized z for {args.dream_steps} steps (seed 000's loss: -logit[target] + "
        f"mean(other logits) + {args.prior_weight:g}·|z|²/D; Adam "
        f"{args.am_learning_rate:g}·{args.am_decay:g}^step). "
        "Mel dreams are heard through Griffin-Lim. "
        "Fréchet: distance between the classifier's penultimate features of the "
        f"{args.per_class} dreams of a class and of real clips of it; lower is more natural.",
        f"TensorBoard of every training run: tensorboard --logdir {logs}",
    ]
    with phases("gallery"):
        table = write_results(
            args.out,
            report,
            class_names,
            args.per_class,
            emotion.SAMPLE_RATE,
            examples,
            intro,
            seconds=phases.seconds,
        )
    print(table)
    wins = sum(c["fd"] < c["fd_direct"] for p in report["pairs"] for c in p["classes"])
    raised = sum(c["p_after"] > c["p_before"] for p in report["pairs"] for c in p["classes"])
    total = sum(len(p["classes"]) for p in report["pairs"])
    print(f"[study] AM raised p(target) in {raised}/{total} (pair, class) cases")
    print(
        f"[study] latent dreams more natural than direct dreams in {wins}/{total} (pair, class) cases"
    )
    print("[time] " + "; ".join(f"{k} {v:.0f} s" for k, v in phases.seconds.items()))
    print(
        f"done in {time.perf_counter() - started:.0f} s. Open {os.path.join(args.out, 'index.html')}"
    )


def main(argv=None):
    parser = ArgumentParser(
        prog="python -m tfam.demos.emotion", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", default="runs/emotion")
    parser.add_argument(
        "--data",
        help="a packed TESS/RAVDESS set (datatools/prepare_emotion.py); "
        "default: a synthetic stand-in under OUT/data",
    )
    parser.add_argument("--mel-steps", type=int, default=MEL_STEPS, help="mel CNN training steps")
    parser.add_argument("--raw-steps", type=int, default=RAW_STEPS, help="raw CNN training steps")
    parser.add_argument(
        "--raw-width", type=float, default=RAW_WIDTH, help="channel scale of the raw CNN"
    )
    parser.add_argument(
        "--raw-stacks",
        type=int,
        default=RAW_STACKS,
        help="stacks of dilated layers 1..512 in the raw CNN (seed 000: 2)",
    )
    parser.add_argument("--classifier-learning-rate", type=float, default=CLASSIFIER_LEARNING_RATE)
    parser.add_argument("--gan-steps", type=int, default=GAN_STEPS)
    parser.add_argument("--gan-batch", type=int, default=GAN_BATCH, help="WGAN-GP batch size")
    parser.add_argument(
        "--gan-learning-rate",
        type=float,
        default=GAN_LEARNING_RATE,
        help="Adam rate of both WGAN-GP players (WaveGAN: 1e-4)",
    )
    parser.add_argument("--dream-steps", type=int, default=DREAM_STEPS)
    parser.add_argument(
        "--per-class", type=int, default=8, help="dreams per class (Fréchet needs >= 2)"
    )
    parser.add_argument(
        "--prior-weight", type=float, default=1.0, help="weight of |z|^2/D (seed 000: 100)"
    )
    parser.add_argument(
        "--am-learning-rate",
        type=float,
        default=AM_LEARNING_RATE,
        help="Adam rate of the latent AM, decaying by --am-decay a step (seed 000: 0.01)",
    )
    parser.add_argument("--am-decay", type=float, default=AM_DECAY)
    parser.add_argument("--fresh", action="store_true", help="train every model again from scratch")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    for name in ("mel_steps", "raw_steps", "raw_stacks", "gan_steps", "gan_batch", "dream_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.per_class < 2:
        parser.error("--per-class must be at least 2 (a Fréchet distance needs two dreams)")
    import_tensorflow_quietly()
    run_guarded(run, args)


if __name__ == "__main__":
    main()
