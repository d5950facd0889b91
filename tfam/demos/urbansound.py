"""``make demo``: seed 002's whole path, from a dataset on disk to dreamed sounds, in a few minutes.

    1. data     the packed real UrbanSound8K_modified if it is at the default path, else a synthetic
                stand-in built like the real download and run through the real data tools
    2. train    the seed's CNN (narrower, briefly) with train.py's Trainer, and a second model of
                another architecture for the transferability check
    3. freeze   the frozen GraphDef (output node fc2/fully_connected/fc_out), evaluated on its own
    4. dream    one 4 s sound per class (WAV, spectrogram PNG), TensorBoard events
    5. atlas    runs/demo/atlas/index.html: the first channels of every conv layer, dreamed
    6. gallery  runs/demo/index.html: spectrogram, audio player and scores of every class, and a
                link to the atlas

Everything goes under --out (runs/demo).
"""

import os
import sys
import time

from tfam.cli.common import ArgumentParser, import_tensorflow_quietly, run_guarded


def build_data(out, clips_per_class=40):
    """The packed dataset: the real one at the default path, else a synthetic one under ``out``."""
    from tfam.data import urbansound as us

    real = os.path.splitext(us.DEFAULT_PATH)[0] + ".npz"
    if os.path.exists(real):
        print(f"[data] using the packed UrbanSound8K at {real}")
        return real, "UrbanSound8K (real)"
    download = os.path.join(out, "data", "UrbanSound8K")
    modified = os.path.join(out, "data", "UrbanSound8K_modified")
    packed = os.path.join(modified, "urbansound.npz")
    if os.path.exists(packed):
        print(f"[data] reusing the synthetic dataset at {packed}")
        return packed, "synthetic stand-in"
    print(
        f"[data] no real dataset at {real}: synthesizing a stand-in in the real download's layout "
        f"({download})"
    )
    us.synthesize_download(download, clips_per_class=clips_per_class, seed=0)
    summary = us.prepare(download, modified)
    print(f"[data] prepared {summary.total} clips (mono 8 kHz 16-bit, 4 s) into {modified}")
    us.pack(modified, packed)
    return packed, "synthetic stand-in"


def train(splits, class_names, logdir, architecture, steps, width, learning_rate, seed):
    from tfam.train.classifier import TrainConfig, Trainer

    config = TrainConfig(
        iterations=steps,
        batch_size=45,
        logdir=logdir,
        architecture=architecture,
        frontend="waveform",
        width=width,
        learning_rate=learning_rate,
        schedule="constant",
        val_every=10,
        ckpt_every=steps,
        seed=seed,
        n_classes=len(class_names),
        class_names=tuple(class_names),
    )
    trainer = Trainer(config, splits, overwrite=True, progress_every=25)
    print(f"[train] {trainer.model.name}: {trainer.model.count_params():,} weights, {steps} steps")
    trainer.train()
    return trainer


def freeze_and_evaluate(model, splits, class_names, logs, out):
    """Seed 002's frozen graph of ``model``, checked against it, and its scores on the test split."""
    import numpy as np

    from tfam.report import summaries
    from tfam.train.freeze import evaluate, freeze, load_frozen

    graph_path = os.path.join(logs, "model", "output.pb")
    info = freeze(model, graph_path)
    graph = load_frozen(graph_path)
    x_test, y_test = splits["test"]
    scores = evaluate(graph, x_test, y_test, len(class_names))
    same = float(np.max(np.abs(graph(x_test[:8]) - model.predict(x_test[:8], verbose=0))))
    print(
        f"[freeze] {graph_path}: input '{info.input_node}' {info.input_shape}, logits "
        f"'{info.output_node}'; |frozen - Keras| <= {same:.1e}"
    )
    print(
        f"[eval] frozen graph, test split: accuracy {scores['accuracy']:.3f} ({len(y_test)} clips)"
    )
    summaries.write_confusion_png(
        os.path.join(out, "confusion.png"),
        scores["confusion"],
        class_names,
        title="test split (frozen graph)",
    )
    return graph_path, scores


def dream_classes(model, class_names, logs, args):
    """One dreamed sound per class, in one batched run, with TensorBoard events."""
    from tfam.audio.sound_dreams import dream_sounds
    from tfam.audio.spectrogram import SAMPLE_RATE
    from tfam.report import summaries

    print(f"[dream] one sound per class, {args.dream_steps} steps, all classes in one batched run")
    log = summaries.DreamLog(os.path.join(logs, "tensorboard", "dreams"), class_names, SAMPLE_RATE)
    result = dream_sounds(
        model,
        range(len(class_names)),
        sample_rate=SAMPLE_RATE,
        steps=args.dream_steps,
        seed=args.seed,
        verbose=1,
        callbacks=[log],
    )
    log.write_history(result)
    return result


def write_dreams(out, result, class_names, scores, second, heard):
    """WAV and spectrogram per class; (summary rows, gallery entries). ``heard``: [start, stop]
    seconds the model hears, marked on every spectrogram."""
    import tensorflow as tf

    from tfam import audio
    from tfam.audio.spectrogram import SAMPLE_RATE
    from tfam.report import summaries

    second_p = (
        tf.nn.softmax(second(result.x, training=False)).numpy() if second is not None else None
    )
    entries, rows = [], []
    for i, name in enumerate(class_names):
        wav, png = (
            os.path.join(out, "dreams", f"{name}.wav"),
            os.path.join(out, "dreams", f"{name}.png"),
        )
        audio.write_wav(wav, result.x[i], SAMPLE_RATE)
        summaries.write_spectrogram_png(
            png, result.x[i], SAMPLE_RATE, title=f"dream: {name}", heard=heard
        )
        row = {
            "class": name,
            "wav": os.path.relpath(wav, out),
            "probability": float(result.target_probability[i]),
            "test_accuracy": scores["per_class_accuracy"][i],
        }
        score_table = {"seed CNN p(class)": row["probability"]}
        score_table["heard by the model"] = f"{heard[0]:g}-{heard[1]:g} s (silent elsewhere)"
        if second_p is not None:
            row["second_model_probability"] = float(second_p[i, i])
            row["second_model_says"] = class_names[int(second_p[i].argmax())]
            score_table["second model p(class)"] = row["second_model_probability"]
            score_table["second model hears"] = row["second_model_says"]
        if row["test_accuracy"] is not None:
            score_table["test accuracy of the class"] = row["test_accuracy"]
        rows.append(row)
        entries.append(
            {
                "name": name,
                "image": os.path.relpath(png, out),
                "audio": os.path.relpath(wav, out),
                "scores": score_table,
            }
        )
    return rows, entries


def write_atlas(model, class_names, logs, args):
    """A small atlas of the model: the first --atlas-channels channels of every conv layer, a
    few steps each, in one batch (tfam.atlas); returns run_atlas's summary."""
    from tfam.atlas import plan
    from tfam.atlas.folder import digest
    from tfam.atlas.job import Look, run_atlas
    from tfam.audio.heard import heard_span
    from tfam.audio.sound_dreams import audio_recipe
    from tfam.audio.spectrogram import SAMPLE_RATE

    saved = os.path.join(logs, "model", "model.keras")
    heard = heard_span(model)
    print(
        f"[atlas] the first {args.atlas_channels} channels of every conv layer, "
        f"{args.atlas_steps} steps"
    )
    return run_atlas(
        model,
        plan.sections(model, channels=args.atlas_channels, classes=False),
        os.path.join(args.out, "atlas"),
        audio_recipe(SAMPLE_RATE, heard=heard),
        args.atlas_steps,
        seed=args.seed,
        look=Look(SAMPLE_RATE, tuple(round(s / SAMPLE_RATE, 3) for s in heard)),
        settings={"model": os.path.abspath(saved), "model_sha256": digest(saved)},
        overwrite=True,  # the demo trains its model again: its atlas follows
        jit_compile=False,  # a few steps: compiling would take longer than it saves
        class_names=class_names,
        title="tfam atlas: the demo's CNN",
        intro=[
            f"The first {args.atlas_channels} channels of every conv layer of the demo's CNN, "
            f"each dreamed for {args.atlas_steps} steps from its own start (`tfam atlas "
            f"{saved} --channels {args.atlas_channels}` makes the whole of it).",
            "Each card: the dream, the channel's mean activation at its last step, and the "
            "classes whose logits it raised most from its start.",
        ],
    )


def write_summary(args, data, graph_path, scores, result, rows, entries, logs, heard, atlas):
    """The gallery (index.html) and summary.json; returns how many dreams the second model hears."""
    from tfam import outputs
    from tfam.report import summaries

    data_path, data_name = data
    transfer = (
        sum(r["second_model_says"] == r["class"] for r in rows) if args.second_model else None
    )
    tensorboard = f"tensorboard --logdir {logs}"
    intro = [
        f"Data: {data_name} ({data_path}). Seed 002's CNN (width 0.25, waveform front end) "
        f"trained {args.train_steps} steps; frozen graph test accuracy {scores['accuracy']:.3f}.",
        f"Each sound was dreamed for {args.dream_steps} steps to maximize its class logit, as a "
        "short-time spectrum made into sound by the inverse STFT (time shift, total variation, "
        "nothing above 3.5 kHz, RMS 0.1); the model hears "
        f"seconds {heard[0]:g}-{heard[1]:g} of each, and the rest is kept silent (greyed on "
        "the spectrograms).",
    ]
    if transfer is not None:
        intro.append(
            f"A second model of another architecture hears the target class in {transfer} "
            f"of {len(rows)} dreams."
        )
    intro.append(f"Training curves, the confusion matrix and the dream runs: {tensorboard}")
    summaries.write_gallery(
        os.path.join(args.out, "index.html"),
        "tfam: dreamed UrbanSound8K classes",
        entries,
        intro=intro,
        links=[("The atlas: what the first channels of every conv layer hear", "atlas/index.html")]
        if args.atlas_channels
        else [],
    )
    outputs.write_json(
        os.path.join(args.out, "summary.json"),
        {
            "data": data_path,
            "train_steps": args.train_steps,
            "test_accuracy": scores["accuracy"],
            "frozen_graph": graph_path,
            "dream_steps": args.dream_steps,
            "dream_seconds": round(result.seconds, 2),
            "heard_seconds": heard,
            "transfer": transfer,
            "atlas_seconds": atlas and atlas["seconds"],
            "classes": rows,
        },
    )
    return transfer


def run(args):
    """data -> train (two architectures) -> freeze and evaluate -> dream -> gallery."""
    from tfam.audio.heard import heard_span
    from tfam.audio.spectrogram import SAMPLE_RATE
    from tfam.data.urbansound import load_dataset

    started = time.perf_counter()
    os.makedirs(args.out, exist_ok=True)
    data = build_data(args.out, args.clips_per_class)
    splits, class_names = load_dataset(data[0])
    logs = os.path.join(args.out, "logs")
    model = train(
        splits, class_names, logs, "seed002", args.train_steps, 0.25, 0.001, args.seed
    ).model
    second = (
        train(
            splits,
            class_names,
            os.path.join(args.out, "logs_timepool"),
            "timepool",
            args.train_steps,
            1.0,
            0.003,
            args.seed + 1,
        ).model
        if args.second_model
        else None
    )
    graph_path, scores = freeze_and_evaluate(model, splits, class_names, logs, args.out)
    result = dream_classes(model, class_names, logs, args)
    heard = [round(sample / SAMPLE_RATE, 3) for sample in heard_span(model)]
    rows, entries = write_dreams(args.out, result, class_names, scores, second, heard)
    atlas = write_atlas(model, class_names, logs, args) if args.atlas_channels else None
    transfer = write_summary(
        args, data, graph_path, scores, result, rows, entries, logs, heard, atlas
    )
    print(
        "[dream] p(class) per dream: "
        + ", ".join(f"{r['class']} {r['probability']:.2f}" for r in rows)
    )
    if transfer is not None:
        print(f"[dream] the second model hears the target class in {transfer}/{len(rows)} dreams")
    print(
        f"done in {time.perf_counter() - started:.0f} s. Open {os.path.join(args.out, 'index.html')}; "
        f"TensorBoard: tensorboard --logdir {logs}"
    )


def main(argv=None):
    parser = ArgumentParser(
        prog="python -m tfam.demos.urbansound", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--out", default="runs/demo")
    parser.add_argument("--train-steps", type=int, default=150)
    parser.add_argument("--dream-steps", type=int, default=300)
    parser.add_argument(
        "--no-second-model",
        dest="second_model",
        action="store_false",
        help="skip the second model (and the transferability check)",
    )
    parser.add_argument(
        "--clips-per-class",
        type=int,
        default=40,
        help="size of the synthetic stand-in (clips per class over the ten folds)",
    )
    parser.add_argument(
        "--atlas-channels",
        type=int,
        default=4,
        help="channels of each conv layer in the demo's atlas (0: no atlas)",
    )
    parser.add_argument("--atlas-steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    import_tensorflow_quietly()
    run_guarded(run, args)


if __name__ == "__main__":
    main()
