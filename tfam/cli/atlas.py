"""``tfam atlas``: what every channel of a model hears or sees, as one browsable page.

    tfam atlas best.keras --out runs/atlas                       # every convolution, every class
    tfam atlas best.keras --layers conv3,conv4 --channels 8 --steps 100
    tfam atlas best.keras --strategy mirrored --cpu-devices 2    # batches shared by two devices
    tfam atlas best.keras --out runs/atlas --resume               # go on after an interrupt

Dreams each channel of the chosen layers (and each class of the output) with the recipe
``tfam dream`` uses for the input (sound or image), in batches as large as memory allows; writes
each batch's files and records as it finishes (tfam.atlas), and OUT/index.html.
"""

import os

# light imports only: cli.main.build_parser calls add_parser before TensorFlow is imported
from tfam.cli.common import add_model_arguments, add_output_arguments, add_recipe_arguments
from tfam.train.strategy import STRATEGIES

JIT = {"auto": "auto", "parts": "parts", "on": True, "off": False}  # tfam.Dreamer's jit_compile
# the options that decide the dreams besides the plan, kept in OUT/atlas.json
READING = ("output", "reduce", "input_node", "output_node", "signature", "seconds")
RECIPE = (
    "jit_compile",
    "param",
    "learning_rate",
    "value_range",
    "tv",
    "l1",
    "jitter",
    "spatial_rank",
    "max_shift",
    "max_rms",
    "low_pass",
    "high_band_weight",
    "cutoff_hz",
)


def add_parser(commands):
    """Add the ``atlas`` subcommand to the subparsers object of ``tfam.cli.main.build_parser``."""
    p = commands.add_parser(
        "atlas",
        help="dream every channel of a model's layers, and every class, into one page",
        description="Dream every channel of the chosen layers and every class of the output; "
        "writes a WAV and spectrogram (sounds) or a PNG (images) and a JSON record per dream, "
        "batch by batch (an interrupted atlas goes on where it stopped), and OUT/index.html.",
    )
    add_model_arguments(p)
    target = p.add_argument_group("what to dream")
    target.add_argument(
        "--layers",
        default=None,
        help="comma-separated layers (or a graph's tensors: tfam inspect lists them); 'all' for "
        "every convolution and dense layer (default: every convolution)",
    )
    target.add_argument(
        "--channels",
        type=int,
        default=None,
        metavar="N",
        help="only the first N channels of each layer, and the first N classes (default: all)",
    )
    target.add_argument(
        "--no-classes",
        dest="classes",
        action="store_false",
        help="leave out the classes of the output",
    )
    target.add_argument(
        "--per-channel",
        type=int,
        default=1,
        metavar="N",
        help="dreams per channel, each from its own start (default 1)",
    )
    target.add_argument(
        "--labels",
        help="class names, one per line (default: MODEL.labels.txt beside the model, if present)",
    )
    opts, _ = add_recipe_arguments(p)
    opts.add_argument(
        "--max-batch",
        type=int,
        default=None,
        help="dreams optimized at a time (default: as many as memory allows, at most 64; an "
        "atlas being continued keeps its own)",
    )
    opts.add_argument(
        "--jit-compile",
        choices=sorted(JIT),
        default="auto",
        help="XLA: 'parts' compiles the small ops around the model (auto's choice on a CPU: "
        "faster steps once compiled; today the sound recipe's time shift compiles anew at each "
        "step of the first batch), 'on' the whole loop (auto's choice on a GPU), 'off' none "
        "(the faster on a CPU today, see the README's measured figures)",
    )
    spread = p.add_argument_group("devices")
    spread.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="default",
        help="tf.distribute strategy: mirrored shares the batches between every local GPU (or "
        "the --cpu-devices); multiworker between the workers of TF_CONFIG (default: one device)",
    )
    spread.add_argument(
        "--cpu-devices",
        type=int,
        default=0,
        metavar="N",
        help="split the CPU into N logical devices (for --strategy mirrored on one machine)",
    )
    out = p.add_argument_group("output")
    add_output_arguments(out, "runs/atlas", tensorboard=False)
    out.add_argument(
        "--resume",
        action="store_true",
        help="go on with the atlas in --out (an error if there is none); the same command "
        "without it also goes on where the settings are equal",
    )
    out.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an atlas of other settings in --out (its files are removed)",
    )


def _check(args):
    if args.per_channel < 1:
        raise ValueError(f"--per-channel must be at least 1, got {args.per_channel}")
    if args.channels is not None and args.channels < 1:
        raise ValueError(f"--channels must be at least 1, got {args.channels}")
    if args.max_batch is not None and args.max_batch < 1:
        raise ValueError(f"--max-batch must be at least 1, got {args.max_batch}")
    if args.cpu_devices < 0:
        raise ValueError(f"--cpu-devices must be 0 or more, got {args.cpu_devices}")
    if args.resume and args.overwrite:
        raise ValueError("give either --resume or --overwrite, not both")


def load(args):
    """The strategy, and the model read under its scope (its weights then sit on every replica)."""
    from tfam.cli.dream import load_one
    from tfam.train.strategy import make_strategy

    _check(args)
    strategy = make_strategy(args.strategy)
    with strategy.scope():
        return strategy, load_one(args, args.model)


def plan(args, model):
    """(sections, recipe, look, settings, class names): what to dream, how, how to show it, what
    decides the dreams besides the plan (compared when an atlas is continued), and the names of
    the output's classes (None where the model has no labels)."""
    from tfam.atlas import plan as atlas_plan
    from tfam.atlas.job import Look
    from tfam.audio.heard import heard_span
    from tfam.cli import dream
    from tfam.layout import layout_of

    dream.check_recipe_options(args)
    sound = layout_of(tuple(model.inputs[0].shape), args.spatial_rank).spatial_rank == 1
    value_range = dream.parse_range(args.value_range, 1 if sound else 2)
    labels_path = args.labels or dream.default_labels_path(args.model)
    labels = (
        dream.read_labels(labels_path) if (args.labels or os.path.exists(labels_path)) else None
    )
    layers = None if args.layers is None else args.layers.strip()
    if layers not in (None, "all"):
        layers = [name.strip() for name in layers.split(",") if name.strip()]
        if not layers:
            raise ValueError("--layers names no layer")
    sections = atlas_plan.sections(model, layers, args.channels, args.classes, labels)
    if sound:
        sample_rate = args.sample_rate or dream.default_sample_rate(model)
        heard = heard_span(model)
        recipe = dream.sound_recipe(args, value_range, sample_rate, heard)
        look = Look(sample_rate, tuple(round(s / sample_rate, 3) for s in heard), value_range)
    else:
        sample_rate, recipe = None, dream.image_recipe(args, value_range)
        look = Look(None, None, value_range)
    args.steps = args.steps or (300 if sound else 200)
    return sections, recipe, look, _settings(args, sample_rate, labels), labels


def _settings(args, sample_rate, labels):
    """What decides the dreams besides the plan: the model file and how it is read, the recipe's
    options (as the recipe resolved them), the class names the records use."""
    from tfam.atlas.folder import digest

    return {
        "model": os.path.abspath(args.model),
        "model_sha256": digest(args.model),
        "reading": {key: getattr(args, key) for key in READING},
        "recipe": {key: getattr(args, key) for key in RECIPE} | {"sample_rate": sample_rate},
        "labels": labels,
    }


def run(args):
    """``tfam atlas``: load, plan, dream and write (tfam.atlas.run_atlas), and say where."""
    from tfam.atlas.job import run_atlas

    strategy, model = load(args)
    sections, recipe, look, settings, labels = plan(args, model)
    kind = f"sounds ({args.param}, {look.sample_rate} Hz)" if look.sample_rate else "images"
    summary = run_atlas(
        model,
        sections,
        args.out,
        recipe,
        args.steps,
        seed=args.seed,
        per_channel=args.per_channel,
        max_batch=args.max_batch,
        look=look,
        strategy=strategy,
        settings=settings,
        resume=args.resume,
        overwrite=args.overwrite,
        spatial_rank=args.spatial_rank,
        jit_compile=JIT[args.jit_compile],
        class_names=labels,
        verbose=0 if args.quiet else 1,
        title=f"tfam atlas: {os.path.basename(os.path.normpath(args.model))}",
        intro=[
            f"{os.path.abspath(args.model)}: each channel's mean activation (each class's "
            f"logit) maximized for {args.steps} steps, as {kind}, seed {args.seed}.",
            "Each card: the dream, the objective at its last step, and the classes whose logits "
            "it raised most from its start (with their probability for the dream).",
        ],
    )
    print(
        f"dreamed {summary['dreamed']} of {summary['units']} ({summary['done_before']} done "
        f"before) in {summary['seconds']:.1f} s; open {summary['page']}"
    )
    return summary


__all__ = ["add_parser", "run", "load", "plan"]
