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
"""

import os
import sys
import time

from tfam.cli.common import ArgumentParser, import_tensorflow_quietly, run_guarded

RAW_SAMPLES = 16384
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


def train_classifier(splits, class_names, logdir, architecture, steps, width, fresh, seed):
    from tfam.audio import mel
    from tfam.train.classifier import MEL_FRAMES, TrainConfig, Trainer

    frontend, crop = (
        ("mel", (MEL_FRAMES - 1) * mel.HOP)
        if architecture == "emotion_mel"
        else ("waveform", RAW_SAMPLES)
    )
    config = TrainConfig(
        iterations=steps,
        batch_size=32,
        logdir=logdir,
        architecture=architecture,
        frontend=frontend,
        crop=crop,
        sample_rate=mel.SAMPLE_RATE,
        width=width,
        learning_rate=1e-3,
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


def train_gan(data, labels, class_names, logdir, kind, steps, width, fresh, seed):
    from tfam.train.gan import GanConfig, GanTrainer

    conditional = labels is not None
    config = GanConfig(
        kind=kind,
        iterations=steps,
        batch_size=32,
        width=width,
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


def _slug(text):
    return "".join(ch if ch.isalnum() else "_" for ch in text.lower()).strip("_").replace("__", "_")


def write_results(out, report, class_names, per_class, sample_rate, real_waveforms, intro):
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
    os.makedirs(args.out, exist_ok=True)
    data_path = args.data or build_data(args.out)
    splits, class_names = emotion.load_packed(data_path)
    logs = os.path.join(args.out, "logs")
    x_train, y_train = splits["train"]

    mel_cnn, mel_frontend, mel_crop = train_classifier(
        splits,
        class_names,
        os.path.join(logs, "mel_cnn"),
        "emotion_mel",
        args.classifier_steps,
        0.25,
        args.fresh,
        args.seed,
    )
    raw_cnn, raw_frontend, raw_crop = train_classifier(
        splits,
        class_names,
        os.path.join(logs, "raw_cnn"),
        "emotion_raw",
        args.classifier_steps,
        0.25,
        args.fresh,
        args.seed,
    )

    train_mels = waveforms_to_mels(x_train, emotion.SAMPLE_RATE)
    wavegan, wave_z = train_gan(
        x_train,
        None,
        class_names,
        os.path.join(logs, "wavegan"),
        "wavegan",
        args.gan_steps,
        1 / 16,
        args.fresh,
        args.seed,
    )
    mel_gan, mel_z = train_gan(
        train_mels,
        None,
        class_names,
        os.path.join(logs, "mel_gan"),
        "mel",
        args.gan_steps,
        0.125,
        args.fresh,
        args.seed,
    )
    cond_gan, cond_z = train_gan(
        train_mels,
        y_train,
        class_names,
        os.path.join(logs, "mel_gan_conditional"),
        "mel",
        args.gan_steps,
        0.125,
        args.fresh,
        args.seed,
    )

    pairs = [
        Pair("WaveGAN -> raw CNN", wavegan, raw_cnn, wave_z),
        Pair("mel GAN -> mel CNN", mel_gan, mel_cnn, mel_z),
        Pair("mel GAN -> Griffin-Lim -> raw CNN", vocoded(mel_gan, RAW_SAMPLES), raw_cnn, mel_z),
        Pair("conditional mel GAN -> mel CNN", cond_gan, mel_cnn, cond_z, conditional=True),
    ]
    # real clips of every class, as each classifier takes them (centre crops), for the Fréchet distance
    x_real = np.concatenate([splits["validate"][0], splits["test"][0]])
    y_real = np.concatenate([splits["validate"][1], splits["test"][1]])
    real = {
        mel_cnn: (model_inputs(x_real, mel_frontend, mel_crop).numpy(), y_real),
        raw_cnn: (model_inputs(x_real, raw_frontend, raw_crop).numpy(), y_real),
    }
    print(
        f"[study] {len(pairs)} pairs + direct dreams of 2 classifiers, {args.per_class} dreams per class, "
        f"{args.dream_steps} steps each"
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
    )
    examples = [
        splits["test"][0][np.flatnonzero(splits["test"][1] == c)[0]]
        for c in range(len(class_names))
    ]
    intro = [
        f"Data: {data_path}. Classifiers: seed 000's mel CNN and raw-audio CNN (width 0.25, "
        f"{args.classifier_steps} steps). Priors: WaveGAN, mel GAN, conditional mel GAN ({args.gan_steps} "
        "WGAN-GP steps).",
        f"Each dream optimized z for {args.dream_steps} steps (seed 000's loss: -logit[target] + "
        f"mean(other logits) + {args.prior_weight:g}·|z|²/D; Adam {args.am_learning_rate:g}·0.99^step). "
        "Mel dreams are heard through Griffin-Lim. "
        "Fréchet: distance between the classifier's penultimate features of the "
        f"{args.per_class} dreams of a class and of real clips of it; lower is more natural.",
        f"TensorBoard of every training run: tensorboard --logdir {logs}",
    ]
    table = write_results(
        args.out, report, class_names, args.per_class, emotion.SAMPLE_RATE, examples, intro
    )
    print(table)
    wins = sum(c["fd"] < c["fd_direct"] for p in report["pairs"] for c in p["classes"])
    total = sum(len(p["classes"]) for p in report["pairs"])
    print(
        f"[study] latent dreams more natural than direct dreams in {wins}/{total} (pair, class) cases"
    )
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
    parser.add_argument("--classifier-steps", type=int, default=200)
    parser.add_argument("--gan-steps", type=int, default=1000)
    parser.add_argument("--dream-steps", type=int, default=300)
    parser.add_argument(
        "--per-class", type=int, default=8, help="dreams per class (Fréchet needs >= 2)"
    )
    parser.add_argument(
        "--prior-weight", type=float, default=1.0, help="weight of |z|^2/D (seed 000: 100)"
    )
    parser.add_argument(
        "--am-learning-rate",
        type=float,
        default=0.05,
        help="Adam rate of the latent AM, decaying by 0.99 a step (seed 000: 0.01)",
    )
    parser.add_argument("--fresh", action="store_true", help="train every model again from scratch")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    for name in ("classifier_steps", "gan_steps", "dream_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.per_class < 2:
        parser.error("--per-class must be at least 2 (a Fréchet distance needs two dreams)")
    import_tensorflow_quietly()
    run_guarded(run, args)


if __name__ == "__main__":
    main()
