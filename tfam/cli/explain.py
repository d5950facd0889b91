"""``tfam explain``: an attribution map of an audio model for one clip, the salient audio, and how
the model's prediction changes without the rest (seed 003's explanation, from the command line).

    tfam explain model.keras dog.wav --method gradcam --out runs/explain
    tfam explain model.keras dog.wav --method scorecam --class dog_bark --threshold none
    tfam explain model.keras dog.wav --method integrated-gradients --baseline silence

Writes to --out: map.png (the map over the spectrogram the model sees), masked.png (the clip's
log-mel, the salient part kept, and removed), input.wav (the clip as the model hears it),
salient_griffin_lim.wav and salient_optimized.wav (the salient part made audible by Griffin-Lim and
by waveform optimization), removed_griffin_lim.wav (the rest), summary.json and TensorBoard events.
summary.json also scores the map (tfam.faithfulness): Deletion and Insertion AUC and MuFidelity,
removing the mel magnitude of the map's cells and resynthesizing, as the salient part is removed.

The WAV is read at any rate and channel count: other rates are resampled to the model's
(band-limited, tfam.audio) and stereo is mixed down to mono, each with a note; a clip longer than
the model hears is centre-cropped, a shorter one zero-padded at the end, also with a note.
"""

import dataclasses
import os

# light imports only: cli.main.build_parser calls add_parser before TensorFlow is (quietly) imported
from tfam import audio, outputs
from tfam.cli.common import (
    add_audio_input_arguments,
    add_model_arguments,
    add_output_arguments,
    non_finite_policy,
    show_notes,
)

# tfam.attribution's (not imported here: it imports TensorFlow; a test checks they agree)
METHODS = (
    "gradcam",
    "gradcam++",
    "layercam",
    "scorecam",
    "saliency",
    "smoothgrad",
    "smoothgrad-squared",
    "vargrad",
    "gradient-input",
    "integrated-gradients",
    "occlusion",
    "rise",
)
SMOOTH_METHODS = ("saliency", "smoothgrad", "smoothgrad-squared", "vargrad")
BASELINE_METHODS = ("integrated-gradients", "occlusion", "rise")
BASELINES = ("zeros", "silence", "blurred", "noise")
BACKENDS = ("auto", "tf-keras-vis", "tfam")


def add_parser(commands):
    """Add the ``explain`` subcommand to the subparsers object of ``tfam.cli.main.build_parser``."""
    p = commands.add_parser(
        "explain",
        help="attribution map of an audio model for a clip, and its salient audio",
        description="Compute an attribution map of a model for a WAV file (gradients, integrated "
        "gradients, SmoothGrad, occlusion, RISE or a class activation map), mask the clip's "
        "log-mel with it, turn the salient part back into sound (Griffin-Lim and waveform "
        "optimization), report the model's probability for the target on the clip, on the "
        "salient part and on the rest, and score the map's faithfulness (Deletion, Insertion, "
        "MuFidelity).",
    )
    add_model_arguments(p)
    p.add_argument(
        "input", help="WAV file (any rate: resampled to the model's; stereo: mixed to mono)"
    )
    p.add_argument(
        "--method", choices=METHODS, default="gradcam", help="attribution method (default gradcam)"
    )
    p.add_argument(
        "--class",
        dest="target",
        default=None,
        help="class index or name to explain (default: the class the model predicts)",
    )
    p.add_argument(
        "--labels",
        help="class names, one per line (default: MODEL.labels.txt beside the model, if present)",
    )
    p.add_argument(
        "--layer",
        default=None,
        help="CAM layer; comma-separated for several streams (default: the last "
        "convolution of every stream)",
    )
    p.add_argument(
        "--threshold",
        default="mean",
        help="'mean' (seed 003: keep the cells at or above the map's mean), 'none' (the map "
        "itself as a soft mask) or a number in [0, 1] (default mean)",
    )
    p.add_argument(
        "--backend",
        choices=BACKENDS,
        default="auto",
        help="who computes the map: tf-keras-vis where it can, else tfam (default auto)",
    )
    p.add_argument(
        "--smooth-samples",
        type=int,
        default=None,
        help="noisy copies: saliency (SmoothGrad of |gradient|; default 0, off), smoothgrad, "
        "smoothgrad-squared, vargrad (default 50)",
    )
    p.add_argument(
        "--baseline",
        choices=BASELINES,
        default=None,
        help="integrated-gradients, occlusion, rise: what the input is compared with or "
        "masked to (default zeros; silence: the front end's output for a silent clip)",
    )
    p.add_argument(
        "--path-steps",
        type=int,
        default=None,
        help="integrated-gradients: points on the path from the baseline (default 50)",
    )
    p.add_argument("--masks", type=int, default=None, help="rise: random masks (default 2000)")
    p.add_argument(
        "--patch",
        default=None,
        help="occlusion: patch size in cells, N or BANDS,FRAMES (default an eighth of each axis)",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=32,
        help="inputs per forward pass (noisy copies, path points, masked inputs; default 32)",
    )
    p.add_argument(
        "--metric-steps",
        type=int,
        default=10,
        help="Deletion and Insertion: points from none to all of the map's cells (default 10)",
    )
    p.add_argument(
        "--fidelity-samples",
        type=int,
        default=32,
        help="MuFidelity: random subsets of cells removed (default 32; 0: skip it)",
    )
    p.add_argument(
        "--sample-rate",
        type=int,
        default=None,
        help="the rate of a model on bare samples (default 22050, seed 000's raw "
        "classifier); models with a spectrogram front end or input know their own",
    )
    p.add_argument(
        "--steps", type=int, default=500, help="steps of the waveform optimization (default 500)"
    )
    p.add_argument("--griffin-lim-iterations", type=int, default=32, help="default 32")
    p.add_argument("--seed", type=int, default=0)
    add_audio_input_arguments(p)
    add_output_arguments(p, "runs/explain")
    return p


# ----------------------------------------------------------------------------- arguments


def parse_threshold(spec):
    """'mean' | 'none' | a number in [0, 1]."""
    spec = str(spec).strip().lower()
    if spec in ("mean", "none"):
        return spec
    try:
        value = float(spec)
    except ValueError:
        value = None
    if value is None or not 0.0 <= value <= 1.0:
        raise ValueError(f"--threshold must be 'mean', 'none' or a number in [0, 1], got '{spec}'")
    return value


def parse_patch(spec):
    """'N' or 'BANDS,FRAMES' -> an int or a tuple of ints (None stays None)."""
    if spec is None:
        return None
    try:
        sizes = tuple(int(t) for t in str(spec).split(","))
    except ValueError:
        sizes = ()
    if not sizes or any(n < 1 for n in sizes):
        raise ValueError(f"--patch must be N or BANDS,FRAMES of positive integers, got '{spec}'")
    return sizes[0] if len(sizes) == 1 else sizes


# a method's own flags: each is refused with the other methods, which would ignore it
METHOD_FLAGS = (
    ("--smooth-samples", "smooth_samples", SMOOTH_METHODS),
    ("--baseline", "baseline", BASELINE_METHODS),
    ("--path-steps", "path_steps", ("integrated-gradients",)),
    ("--masks", "masks", ("rise",)),
    ("--patch", "patch", ("occlusion",)),
)


def check_options(args):
    for flag, value, least in (
        ("--steps", args.steps, 1),
        ("--griffin-lim-iterations", args.griffin_lim_iterations, 1),
        ("--batch-size", args.batch_size, 1),
        ("--smooth-samples", args.smooth_samples, 0),
        ("--path-steps", args.path_steps, 1),
        ("--masks", args.masks, 1),
        ("--metric-steps", args.metric_steps, 1),
        ("--fidelity-samples", args.fidelity_samples, 0),
    ):
        if value is not None and value < least:
            raise ValueError(f"{flag} must be at least {least}, got {value}")
    if args.sample_rate is not None and args.sample_rate < 1:
        raise ValueError(f"--sample-rate must be positive, got {args.sample_rate}")
    if args.fidelity_samples == 1:
        raise ValueError("--fidelity-samples must be 0 (skip) or at least 2, got 1")
    for flag, name, methods in METHOD_FLAGS:
        if getattr(args, name) is not None and args.method not in methods:
            raise ValueError(f"{flag} is for --method {', '.join(methods)}")
    parse_patch(args.patch)
    return parse_threshold(args.threshold)


def method_options(args):
    """attribute()'s settings from the flags (the defaults where a flag is not given)."""
    options = dict(batch_size=args.batch_size, seed=args.seed)
    for key, value in (
        ("smooth_samples", args.smooth_samples),
        ("baseline", args.baseline),
        ("steps", args.path_steps),
        ("masks", args.masks),
        ("patch", parse_patch(args.patch)),
    ):
        if value is not None:
            options[key] = value
    return options


def class_names(args, n_classes):
    from tfam.cli.dream import default_labels_path, read_labels

    path = args.labels or default_labels_path(args.model)
    if not (args.labels or os.path.exists(path)):
        return [str(i) for i in range(n_classes)]
    labels = read_labels(path)
    if len(labels) != n_classes:
        raise ValueError(f"{len(labels)} labels in {path} for a model with {n_classes} classes")
    return labels


def parse_target(spec, names):
    """A class index or name -> its index (None: the predicted class)."""
    if spec is None:
        return None
    from tfam.cli.dream import parse_classes

    rows, _ = parse_classes(spec, len(names), names)
    if len(rows) != 1 or len(rows[0]) != 1:
        raise ValueError(f"--class takes one class, got '{spec}'")
    return rows[0][0]


def read_clip(path, hear, offset_seconds=None, non_finite="refuse", heard=None):
    """The WAV as the model hears it (tfam.audio.fitting: mono, the model's rate and length; a
    short clip placed in the ``heard`` span)."""
    from tfam.audio.fitting import read_clip as fit

    return fit(path, hear.sample_rate, hear.samples, offset_seconds, non_finite, heard)


# ----------------------------------------------------------------------------- the command


def _layers(spec):
    if spec is None:
        return None
    names = [t.strip() for t in spec.split(",") if t.strip()]
    if not names:
        raise ValueError("--layer is empty")
    return names


def write_tensorboard(logdir, figures, clips, sample_rate, scores):
    import tensorflow as tf

    from tfam.report.explain_plots import log_figures
    from tfam.report.summaries import log_audio, log_scalars

    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default():
        for name, fig in figures.items():
            log_figures(f"explain/{name}", [fig], step=0)
        for name, clip in clips.items():
            log_audio(f"audio/{name}", clip[None], sample_rate, step=0, max_outputs=1)
        log_scalars({f"probability/{k}": v for k, v in scores.items()}, step=0)
    writer.flush()
    writer.close()


@dataclasses.dataclass
class Explanation:
    """What ``tfam explain`` computed for one clip."""

    clip: object  # the clip as the model hears it
    notes: list  # how it was fitted to the model
    names: list  # class names
    target: int
    attribution: object  # tfam.attribution's result
    salient: object  # salient_audio's result
    p_all: object  # the model's probabilities for the clip
    faithfulness: dict  # the map's Deletion, Insertion and MuFidelity (see faithfulness())


def load(args):
    """(model, how it hears) from the arguments; the model's rate must agree with --sample-rate."""
    from tfam.audio import salient as sa
    from tfam.cli.common import load_user_model

    model = load_user_model(args)
    shape = tuple(model.inputs[0].shape[1:])
    if shape and shape[0] is None and None not in shape[1:]:  # any length: the clip's own
        from tfam import audio
        from tfam.surgery import fix_input_size

        rate = args.sample_rate or sa.RAW_SAMPLE_RATE
        if args.offset is not None:
            raise ValueError("--offset is for models of a fixed input length; this one takes any")
        clip = audio.load_audio(args.input, rate, non_finite=non_finite_policy(args))
        model = fix_input_size(model, (len(clip),) + shape[1:])
    hear = sa.hearing(model, args.sample_rate)
    if (
        args.sample_rate is not None
        and hear.kind != "waveform"
        and args.sample_rate != hear.sample_rate
    ):
        raise ValueError(
            f"the model hears {hear.sample_rate} Hz (its front end fixes the rate); "
            f"--sample-rate {args.sample_rate} does not apply"
        )
    return model, hear


def compute(args, model, hear, threshold):
    """The attribution map of the clip and the salient audio it selects."""
    import numpy as np

    from tfam.attribution import attribute
    from tfam.audio import salient as sa
    from tfam.audio.heard import heard_span

    takes_waveform = hear.frontend is not None or hear.kind == "waveform"
    heard = heard_span(model) if takes_waveform else None
    fitted = read_clip(args.input, hear, args.offset, non_finite_policy(args), heard)
    clip, notes = fitted.x, list(fitted.notes)
    show_notes(notes)
    names = class_names(args, model.outputs[0].shape[-1])
    att = attribute(
        model,
        np.asarray(hear.model_input(clip[None])),
        args.method,
        target=parse_target(args.target, names),
        layers=_layers(args.layer),
        backend=args.backend,
        **method_options(args),
    )
    salient = sa.salient_audio(
        model,
        hear,
        clip[None],
        att.maps,
        att.targets,
        threshold=threshold,
        steps=args.steps,
        n_iter=args.griffin_lim_iterations,
        seed=args.seed,
        verbose=0 if args.quiet else 1,
    )
    return Explanation(
        clip,
        notes,
        names,
        int(att.targets[0]),
        att,
        salient,
        sa.probabilities(model, hear, clip[None])[0],
        faithfulness(args, model, hear, clip, att),
    )


def faithfulness(args, model, hear, clip, att):
    """Deletion, Insertion (AUC and curve) and MuFidelity of the map for the clip, removing the
    mel magnitude of its cells and resynthesizing by Griffin-Lim, as the salient part is removed
    (tfam.faithfulness, tfam.audio.salient.mel_removal)."""
    from tfam import faithfulness as ff
    from tfam.audio import salient as sa

    removal = sa.mel_removal(hear, n_iter=args.griffin_lim_iterations)
    options = dict(perturbation=removal, batch_size=args.batch_size)
    clips = clip[None]
    scores = {"perturbation": removal.name, "score": "probability of the target"}
    for name, metric in (("deletion", ff.deletion), ("insertion", ff.insertion)):
        curve = metric(model, clips, att.maps, att.targets, steps=args.metric_steps, **options)
        scores[name] = float(curve.auc[0])
        scores[f"{name}_curve"] = {
            "fractions": [round(float(f), 4) for f in curve.fractions],
            "probabilities": [float(v) for v in curve.scores[0]],
        }
    if args.fidelity_samples:
        rho = ff.mu_fidelity(
            model,
            clips,
            att.maps,
            att.targets,
            samples=args.fidelity_samples,
            seed=args.seed,
            **options,
        )
        scores["mu_fidelity"] = float(rho[0])
        scores["mu_fidelity_samples"] = args.fidelity_samples
    return scores


def write(args, hear, e, threshold):
    """PNGs of the map and the masked log-mel, the WAVs, TensorBoard events and summary.json."""
    from tfam.audio import salient as sa
    from tfam.report.explain_plots import map_figure, masked_figure, write_png

    att, result, name = e.attribution, e.salient, e.names[e.target]
    title = f"{args.method} for '{name}' ({os.path.basename(args.input)})"
    figures = {
        "map": map_figure(
            att.features[0],
            att.maps[0],
            hear.times,
            hear.freqs,
            hear.freq_scale,
            title=title,
            sample_rate=hear.sample_rate,
        ),
        "masked": masked_figure(
            result.log_mel[0],
            result.keep_log_mel[0],
            result.remove_log_mel[0],
            *sa.mel_grid(result.settings, hear.samples),
            title=f"salient part of '{name}' (threshold {threshold})",
        ),
    }
    files = []
    for key, fig in figures.items():
        write_png(os.path.join(args.out, f"{key}.png"), fig)
        files.append(f"{key}.png")
    clips = {
        "input": e.clip,
        "salient_griffin_lim": result.keep_audio[0],
        "salient_optimized": result.optimized_audio[0],
        "removed_griffin_lim": result.remove_audio[0],
    }
    for key, wave in clips.items():
        audio.write_wav(os.path.join(args.out, f"{key}.wav"), wave, hear.sample_rate)
        files.append(f"{key}.wav")
    scores = {k: float(v[0]) for k, v in result.probabilities.items()}
    tensorboard = args.tensorboard or os.path.join(args.out, "tensorboard")
    if tensorboard != "none":
        write_tensorboard(tensorboard, figures, clips, hear.sample_rate, scores)
    predicted = int(e.p_all.argmax())
    summary = {
        "model": os.path.abspath(args.model),
        "input": os.path.abspath(args.input),
        "method": args.method,
        "backend": att.backend,
        "layers": list(att.layers),
        "frontend": att.frontend,
        "target": {"index": e.target, "name": name},
        "predicted": {"index": predicted, "name": e.names[predicted]},
        "probabilities": scores,
        "keep_minus_remove": scores["keep"] - scores["remove"],
        "faithfulness": e.faithfulness,
        "options": method_options(args),
        "threshold": threshold,
        "sample_rate": hear.sample_rate,
        "samples": hear.samples,
        "log_mel": result.settings,
        "optimization": {
            "steps": args.steps,
            "log_mel_rms_error": {k: float(v[0]) for k, v in result.optimized_error.items()},
        },
        "griffin_lim_iterations": args.griffin_lim_iterations,
        "notes": e.notes,
        "tensorboard": None if tensorboard == "none" else tensorboard,
        "files": files + ["summary.json"],
    }
    outputs.write_json(os.path.join(args.out, "summary.json"), summary)
    return summary


def run(args):
    """``tfam explain``: load, compute, write, and a two-line report."""
    threshold = check_options(args)
    _layers(args.layer)  # a bad --layer fails before the model loads
    model, hear = load(args)
    summary = write(args, hear, compute(args, model, hear, threshold), threshold)
    scores, error = summary["probabilities"], summary["optimization"]["log_mel_rms_error"]
    print(
        f"{args.method} ({summary['backend']}) for '{summary['target']['name']}': p = "
        f"{scores['original']:.3f} on the clip, {scores['keep']:.3f} on the salient part, "
        f"{scores['remove']:.3f} without it (Griffin-Lim of the whole clip: {scores['resynth']:.3f}); "
        f"optimized waveform: log-mel RMS error {error['start']:.2f} -> {error['final']:.2f} "
        f"(Griffin-Lim {error['griffin_lim']:.2f}), p = {scores['optimized']:.3f}"
    )
    metrics = summary["faithfulness"]
    fidelity = metrics.get("mu_fidelity")
    print(
        f"faithfulness (mel magnitude removed): Deletion AUC {metrics['deletion']:.3f}, "
        f"Insertion AUC {metrics['insertion']:.3f}"
        + (f", MuFidelity {fidelity:.3f}" if fidelity is not None else "")
    )
    print(f"wrote {', '.join(summary['files'][:-1])} and summary.json to {args.out}")
    return summary


__all__ = ["add_parser", "run", "load", "compute", "faithfulness", "write"]
