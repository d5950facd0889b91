"""The atlas job: dream every unit of the plan in batches on the strategy's replicas, write each
batch's files and records as it finishes, show one progress bar over the whole atlas, and make
the page.

    summary = run_atlas(model, sections(model), "runs/atlas", audio_recipe(8000, heard=...),
                        steps=300, look=Look(sample_rate=8000, heard=(1.0, 2.952)))

One compiled loop (tfam.Dreamer) serves every batch: the objective reads all the atlas's layers
and takes which layer and channel each row dreams as data (objectives.mixed_channels).
"""

import contextlib
import dataclasses
import os
import time

import keras
import numpy as np

from tfam import audio, outputs
from tfam.atlas import memory, plan, replicas
from tfam.atlas.folder import PAGE, Folder
from tfam.engine import Dreamer
from tfam.report import atlas_page
from tfam.report.summaries import write_spectrogram_png
from tfam.surgery import with_linear_logits

TOP_CLASSES = 3  # classes listed per unit: those its dream raised most


@dataclasses.dataclass(frozen=True)
class Look:
    """How a dream is written and shown: a sound (``sample_rate``) as a WAV and its spectrogram
    (``heard``: the seconds the model hears, marked), else an image scaled from ``value_range``."""

    sample_rate: int | None = None
    heard: tuple | None = None
    value_range: tuple = (0.0, 1.0)


def run_atlas(
    model,
    sections,
    out,
    recipe,
    steps,
    seed=0,
    per_channel=1,
    max_batch=None,
    look=Look(),
    strategy=None,
    settings=None,
    resume=False,
    overwrite=False,
    spatial_rank=None,
    jit_compile="auto",
    class_names=None,
    verbose=1,
    title="tfam atlas",
    intro=(),
):
    """Dream every channel of ``sections`` (tfam.atlas.plan.sections) ``per_channel`` times for
    ``steps`` steps with ``recipe`` (tfam.dream's param, learning_rate, transforms and
    regularizers), ``max_batch`` rows at a time (None: as many as memory allows, or the batch
    size of the atlas being continued), into ``out``; returns a summary dict.

    ``settings``: what else decides the dreams (the model file, the recipe's options): an atlas
    in ``out`` made with other settings is refused unless ``overwrite``; one with the same is
    continued (``resume`` insists that there is one). ``strategy``: a tf.distribute strategy
    whose replicas share the batches (the model built under its scope reads local weights).
    ``class_names``: the output's classes, named in each unit's top classes."""
    import tensorflow as tf

    started = time.perf_counter()
    strategy = strategy or tf.distribute.get_strategy()
    folder = Folder(out)
    units = plan.units(sections, per_channel)
    dreamer = Dreamer(
        model,
        plan.objective(sections, units[:1]),
        spatial_rank=spatial_rank,
        jit_compile=jit_compile,
        **recipe,
    )
    place, workers = replicas.worker(strategy)
    devices = replicas.devices(strategy)
    if max_batch is None:  # the atlas being continued keeps its own; never by the devices
        max_batch = (folder.settings() or {}).get("max_batch") or memory.batch_size(
            memory.row_bytes(model, dreamer.input_shape, dreamer.param_shape)
        )
    full = {
        **(settings or {}),
        "sections": [[section.layer, len(section.names)] for section in sections],
        "folders": [section.folder for section in sections],
        "per_channel": per_channel,
        "steps": steps,
        "seed": seed,
        "max_batch": max_batch,
    }
    folder.prepare(full, resume, overwrite, chief=place == 0)
    replicas.wait_for_workers(strategy)  # the chief has made the folder ready

    batches = plan.batches(units, max_batch)
    mine = [(n, batch) for n, batch in enumerate(batches) if n % workers == place]
    # a batch with some units done runs whole again (its dreams are the same): only the missing
    # ones are written
    missing = {n: [u for u in batch if not folder.is_done(u)] for n, batch in mine}
    todo = [(n, batch) for n, batch in mine if missing[n]]
    to_dream = sum(len(units_) for units_ in missing.values())
    rows = plan.batch_size(len(units), max_batch)
    if verbose:
        _announce(sections, per_channel, steps, to_dream, rows, devices, workers)
    writer = _Writer(folder, model, look, class_names)
    bar = keras.utils.Progbar(to_dream, verbose=1 if verbose else 0, unit_name="channel")

    def compute(task, progress):
        _, batch = task
        rows_run = plan.padded(batch, rows)
        start = np.concatenate([dreamer.initial_params(1, u.start_seed(seed)) for u in rows_run])
        result = dreamer.run(
            steps,
            rows,
            seed,
            callbacks=[lambda p: progress(p.step, p.steps)],
            verbose=0,
            start_params=start,
            objective=plan.objective(sections, rows_run),
        )
        return _first_rows(result, len(batch))

    try:
        done = _dream(strategy, todo, compute, missing, writer, bar)
    finally:
        if workers == 1:  # what is done shows, whether the atlas finished or was interrupted
            _write_page(folder, units, sections, title, intro)
    replicas.wait_for_workers(strategy)
    if workers > 1 and place == 0:
        _write_page(folder, units, sections, title, intro)
    return {
        "units": len(units),
        "dreamed": done,
        "done_before": sum(len(batch) for _, batch in mine) - to_dream,
        "max_batch": max_batch,
        "batch_size": rows,
        "devices": len(devices),
        "workers": workers,
        "seconds": round(time.perf_counter() - started, 3),
        "page": folder.path(PAGE),
    }


def _dream(strategy, todo, compute, missing, writer, bar):
    """Run the batches ``todo`` on the replicas, writing each as it ends; returns how many units
    were written. ``missing``: the units of each batch not written before."""
    done, running, total = 0, {}, sum(len(units) for units in missing.values())
    with contextlib.closing(replicas.run(strategy, todo, compute)) as events:
        for kind, (number, batch), value in events:
            if kind == "progress":
                running[number] = len(missing[number]) * value
            else:
                writer.write(number, batch, value)
                running.pop(number, None)
                done += len(missing[number])
            # a batch under way counts by its steps done
            bar.update(min(done + int(sum(running.values())), total))
    return done


def _first_rows(result, count):
    """The Result of the first ``count`` rows (a padded batch's own)."""
    if len(result.x) == count:
        return result
    cut = lambda a: None if a is None else a[:count]  # noqa: E731
    return dataclasses.replace(
        result,
        x=result.x[:count],
        best_x=result.best_x[:count],
        best_value=result.best_value[:count],
        history=result.history[:, :count],
        params=result.params[:count],
        probabilities=cut(result.probabilities),
        start_x=cut(result.start_x),
    )


def _announce(sections, per_channel, steps, to_dream, rows, devices, workers):
    layers = ", ".join(f"{s.title} {len(s.names)}" for s in sections)
    samples = f", {per_channel} dreams each" if per_channel > 1 else ""
    where = f"{len(devices)} device(s)" + (f" of each of {workers} workers" if workers > 1 else "")
    print(
        f"atlas of {layers}{samples}: {to_dream} to dream here ({steps} steps, batches of "
        f"{rows} on {where})",
        flush=True,
    )


class _Writer:
    """Writes a finished batch: each unit's sound and spectrogram, or image, then its record."""

    def __init__(self, folder, model, look, class_names):
        self.folder, self.look, self.class_names = folder, look, class_names
        shape = model.outputs[0].shape
        self.classifier = len(shape) == 2 and shape[-1] is not None
        # the logits, so that a class's rise is not hidden by a saturated softmax
        self.logits = with_linear_logits(model) if self.classifier else None

    def write(self, number, batch, result):
        rise = None
        if self.classifier:
            both = np.concatenate([result.start_x, result.x])
            logits = np.asarray(self.logits(both, training=False))
            rise = logits[len(batch) :] - logits[: len(batch)]
        for row, unit in enumerate(batch):
            if self.folder.is_done(unit):  # written before an interrupt: the same dream
                continue
            record = {
                "section": unit.section.title,
                "index": unit.index,
                "sample": unit.sample,
                "name": unit.name,
                "objective": float(result.history[-1, row]),
                "best_objective": float(result.best_value[row]),
                "start_objective": float(result.history[0, row]),
                "batch": number,
                **self._files(unit, result.x[row]),
            }
            if rise is not None:
                record["top_classes"] = self._top_classes(rise[row], result.probabilities, row)
            self.folder.write_record(unit, record)

    def _files(self, unit, x):
        stem = os.path.join(unit.section.folder, unit.stem)
        picture = stem + ".png"
        files = {"picture": picture.replace(os.sep, "/")}
        if self.look.sample_rate:
            files["sound"] = (stem + ".wav").replace(os.sep, "/")
            audio.write_wav(self.folder.path(files["sound"]), x, self.look.sample_rate)
            write_spectrogram_png(
                self.folder.path(picture),
                x,
                self.look.sample_rate,
                title=unit.name,
                heard=self.look.heard,
            )
        else:
            outputs.write_png(self.folder.path(picture), x, self.look.value_range)
        files["picture_size"] = atlas_page.png_size(self.folder.path(picture))
        return files

    def _top_classes(self, rise, probabilities, row):
        order = np.argsort(-rise)[:TOP_CLASSES]
        return [
            {
                "class": int(k),
                "name": self.class_names[k]
                if self.class_names and k < len(self.class_names)
                else str(k),
                "rise": float(rise[k]),
                **(
                    {"probability": float(probabilities[row, k])}
                    if probabilities is not None
                    else {}
                ),
            }
            for k in order
        ]


def _write_page(folder, units, sections, title, intro):
    records = {}
    for unit in units:
        if folder.is_done(unit):
            records.setdefault(unit.section.title, []).append(folder.record(unit))
    atlas_page.write_atlas_page(
        folder.path(PAGE),
        title,
        [(section.title, records.get(section.title, [])) for section in sections],
        intro,
        total=len(units),
    )
