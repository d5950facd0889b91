"""Writing what people look at: PNG images and grids, JSON summaries (WAV files: tfam.audio).

Every writer goes through ``atomic_write``: the file appears complete or not at all, and an older
file of the same name survives a failed write.
"""

import contextlib
import json
import os
import tempfile

import numpy as np


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside ``path`` (same suffix); renamed over ``path`` only when the block
    succeeds, removed when it fails. For writers that want a file name (model.save)."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the mode open() would
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path``; rename it over ``path`` only when the block succeeds."""
    with atomic_path(path) as tmp, open(tmp, mode) as f:
        yield f


def write_json(path, data):
    with atomic_write(path, "w") as f:
        json.dump(data, f, indent=2, sort_keys=False)
        f.write("\n")


def _as_image(x):
    """(H, W), (H, W, 1) or (H, W, 3); other channel counts show their mean."""
    x = np.asarray(x, np.float32)
    if x.ndim == 3 and x.shape[-1] not in (1, 3):
        x = x.mean(axis=-1)
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    return x


def _figure():
    import matplotlib

    matplotlib.use("Agg")  # files only; no display is needed or wanted
    import matplotlib.pyplot as plt

    return plt


def write_png(path, image, value_range=(0.0, 1.0)):
    """One image, scaled from value_range to black..white (grayscale) or RGB."""
    plt = _figure()
    lo, hi = value_range
    image = np.clip((_as_image(image) - lo) / (hi - lo), 0.0, 1.0)
    with atomic_write(path) as f:
        plt.imsave(f, image, cmap="gray", vmin=0.0, vmax=1.0, format="png")


def write_grid(path, images, titles, value_range=(0.0, 1.0), columns=5, title=None):
    """A labelled grid of images (one per row of a batch)."""
    plt = _figure()
    lo, hi = value_range
    n = len(images)
    columns = min(columns, n)
    rows = -(-n // columns)
    fig, axes = plt.subplots(
        rows,
        columns,
        figsize=(2.2 * columns, 2.6 * rows + 0.4),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, label in zip(axes.flat, images, titles):
        ax.imshow(np.clip((_as_image(image) - lo) / (hi - lo), 0, 1), cmap="gray", vmin=0, vmax=1)
        ax.set_title(label, fontsize=9)
    if title:
        fig.suptitle(title)
    with atomic_write(path) as f:
        fig.savefig(f, format="png", dpi=100)
    plt.close(fig)
