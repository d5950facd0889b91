"""``tfam deepdream``: amplify what a layer hears (or sees) in a real input, from the command line.

    tfam deepdream model.keras dog.wav --layer conv3 --steps 50 --octaves 3 --out runs/deepdream
    tfam deepdream digits.keras seven.png --layer conv2

A 1-D (waveform) model takes a WAV file, fitted as every tfam command fits a clip
(tfam.audio.fitting: mixed down to mono and resampled to ``--sample-rate``, with a note; centred on
the model's input length when that is fixed, ``--offset`` to choose, or zero-padded; whole when the
model takes any length); a 2-D model takes a PNG or JPEG image, scaled to
[0, 1] and resized to the model's input size when that is fixed. The dream is ``tfam.deepdream``:
gradient ascent on the sum of the layers' mean squared activations, octave by octave.
"""

import argparse
import dataclasses
import os
import time

import numpy as np

# light imports only: cli.main.build_parser calls add_parser before TensorFlow is (quietly) imported
from tfam import audio, outputs
from tfam.cli.common import (
    add_audio_input_arguments,
    add_model_arguments,
    add_output_arguments,
    non_finite_policy,
    show_notes,
)
from tfam.layout import layout_of

AUDIO_RANGE = (-1.0, 1.0)
# Sounds: steps of 0.1 of the clip's RMS, at the clip's own time scale, rolled by at most 20 ms a
# step (rolls anywhere in the input moved the 13 windows seed 002's front end hears onto padding and
# unheard seconds most steps). On real recordings (README, deep dream of sounds) with the loudness
# kept, the layer's mean square rose 1.6-4x in 100 steps; with the image settings (0.01, 3 octaves,
# rolls anywhere) 1.1-1.3x, and the octaves' resizing is a pitch shift that helped nothing.
AUDIO_STEP_SIZE = 0.1
AUDIO_OCTAVES = 1
AUDIO_MAX_ROLL_SECONDS = 0.02
IMAGE_RANGE = (0.0, 1.0)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
LISTED_LAYERS = 8  # how many layer names an unknown-layer error shows


def add_parser(commands):
    """Add the ``deepdream`` subcommand to the subparsers object of ``tfam.cli.main.build_parser``."""
    p = commands.add_parser(
        "deepdream",
        help="deep dream: amplify what a layer hears or sees in a real input",
        description="Amplify what the given layers respond to in a WAV file (1-D models) or a PNG/JPEG "
        "image (2-D models); writes dream.wav or dream.png and summary.json.",
    )
    add_model_arguments(p)
    p.add_argument("input", help="WAV file (1-D waveform models) or PNG/JPEG image (2-D models)")
    target = p.add_argument_group("target")
    target.add_argument(
        "--layer",
        action="append",
        required=True,
        help="layer whose mean squared activation to raise; repeat the flag or give "
        "comma-separated names for several (their sum)",
    )
    target.add_argument(
        "--layer-weight",
        action="append",
        default=None,
        help="weight of each --layer, in the same order (repeat or comma-separate; default 1 each)",
    )
    opts = p.add_argument_group("dream")
    opts.add_argument("--steps", type=int, default=50, help="steps per octave (default 50)")
    opts.add_argument(
        "--step-size",
        type=float,
        default=None,
        help="step on the std-normalized gradient (default: 0.01 for images; for sounds "
        f"{AUDIO_STEP_SIZE:g} of the clip's RMS)",
    )
    opts.add_argument(
        "--octaves",
        type=int,
        default=None,
        help="number of scales, the smallest first, ending at the input's size (default: 3 for "
        f"images, {AUDIO_OCTAVES} for sounds)",
    )
    opts.add_argument(
        "--keep-loudness",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="sounds: keep the clip's RMS and peak after every step (default: on)",
    )
    opts.add_argument("--octave-scale", type=float, default=1.3, help="size ratio between octaves")
    opts.add_argument(
        "--tile-size",
        default=None,
        help="cut the input into tiles of this many samples (or 'H,W' pixels) for the "
        "model; default: the model's fixed input size, or the whole input",
    )
    opts.add_argument("--seed", type=int, default=0, help="seed of the random rolls")
    opts.add_argument(
        "--spatial-rank",
        type=int,
        choices=[1, 2],
        default=None,
        help="1 for audio, 2 for images, when the model's input shape does not tell",
    )
    out = p.add_argument_group("input and output")
    out.add_argument(
        "--sample-rate",
        type=int,
        default=8000,
        help="the model's sample rate for 1-D models (default 8000): the WAV is resampled "
        "to it and the dream written at it",
    )
    add_audio_input_arguments(out)
    add_output_arguments(out, "runs/deepdream", tensorboard=False)
    return p


# ----------------------------------------------------------------------------- arguments


def _split(values):
    """['a,b', 'c'] -> ['a', 'b', 'c']."""
    return [t.strip() for v in values for t in str(v).split(",") if t.strip()]


def parse_layers(layer_args, weight_args):
    """(names, weights) from the repeated / comma-separated --layer and --layer-weight values."""
    names = _split(layer_args or [])
    if not names:
        raise ValueError("no layer given: --layer NAME")
    if not weight_args:
        return names, [1.0] * len(names)
    tokens = _split(weight_args)
    try:
        weights = [float(t) for t in tokens]
    except ValueError:
        raise ValueError(f"--layer-weight must be numbers, got '{','.join(tokens)}'") from None
    if len(weights) != len(names):
        raise ValueError(
            f"{len(weights)} --layer-weight value(s) for {len(names)} layer(s): give one "
            "weight per layer"
        )
    if not all(np.isfinite(weights)):
        raise ValueError(f"--layer-weight must be finite, got '{','.join(tokens)}'")
    return names, weights


def parse_tile_size(spec, spatial_rank):
    if spec is None:
        return None
    try:
        sizes = [int(t) for t in str(spec).split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"--tile-size must be an integer or 'H,W', got '{spec}'") from None
    if len(sizes) == 1:
        sizes = sizes * spatial_rank
    if len(sizes) != spatial_rank or min(sizes) < 1:
        raise ValueError(
            f"--tile-size must be one positive integer or {spatial_rank} of them, got '{spec}'"
        )
    return tuple(sizes)


def octave_exponents(count):
    """3 -> (-2, -1, 0): from the smallest scale up to the input's own size."""
    return tuple(range(1 - count, 1))


def build_objective(model, names, weights):
    """The weighted sum of the layers' mean squares; unknown names fail with a few known ones."""
    from tfam import objectives
    from tfam.surgery import layer_names

    known = layer_names(model)
    for name in names:
        if name not in known:
            close = [n for n in known if name in n or n in name] or known
            shown = ", ".join(close[:LISTED_LAYERS]) + (
                ", ..." if len(close) > LISTED_LAYERS else ""
            )
            raise ValueError(f"unknown layer '{name}'; the model's layers include: {shown}")
    total = None
    for name, weight in zip(names, weights):
        term = objectives.layer(name) if weight == 1.0 else weight * objectives.layer(name)
        total = term if total is None else total + term
    return total


# ----------------------------------------------------------------------------- inputs


def input_kind(path):
    """'audio' or 'image' from the file's first bytes (else its suffix); OSError when missing."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such input file: {path}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory, not a WAV or image file")
    with open(path, "rb") as f:
        head = f.read(12)
    if head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE":
        return "audio"
    if head[:8] == b"\x89PNG\r\n\x1a\n" or head[:3] == b"\xff\xd8\xff":
        return "image"
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".wav":
        return "audio"  # a broken WAV: tfam.audio says what is wrong with it
    if suffix in IMAGE_SUFFIXES:
        raise ValueError(f"{path} is not a readable {suffix[1:].upper()} image")
    raise ValueError(f"{path} is neither a WAV file nor a PNG/JPEG image")


def check_finite(x, path):
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{path} contains NaN or infinite values")
    return x


def clip_heard_span(model):
    """The span of a fixed-length waveform model's input that it hears (tfam.audio.heard), or None
    for a model of any length (it hears the whole clip)."""
    from tfam.audio.heard import heard_span

    return heard_span(model) if model.inputs[0].shape[1] is not None else None


def load_waveform(
    path, sample_rate, model_shape, layout, offset_seconds=None, non_finite="refuse", heard=None
):
    """The WAV as float32 (samples[, C]) at ``sample_rate``, fitted to the model as every tfam
    command fits a clip (tfam.audio.fitting); notes; and the mask of the samples a dream may
    change (1): those the model hears (``heard``, (start, stop)) that hold the clip, not padding."""
    from tfam.audio.fitting import read_clip

    fitted = read_clip(path, sample_rate, model_shape[0], offset_seconds, non_finite, heard)
    x, notes = fitted.x, list(fitted.notes)
    mask = np.zeros(len(x), np.float32)
    start, stop = fitted.sounding
    if heard is not None:
        start, stop = max(start, heard[0]), min(stop, heard[1])
    mask[start:stop] = 1.0
    if layout.channel_axis is not None:
        channels = model_shape[-1]
        x = x[:, None]
        if channels not in (None, 1):
            notes.append(f"the model takes {channels} channels: the mono input is copied to each")
            x = np.repeat(x, channels, axis=1)
    return x.astype(np.float32), notes, mask


def read_image(path):
    """An image file as float32 in [0, 1], (H, W) or (H, W, 3|4)."""
    import matplotlib.image

    try:
        image = np.asarray(matplotlib.image.imread(path))
    except Exception as error:  # PIL and matplotlib raise many kinds
        raise ValueError(
            f"{path} is not a readable image ({str(error).strip() or type(error).__name__})"
        ) from None
    if image.dtype.kind in "ui":
        image = image.astype(np.float32) / float(np.iinfo(image.dtype).max)
    image = np.asarray(image, np.float32)
    if image.ndim not in (2, 3) or image.size == 0:
        raise ValueError(
            f"{path} is not an image of shape (H, W) or (H, W, channels): {image.shape}"
        )
    return check_finite(image, path)


def load_image(path, model_shape, layout):
    """The image as float32 (H, W[, C]) in [0, 1] with the model's channels and fixed size; notes."""
    from tfam.deep_dream import resize

    image = read_image(path)
    notes = []
    if image.ndim == 3:
        image = image[..., :3]  # drop alpha
    channels = model_shape[-1] if layout.channel_axis is not None else 1
    if channels in (1, None):
        if image.ndim == 3:
            image = image.mean(axis=-1)
        image = image[..., None]
    elif channels == 3:
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
    else:
        raise ValueError(
            f"the model takes images with {channels} channels; tfam deepdream reads "
            "grayscale or RGB images"
        )
    size = tuple(model_shape[:2])
    if all(s is not None for s in size) and image.shape[:2] != size:
        notes.append(
            f"the image is {image.shape[0]}x{image.shape[1]}; the model takes "
            f"{size[0]}x{size[1]}: resized"
        )
        image = resize(image, size).numpy()
    if layout.channel_axis is None:
        image = image[..., 0]
    return np.clip(image, 0.0, 1.0).astype(np.float32), notes


# ----------------------------------------------------------------------------- the command


def _spectrogram_writer():
    try:
        from tfam.report.summaries import write_spectrogram_png
    except ImportError:
        return None
    return write_spectrogram_png


def check_options(args):
    """The numeric options, checked before anything loads."""
    if args.steps < 1:
        raise ValueError(f"--steps must be at least 1, got {args.steps}")
    if args.step_size is not None and (args.step_size <= 0 or not np.isfinite(args.step_size)):
        raise ValueError(f"--step-size must be positive, got {args.step_size}")
    if args.octaves is not None and args.octaves < 1:
        raise ValueError(f"--octaves must be at least 1, got {args.octaves}")
    if not args.octave_scale > 0:
        raise ValueError(f"--octave-scale must be positive, got {args.octave_scale}")
    if args.sample_rate <= 0:
        raise ValueError(f"--sample-rate must be positive, got {args.sample_rate}")


@dataclasses.dataclass
class Job:
    """A deep dream to run: the model, what to raise, the input fitted to the model."""

    model: object
    objective: object
    kind: str  # "audio" or "image"
    layout: object
    x: np.ndarray
    notes: list
    value_range: tuple
    tile_size: tuple | None
    mask: np.ndarray | None = None  # sounds: the samples a dream may change (see load_waveform)


def load(args, names, weights):
    """The model and the input, checked against each other."""
    from tfam.cli.common import load_user_model

    kind = input_kind(args.input)
    model = load_user_model(args)
    if len(model.inputs) != 1:
        raise ValueError(f"the model takes {len(model.inputs)} inputs; tfam deepdream needs one")
    input_shape = tuple(model.inputs[0].shape)
    layout = layout_of(input_shape, args.spatial_rank)
    model_shape = input_shape[1:]
    wanted = "audio" if layout.spatial_rank == 1 else "image"
    if kind != wanted:
        given = "a WAV file" if kind == "audio" else "an image"
        need = "a WAV file" if wanted == "audio" else "a PNG or JPEG image"
        raise ValueError(
            f"{args.input} is {given} but the model takes "
            f"{'1-D audio' if wanted == 'audio' else '2-D'} input of shape "
            f"{('batch',) + model_shape}: give {need}"
        )
    objective = build_objective(model, names, weights)
    tile_size = parse_tile_size(args.tile_size, layout.spatial_rank)
    model_spatial = [input_shape[a] for a in layout.spatial_axes]
    if tile_size is None and all(m is not None for m in model_spatial):
        tile_size = tuple(model_spatial)  # the octaves' other sizes go through the model in tiles
    if kind != "audio" and args.offset is not None:
        raise ValueError("--offset is for sounds; the input is an image")
    mask = None
    if kind == "audio":
        x, notes, mask = load_waveform(
            args.input,
            args.sample_rate,
            model_shape,
            layout,
            args.offset,
            non_finite_policy(args),
            clip_heard_span(model),
        )
        if not mask.any():
            raise ValueError(
                "the model hears none of the clip (it lies outside what it listens to)"
            )
    else:
        x, notes = load_image(args.input, model_shape, layout)
    return Job(
        model,
        objective,
        kind,
        layout,
        x,
        notes,
        AUDIO_RANGE if kind == "audio" else IMAGE_RANGE,
        tile_size,
        mask,
    )


def compute(args, job):
    """(dream, objective before, after, seconds)."""
    from tfam.deep_dream import deepdream, tiled_objective

    octaves = octave_exponents(args.octaves)
    if not args.quiet:
        size = "x".join(str(n) for n in job.x.shape[: job.layout.spatial_rank])
        tiles = f" in tiles of {'x'.join(map(str, job.tile_size))}" if job.tile_size else ""
        print(
            f"dreaming {job.objective.name}: {len(octaves)} octave(s) of {args.steps} steps on "
            f"{size} {'samples' if job.kind == 'audio' else 'pixels'}{tiles}",
            flush=True,
        )

    # The objective per tile, a few tiles per call: a long clip in one call would hold all its
    # activations at once and could not be interrupted.
    def score(x):
        return tiled_objective(
            job.model, job.objective, x, job.tile_size, spatial_rank=args.spatial_rank
        )

    before, started = score(job.x), time.perf_counter()
    dream = deepdream(
        job.model,
        job.objective,
        job.x,
        steps=args.steps,
        step_size=args.step_size,
        octaves=octaves,
        octave_scale=args.octave_scale,
        tile_size=job.tile_size,
        value_range=job.value_range,
        spatial_rank=args.spatial_rank,
        seed=args.seed,
        verbose=not args.quiet,
        mask=job.mask,
        keep_loudness=job.kind == "audio" and args.keep_loudness,
        max_roll=round(AUDIO_MAX_ROLL_SECONDS * args.sample_rate) if job.kind == "audio" else None,
    )
    seconds = time.perf_counter() - started
    if not np.all(np.isfinite(dream)):
        raise FloatingPointError(
            "the dream became NaN or infinite: the model produced non-finite "
            "gradients; lower --step-size"
        )
    return dream, before, score(dream), seconds


def write(args, names, weights, job, dream, before, after, seconds):
    """input and dream as WAV + spectrogram PNG (audio) or PNG (images), and summary.json."""
    files, name = [], job.objective.name
    if job.kind == "audio":
        for stem, wave in (("input", job.x), ("dream", dream)):
            audio.write_wav(os.path.join(args.out, stem + ".wav"), wave, args.sample_rate)
            files.append(stem + ".wav")
        write_spectrogram = _spectrogram_writer()
        changed = np.flatnonzero(job.mask)
        # the part the dream could change: heard by the model and holding the clip
        span = [int(changed[0]) / args.sample_rate, (int(changed[-1]) + 1) / args.sample_rate]
        if write_spectrogram is not None:
            for stem, wave, value in (("input", job.x, before), ("dream", dream, after)):
                write_spectrogram(
                    os.path.join(args.out, stem + ".png"),
                    wave,
                    args.sample_rate,
                    title=f"{stem}: {name} = {value:.4g}",
                    heard=[round(t, 3) for t in span],
                    span_label="dreamed",
                )
                files.append(stem + ".png")
    else:
        for stem, image in (("input", job.x), ("dream", dream)):
            outputs.write_png(os.path.join(args.out, stem + ".png"), image, job.value_range)
            files.append(stem + ".png")
    summary = {
        "model": os.path.abspath(args.model),
        "input": os.path.abspath(args.input),
        "layers": [{"name": n, "weight": w} for n, w in zip(names, weights)],
        "objective": name,
        "steps": args.steps,
        "step_size": args.step_size,
        "octaves": list(octave_exponents(args.octaves)),
        "octave_scale": args.octave_scale,
        "tile_size": None if job.tile_size is None else list(job.tile_size),
        "seed": args.seed,
        "shape": list(job.x.shape),
        "seconds": round(seconds, 3),
        "objective_before": before,
        "objective_after": after,
        "notes": job.notes,
        "files": files + ["summary.json"],
    }
    if job.kind == "audio":
        summary.update(
            sample_rate=args.sample_rate,
            keep_loudness=bool(args.keep_loudness),
            # the samples the dream could change: heard by the model and part of the clip
            dreamed_seconds=[round(t, 3) for t in span],
            rms_before=float(np.sqrt(np.mean(np.square(job.x, dtype=np.float64)))),
            rms_after=float(np.sqrt(np.mean(np.square(dream, dtype=np.float64)))),
        )
    outputs.write_json(os.path.join(args.out, "summary.json"), summary)
    return summary


def run(args):
    """``tfam deepdream``: check, load, compute, write."""
    check_options(args)
    names, weights = parse_layers(args.layer, args.layer_weight)
    input_kind(args.input)  # a missing or unknown input fails before the model loads
    job = load(args, names, weights)
    sound = job.kind == "audio"
    if args.step_size is None:
        args.step_size = AUDIO_STEP_SIZE if sound else 0.01
    if args.octaves is None:
        args.octaves = AUDIO_OCTAVES if sound else 3
    show_notes(job.notes)
    dream, before, after, seconds = compute(args, job)
    summary = write(args, names, weights, job, dream, before, after, seconds)
    print(
        f"{job.objective.name}: {before:.5g} -> {after:.5g}; wrote "
        f"{', '.join(summary['files'][:-1])} and summary.json to {args.out}"
    )
    return summary


__all__ = ["add_parser", "run", "check_options", "load", "compute", "write"]
