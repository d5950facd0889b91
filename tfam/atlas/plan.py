"""What an atlas dreams and in which batches: the sections (layers, and the classes of the output),
one unit per channel and sample, the batches they run in, and where each unit starts.

A unit's dream must not depend on how the work is spread: the batches are cut from the list of
units by the batch size alone (never by the number of devices), every unit starts from a draw
seeded by (seed, layer, channel, sample) rather than by its place in a batch, and every batch runs
with the same seed (the random transforms draw from it, per step and row). So a batch gives the
same dreams on whichever device or worker it runs, and a resumed atlas the same as an
uninterrupted one.
"""

import dataclasses
import re
import zlib

from tfam.attribution import CONVOLUTIONS
from tfam.objectives import OUTPUT, mixed_channels
from tfam.surgery import layer_names, layer_shape

CLASSES = "classes"  # the section (and folder) of the output's classes


@dataclasses.dataclass(frozen=True)
class Section:
    """One layer of the atlas (or the output's classes): the channels it dreams."""

    layer: str  # a layer or tensor name; objectives.OUTPUT for the classes
    title: str  # shown on the page: the layer's name, or "classes"
    folder: str  # where its files go, under the atlas folder
    names: tuple  # a label per dreamed channel (or class), channels 0, 1, ...


@dataclasses.dataclass(frozen=True)
class Unit:
    """One dream: a channel (or class) of a section, and which of its samples (--per-channel)."""

    section: Section
    index: int
    sample: int

    @property
    def stem(self):
        """The unit's file name without suffix, under its section's folder."""
        return f"{self.index:04d}" + (f"-{self.sample}" if self.sample else "")

    @property
    def name(self):
        return self.section.names[self.index] + (f" #{self.sample}" if self.sample else "")

    def start_seed(self, seed):
        """The seed of this unit's start: from the atlas's seed, the layer, the channel and the
        sample, not from where the unit sits in a batch."""
        return [seed % 2**32, zlib.crc32(self.section.layer.encode()), self.index, self.sample]


def default_layers(model, dense=False):
    """Every convolution of ``model`` (with ``dense``, every dense layer besides, the output left
    to the classes), in the model's order; for SavedModels and frozen graphs, the output of every
    convolution (and matrix product) after its bias and activation."""
    backed = getattr(model, "graph_backed", None)
    if backed is not None:
        return backed.feature_tensors(dense)
    import keras

    kinds = CONVOLUTIONS + ((keras.layers.Dense,) if dense else ())
    last = model.outputs[0]
    return [
        layer.name
        for layer in model.layers
        if isinstance(layer, kinds) and layer.output is not last
    ]


def channel_count(model, layer):
    """How many channels (the last axis) the layer has; a ValueError naming the layer when it
    has none to dream."""
    if layer != OUTPUT and layer not in layer_names(model):
        shown = ", ".join(layer_names(model)[:12])
        raise ValueError(f"unknown layer '{layer}'; the model's layers include: {shown}")
    shape = layer_shape(model, layer)
    if shape is None or len(shape) < 2 or shape[-1] is None:
        what = "output" if layer == OUTPUT else f"layer '{layer}'"
        raise ValueError(
            f"the {what} gives shape {shape}: it has no channel axis to dream channel by channel"
        )
    return int(shape[-1])


def sections(model, layers=None, channels=None, classes=True, class_names=None):
    """The sections of an atlas: each of ``layers`` (names; None: every convolution; "all":
    convolutions and dense layers) with its first ``channels`` channels (None: all), then the
    output's classes (``classes``), named by ``class_names`` where given."""
    if layers is None or layers == "all":
        chosen = default_layers(model, dense=layers == "all")
    else:
        chosen = list(dict.fromkeys(layers))  # each once, in the order given
    made, folders = [], {CLASSES}
    for layer in chosen:
        count = _first(channel_count(model, layer), channels)
        folder = _unique(_folder_name(layer), folders)
        made.append(Section(layer, layer, folder, tuple(f"{layer} {i}" for i in range(count))))
    if classes:
        count = channel_count(model, OUTPUT)
        if class_names is not None and len(class_names) != count:
            raise ValueError(f"{len(class_names)} class names for an output of {count} classes")
        names = tuple(class_names) if class_names is not None else tuple(map(str, range(count)))
        made.append(Section(OUTPUT, CLASSES, CLASSES, names[: _first(count, channels)]))
    if not made:
        raise ValueError(
            "nothing to dream: the model has no convolution; name layers with --layers, or "
            "keep the classes"
        )
    return made


def _first(count, wanted):
    if wanted is None:
        return count
    if wanted < 1:
        raise ValueError(f"the number of channels per layer must be at least 1, got {wanted}")
    return min(count, wanted)


def _folder_name(layer):
    return re.sub(r"[^A-Za-z0-9_.-]", "_", layer).strip(".") or "layer"


def _unique(name, taken):
    chosen, n = name, 1
    while chosen in taken:
        n += 1
        chosen = f"{name}-{n}"
    taken.add(chosen)
    return chosen


def units(sections_, per_channel=1):
    """Every unit, section by section, channel by channel, sample by sample."""
    if per_channel < 1:
        raise ValueError(f"--per-channel must be at least 1, got {per_channel}")
    return [
        Unit(section, index, sample)
        for section in sections_
        for index in range(len(section.names))
        for sample in range(per_channel)
    ]


def batches(units_, max_batch):
    """The units cut into consecutive batches of at most ``max_batch``, as even as can be (240
    units at most 64 at a time: four of 60, not three of 64 and one of 48); a batch may hold
    units of several layers (they run in one compiled loop)."""
    if max_batch < 1:
        raise ValueError(f"the batch size must be at least 1, got {max_batch}")
    size = batch_size(len(units_), max_batch)
    return [tuple(units_[i : i + size]) for i in range(0, len(units_), size)]


def batch_size(count, max_batch):
    """The rows of every batch of ``count`` units (the last may hold fewer, and is padded)."""
    parts = -(-count // max_batch)
    return -(-count // max(parts, 1))


def padded(batch, size):
    """The batch with its first units repeated until it has ``size`` rows: every batch then has
    one shape, and the compiled parts of the loop compile once (a new batch size compiles anew,
    seconds on a CPU); the repeats' dreams are dropped."""
    return tuple(batch) + tuple(batch[i % len(batch)] for i in range(size - len(batch)))


def objective(sections_, batch):
    """The objective of a batch: each unit's channel (or class logit), in one structure for every
    batch of these sections, so that all of them run in the loop traced once."""
    return mixed_channels(
        [section.layer for section in sections_], [(u.section.layer, u.index) for u in batch]
    )
