"""``tfam inspect MODEL``: what a model takes and gives, and the names objectives can read.

tfam inspect best.keras                 # inputs, outputs (and their squash), layers
tfam inspect exported/ --match conv     # a SavedModel's inner tensors whose names hold 'conv'
tfam inspect output.pb --json           # the same as JSON, for scripts
"""

import json

from tfam.cli.common import MODEL_HELP


def add_parser(commands):
    """Add the ``inspect`` subcommand to the subparsers object of ``tfam.cli.main.build_parser``."""
    p = commands.add_parser(
        "inspect",
        help="list a model's inputs, outputs and the layers or tensors objectives can name",
        description="Print a model's kind, inputs (shape, dtype), outputs (shape, the softmax or "
        "sigmoid each ends in), the layers (Keras files) or inner tensors (SavedModels, frozen "
        "graphs) that --layer can name, and the sample rate of a tfam front end.",
    )
    p.add_argument("model", help=MODEL_HELP)
    p.add_argument("--match", default=None, help="only layers or tensors whose names hold this")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.add_argument("--input-node", default=None, help="a frozen graph's input node")
    p.add_argument("--output-node", default=None, help="a frozen graph's output node")
    p.add_argument("--signature", default=None, help="a SavedModel's signature")
    p.add_argument(
        "--unsafe-load",
        action="store_true",
        help="load with Keras safe_mode off and skip the graph op check (trusted files only)",
    )


def _shape(shape):
    if shape is None:
        return "(unknown rank)"
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


def as_text(info):
    """The description as lines a person reads."""
    lines = [f"{info['path']}: {info['kind'].replace('_', ' ')}"]
    lines.append("inputs:")
    lines += [f"  {i['name']}  {_shape(i['shape'])}  {i['dtype']}" for i in info["inputs"]]
    lines.append("outputs:")
    for o in info["outputs"]:
        notes = []
        if o["squash"]:
            logits = f" of {o['logits']}" if o["logits"] else ""
            notes.append(f"ends in {o['squash']}{logits}: class objectives read the logits")
        if o["over_time"]:
            notes.append("a time axis: reduced over frames (--reduce mean|max)")
        note = f"  [{'; '.join(notes)}]" if notes else ""
        lines.append(f"  {o['name']}  {_shape(o['shape'])}  {o['dtype']}{note}")
    graph = info["kind"] in ("saved_model", "graph_def")
    lines.append(("tensors" if graph else "layers") + " objectives can name (--layer):")
    width = max((len(layer["name"]) for layer in info["layers"]), default=0)
    lines += [
        f"  {layer['name']:<{width}}  {_shape(layer['shape'])}  {layer['kind']}"
        for layer in info["layers"]
    ]
    if not info["layers"]:
        lines.append("  (none" + (" matching" if info.get("match") else "") + ")")
    if info["sample_rate"]:
        lines.append(f"sample rate: {info['sample_rate']} Hz (the model's front end)")
    return lines


def run(args):
    from tfam.models.loading import describe

    info = describe(
        args.model,
        safe_mode=not args.unsafe_load,
        match=args.match,
        input_node=args.input_node,
        output_node=args.output_node,
        signature=args.signature,
    )
    info["match"] = args.match
    print(json.dumps(info, indent=2) if args.json else "\n".join(as_text(info)))
