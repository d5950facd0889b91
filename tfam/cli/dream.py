"""``tfam dream``: activation maximization of a saved Keras model from the command line."""

import dataclasses
import os

from tfam import audio, objectives, outputs
from tfam import params as param_lib
from tfam import regularizers as reg
from tfam import transforms as tr
from tfam.audio.heard import heard_span
from tfam.cli.common import load_user_model, show_notes
from tfam.engine import dream
from tfam.layout import layout_of
from tfam.surgery import ensemble, fix_input_size, layer_shape


def read_labels(path):
    with open(path, encoding="utf-8") as f:
        labels = [line.strip() for line in f if line.strip()]
    if not labels:
        raise ValueError(f"the labels file {path} is empty")
    return labels


def default_labels_path(model_path):
    return os.path.splitext(os.path.normpath(model_path))[0] + ".labels.txt"


def parse_classes(spec, n_classes, labels):
    """'3', '3,7', '1+7', 'seven', 'all' -> rows of class indices, and a name for each row."""
    names = labels or [str(i) for i in range(n_classes)]
    if labels and len(labels) != n_classes:
        raise ValueError(f"{len(labels)} labels for a model with {n_classes} classes")

    def index(token):
        token = token.strip()
        if token.lstrip("-").isdigit():
            i = int(token)
            if not 0 <= i < n_classes:
                raise ValueError(f"class {i} is out of range: the model has {n_classes} classes")
            return i
        if token in names:
            return names.index(token)
        raise ValueError(f"unknown class '{token}'; the classes are: {', '.join(names)}")

    if spec.strip() == "all":
        rows = [(i,) for i in range(n_classes)]
    else:
        rows = [
            tuple(index(t) for t in part.split("+")) for part in spec.split(",") if part.strip()
        ]
    if not rows:
        raise ValueError("no class given")
    return rows, ["+".join(names[i] for i in row) for row in rows]


def parse_ints(spec, what):
    try:
        return [int(t) for t in spec.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"{what} must be comma-separated integers, got '{spec}'") from None


def build_objective(args, model):
    """The objective, one label per row and the per-row class targets (or None)."""
    if args.classes is not None and args.layer is not None:
        raise ValueError("give either --class or --layer, not both")
    if args.classes is not None:
        n_classes = model.outputs[0].shape[-1]
        labels_path = args.labels or default_labels_path(args.model)
        labels = read_labels(labels_path) if (args.labels or os.path.exists(labels_path)) else None
        rows, names = parse_classes(args.classes, n_classes, labels)
        return objectives.class_logit(rows), names
    if args.layer is None:
        raise ValueError("no target: give --class, or --layer (with --channel or --neuron)")
    if len(getattr(args, "models", ())) > 1:
        raise ValueError("several models dream classes (--class); a --layer names one model's")
    if args.channel is not None and args.neuron is not None:
        raise ValueError("give either --channel or --neuron, not both")
    if args.channel is not None:
        units = (
            list(range(_layer_width(model, args.layer)))
            if args.channel.strip() == "all"
            else parse_ints(args.channel, "--channel")
        )
        return objectives.channel(args.layer, units), [f"{args.layer} channel {u}" for u in units]
    if args.neuron is not None:
        units = parse_ints(args.neuron, "--neuron")
        return objectives.neuron(args.layer, units), [f"{args.layer} unit {u}" for u in units]
    return objectives.layer(args.layer), [args.layer]


def _layer_width(model, name):
    """The number of channels (last axis) of a layer's output."""
    shape = layer_shape(model, name)
    if not shape or shape[-1] is None:
        raise ValueError(f"layer '{name}' has output shape {shape}: no known channel count")
    return int(shape[-1])


def parse_range(spec, spatial_rank):
    if spec is None:
        return (-1.0, 1.0) if spatial_rank == 1 else (0.0, 1.0)
    try:
        lo, hi = (float(v) for v in spec.split(","))
    except ValueError:
        raise ValueError(f"--range must be 'low,high', got '{spec}'") from None
    if not lo < hi:
        raise ValueError(f"--range low must be below high, got '{spec}'")
    return lo, hi


def _file_stem(i, name):
    safe = "".join(c if c.isalnum() or c in "-_+" else "_" for c in name)
    return f"{i:02d}_{safe}"


def default_sample_rate(model):
    """8000 for models with seed 002's spectrogram layer (tfam's UrbanSound models), else 16000."""
    from tfam.audio.spectrogram import SAMPLE_RATE, SeedSpectrogram

    return (
        SAMPLE_RATE if any(isinstance(layer, SeedSpectrogram) for layer in model.layers) else 16000
    )


def check_recipe_options(args):
    """The options of common.add_recipe_arguments: in range, or a ValueError naming the flag."""
    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be at least 1, got {args.steps}")
    for flag, value in (
        ("--tv", args.tv),
        ("--l1", args.l1),
        ("--jitter", args.jitter),
        ("--max-shift", args.max_shift),
        ("--max-rms", args.max_rms),
        ("--high-band-weight", args.high_band_weight),
    ):
        if value is not None and value < 0:
            raise ValueError(f"{flag} must be 0 (off) or positive, got {value}")
    if args.sample_rate is not None and args.sample_rate < 1:
        raise ValueError(f"--sample-rate must be positive, got {args.sample_rate}")


def _check_options(args):
    check_recipe_options(args)
    if args.batch is not None and args.batch < 1:
        raise ValueError(f"--batch must be at least 1, got {args.batch}")
    if args.max_batch < 1:
        raise ValueError(f"--max-batch must be at least 1, got {args.max_batch}")


def _or(value, default):
    return default if value is None else value


def image_recipe(args, value_range):
    """tfam.dream keyword arguments for 2-D inputs: jitter, total variation, L1."""
    args.param = args.param or "direct"
    if args.param not in ("direct", "fourier"):
        raise ValueError(f"--param {args.param} is for sounds; images take direct or fourier")
    tv, l1, jitter = _or(args.tv, 0.1), _or(args.l1, 0.1), _or(args.jitter, 2)
    param = (
        param_lib.fourier(value_range) if args.param == "fourier" else param_lib.direct(value_range)
    )
    return dict(
        param=param,
        learning_rate=_or(args.learning_rate, 0.05),
        transforms=[tr.jitter(jitter)] if jitter > 0 else [],
        regularizers=[
            r for w, r in ((tv, reg.total_variation(tv)), (l1, reg.lp_norm(l1, p=1))) if w > 0
        ],
    )


def start_of(args, batch, samples, sample_rate, heard):
    """(start waveforms or None, notes) from --start."""
    from tfam.audio.sound_dreams import STARTS, start_waveforms

    if args.start is None or args.start == "noise":
        return None, []
    if args.start in STARTS:
        return start_waveforms(args.start, batch, samples, seed=args.seed), []
    from tfam.audio.fitting import read_clip

    if not os.path.exists(args.start):
        raise OSError(f"no such --start file: {args.start} (or give noise, silence or pink)")
    clip = read_clip(args.start, sample_rate, samples, heard=heard)
    return clip.x, [f"--start: {note}" for note in clip.notes]


def sound_recipe(args, value_range, sample_rate, heard, start=None):
    """tfam.dream keyword arguments for waveforms: tfam.audio.sound_dreams' recipe (+ L1 if asked).
    ``heard``: the samples the model hears (the rest stays silent), or None; ``start``: the
    waveforms to start from (default quiet noise)."""
    from tfam.audio.sound_dreams import audio_recipe

    # a start is a waveform: it needs the samples as the parameters
    args.param = args.param or ("direct" if start is not None else "stft")
    if args.param == "fourier" and args.max_rms > 0:
        raise ValueError(
            "--max-rms needs the direct parameterization; give --max-rms 0 with --param fourier"
        )
    recipe = audio_recipe(
        sample_rate,
        learning_rate=args.learning_rate,
        max_shift_seconds=args.max_shift,
        tv=_or(args.tv, 0.05),
        max_rms=args.max_rms,
        low_pass=args.low_pass,
        high_band_weight=args.high_band_weight,
        cutoff_hz=args.cutoff_hz,
        heard=heard,
        param=args.param,
        start=start,
    )
    if value_range != (-1.0, 1.0):  # --range: direct and Fourier dreams stay within it
        if args.param == "direct":
            noise = recipe["param"].noise
            recipe["param"] = param_lib.direct(value_range, start=start, noise=noise)
        elif args.param == "fourier":
            recipe["param"] = param_lib.fourier(value_range)
    if args.jitter:
        recipe["transforms"].append(tr.jitter(args.jitter))
    if args.l1:
        recipe["regularizers"].append(reg.lp_norm(args.l1, p=1))
    return recipe


@dataclasses.dataclass
class Plan:
    """What ``tfam dream`` will do, decided from the arguments and the model before any step."""

    model: object
    objective: object
    names: list  # one per row
    batch: int
    sound: bool
    value_range: tuple
    sample_rate: int | None
    heard: tuple | None  # (start, stop) samples the model hears, for sounds
    recipe: dict  # tfam.dream keyword arguments
    steps: int
    tensorboard: str  # 'none' for no events


def load(args):
    """The model the arguments name, with one input of fixed size (--seconds for open lengths);
    several models become one ensemble (tfam.surgery.ensemble)."""
    paths = list(args.model) if isinstance(args.model, (list, tuple)) else [args.model]
    args.model, args.models = paths[0], paths  # labels and the summary follow the first
    members = [load_one(args, path) for path in paths]
    if len(members) == 1:
        return members[0]
    if args.sample_rate is None:
        args.sample_rate = default_sample_rate(members[0])
    return ensemble(members)


def load_one(args, path):
    model = load_user_model(args, path=path)
    shape = tuple(model.inputs[0].shape[1:])
    if None not in shape:
        if args.seconds is not None:
            raise ValueError(
                f"--seconds is for models that take sounds of any length; this one takes {shape}"
            )
        return model
    if args.seconds is None:
        raise ValueError(
            f"the model takes input of shape {shape}, of any length: give the dream's length "
            "with --seconds (and --sample-rate)"
        )
    if args.seconds <= 0:
        raise ValueError(f"--seconds must be positive, got {args.seconds}")
    if shape[0] is not None or None in shape[1:]:
        raise ValueError(f"the model takes input of shape {shape}; only the length can be open")
    samples = round(args.seconds * (args.sample_rate or default_sample_rate(model)))
    return fix_input_size(model, (samples,) + shape[1:])


def plan(args, model):
    """Check the arguments against the model: targets, rows, the recipe for images or sounds."""
    _check_options(args)
    layout = layout_of(tuple(model.inputs[0].shape), args.spatial_rank)
    sound = layout.spatial_rank == 1
    value_range = parse_range(args.value_range, layout.spatial_rank)
    objective, names = build_objective(args, model)
    if objective.rows and args.batch is not None:
        raise ValueError("--batch is for a single target; several targets give one row each")
    batch = objective.rows or args.batch or 1
    if objective.rows is None and batch > 1:
        names = [f"{names[0]} #{i}" for i in range(batch)]
    sample_rate = (args.sample_rate or default_sample_rate(model)) if sound else None
    heard = heard_span(model) if sound else None
    if args.start is not None and not sound:
        raise ValueError("--start is for sounds")
    start, notes = (
        start_of(args, batch, model.inputs[0].shape[1], sample_rate, heard) if sound else (None, [])
    )
    show_notes(notes)
    recipe = (
        sound_recipe(args, value_range, sample_rate, heard, start)
        if sound
        else image_recipe(args, value_range)
    )
    return Plan(
        model,
        objective,
        names,
        batch,
        sound,
        value_range,
        sample_rate,
        heard,
        recipe,
        steps=args.steps or (300 if sound else 200),
        tensorboard=args.tensorboard or os.path.join(args.out, "tensorboard"),
    )


def compute(args, p):
    """The dreams (a tfam Result), with TensorBoard events as they come."""
    from tfam.report import summaries

    log = (
        summaries.DreamLog(p.tensorboard, p.names, p.sample_rate, p.value_range)
        if p.tensorboard != "none"
        else None
    )
    result = dream(
        p.model,
        p.objective,
        steps=p.steps,
        batch_size=p.batch,
        seed=args.seed,
        verbose=0 if args.quiet else 1,
        spatial_rank=args.spatial_rank,
        callbacks=[log] if log else [],
        max_batch=args.max_batch,
        **p.recipe,
    )
    if log:
        log.write_history(result)
    return result


def heard_seconds(p):
    """[start, stop] in seconds of the span the model hears (rounded to the millisecond)."""
    return [round(sample / p.sample_rate, 3) for sample in p.heard]


def _write_row(out, i, name, p, result):
    from tfam.report import summaries

    stem, row = _file_stem(i, name), {"target": name}
    if p.sound:
        path, picture = os.path.join(out, stem + ".wav"), os.path.join(out, stem + ".png")
        audio.write_wav(path, result.x[i], p.sample_rate)
        summaries.write_spectrogram_png(
            picture, result.x[i], p.sample_rate, title=name, heard=heard_seconds(p)
        )
        row.update(file=os.path.basename(path), spectrogram=os.path.basename(picture))
    else:
        path = os.path.join(out, stem + ".png")
        outputs.write_png(path, result.x[i], p.value_range)
        row["file"] = os.path.basename(path)
    row.update(
        best_objective=float(result.best_value[i]), final_objective=float(result.history[-1, i])
    )
    if result.target_probability is not None:
        row["probability"] = float(result.target_probability[i])
    return row


def write(args, p, result):
    """WAV + spectrogram PNG per row (sounds) or PNG per row and a grid (images), summary.json."""
    rows = [_write_row(args.out, i, name, p, result) for i, name in enumerate(p.names)]
    if not p.sound and len(rows) > 1:
        titles = [
            f"{r['target']}" + (f"\np={r['probability']:.2f}" if "probability" in r else "")
            for r in rows
        ]
        outputs.write_grid(os.path.join(args.out, "grid.png"), result.x, titles, p.value_range)
    summary = {
        "model": os.path.abspath(args.model),
        "models": [os.path.abspath(m) for m in getattr(args, "models", [args.model])],
        "objective": p.objective.name,
        "steps": p.steps,
        "seconds": round(result.seconds, 3),
        "rows": rows,
    }
    if p.sound:
        summary["sample_rate"] = p.sample_rate
        summary["heard_seconds"] = heard_seconds(p)
    if p.tensorboard != "none":
        summary["tensorboard"] = p.tensorboard
    outputs.write_json(os.path.join(args.out, "summary.json"), summary)
    return summary


def run(args):
    """``tfam dream``: load, plan, compute, write."""
    model = load(args)
    p = plan(args, model)
    summary = write(args, p, compute(args, p))
    print(
        f"wrote {len(summary['rows'])} dream(s) and summary.json to {args.out}"
        + (
            f"; TensorBoard: tensorboard --logdir {p.tensorboard}"
            if p.tensorboard != "none"
            else ""
        )
    )
    return summary


__all__ = ["run", "load", "plan", "compute", "write", "parse_classes", "read_labels"]
