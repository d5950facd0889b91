"""What people look at: spectrogram pictures, TensorBoard summaries and an HTML gallery.

    write_spectrogram_png("out/dog.png", waveform, 8000, title="dog bark")
    with tf.summary.create_file_writer("logs/run").as_default():
        log_audio("examples", waveforms, 8000, step=0)
        log_spectrograms("examples", waveforms, 8000, step=0)
    write_gallery("out/index.html", "Dreams", [{"name": "dog", "image": "dog.png", "audio": "dog.wav",
                                              "scores": {"dog": 0.93}}])

Figures are plain ``matplotlib.figure.Figure`` objects on an Agg canvas (no pyplot global state).
TensorFlow, TensorBoard, scipy and matplotlib are imported inside the functions that need them, so
that ``import tfam.report.summaries`` stays light.
"""

import html
import numbers
import os

import numpy as np

from tfam.outputs import atomic_path, atomic_write

DPI = 100
DYNAMIC_RANGE_DB = 80.0
POWER_FLOOR = 1e-10


# --------------------------------------------------------------------------- figures


def new_figure(figsize):
    """A pyplot-free Figure with an Agg canvas attached (constrained layout, 100 dpi)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(path, fig):
    """Write ``fig`` as a PNG atomically (parent directories are created)."""
    with atomic_path(os.fspath(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)


def figure_to_array(fig):
    """Render ``fig`` to a uint8 (H, W, 3) RGB array."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)
    fig.canvas.draw()
    return np.array(fig.canvas.buffer_rgba(), dtype=np.uint8)[..., :3]


def _mono(waveform):
    """(samples,) or (samples, channels) -> float32 (samples,); channels are averaged."""
    x = np.asarray(waveform, np.float32)
    if x.ndim == 2:
        x = x.mean(axis=1)
    if x.ndim != 1:
        raise ValueError(f"expected a waveform of shape (samples,) or (samples, 1), got {x.shape}")
    if x.size == 0:
        raise ValueError("the waveform holds no samples")
    return x


def spectrogram_db(waveform, sample_rate, nfft=256, hop=128):
    """(frequencies in Hz, times in s, power in dB of shape (frequencies, times)).

    Hann window of ``nfft`` samples every ``hop`` samples; power is floored at 1e-10 so that silence
    stays finite. A clip shorter than ``nfft`` is zero-padded to one frame."""
    from scipy.signal import spectrogram

    x = _mono(waveform)
    if not 0 < hop <= nfft:
        raise ValueError(f"hop must be in 1..nfft ({nfft}), got {hop}")
    if x.size < nfft:
        x = np.pad(x, (0, nfft - x.size))
    freqs, times, power = spectrogram(
        x,
        fs=sample_rate,
        window="hann",
        nperseg=nfft,
        noverlap=nfft - hop,
        detrend=False,
        mode="psd",
    )
    return freqs, times, 10.0 * np.log10(np.maximum(power, POWER_FLOOR))


def spectrogram_figure(
    waveform, sample_rate, title=None, nfft=256, hop=128, heard=None, span_label="heard"
):
    """A Figure of the waveform's spectrogram in dB (80 dB range below its maximum).

    ``heard`` [start, stop] in seconds: the span the model hears (or, with ``span_label``, another
    span), marked by dashed lines, the rest greyed."""
    freqs, times, db = spectrogram_db(waveform, sample_rate, nfft, hop)
    dt, df = hop / sample_rate, sample_rate / nfft
    top = float(db.max())
    fig = new_figure((6.0, 3.2))
    ax = fig.add_subplot()
    image = ax.imshow(
        db,
        origin="lower",
        aspect="auto",
        cmap="magma",
        interpolation="nearest",
        vmin=top - DYNAMIC_RANGE_DB,
        vmax=top,
        extent=(times[0] - dt / 2, times[-1] + dt / 2, freqs[0] - df / 2, freqs[-1] + df / 2),
    )
    if heard is not None:
        start, stop = heard
        left, right = times[0] - dt / 2, times[-1] + dt / 2
        for a, b in ((left, start), (stop, right)):
            if b > a:
                ax.axvspan(a, b, color="white", alpha=0.25, linewidth=0)
        for t in (start, stop):
            ax.axvline(t, color="white", linestyle="--", linewidth=1)
        ax.set_xlim(left, right)
        marked = f"{span_label}: {start:g}-{stop:g} s"
        title = f"{title}  ({marked})" if title else marked
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    if title:
        ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label="power (dB)")
    return fig


def write_spectrogram_png(path, waveform, sample_rate, title=None, heard=None, span_label="heard"):
    """Write the spectrogram picture of ``waveform`` as a PNG, atomically (``heard``, ``span_label``:
    see spectrogram_figure)."""
    figure = spectrogram_figure(waveform, sample_rate, title, heard=heard, span_label=span_label)
    save_png(path, figure)


def confusion_figure(matrix, class_names, title=None):
    """A Figure of a confusion matrix: rows are true classes, columns predicted, counts in the cells."""
    matrix = np.asarray(matrix)
    n = len(class_names)
    if matrix.shape != (n, n):
        raise ValueError(f"a confusion matrix for {n} classes must be {n}x{n}, got {matrix.shape}")
    size = max(4.0, 0.55 * n + 2.0)
    fig = new_figure((size + 0.8, size))
    ax = fig.add_subplot()
    image = ax.imshow(matrix, cmap="Blues", vmin=0)
    integers = np.all(np.mod(matrix, 1) == 0)
    threshold = matrix.max() / 2 if matrix.size else 0
    for i in range(n):
        for j in range(n):
            value = matrix[i, j]
            ax.text(
                j,
                i,
                f"{int(value)}" if integers else f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if value > threshold else "black",
            )
    ax.set_xticks(
        range(n),
        [str(c) for c in class_names],
        rotation=45,
        ha="right",
        rotation_mode="anchor",
        fontsize=8,
    )
    ax.set_yticks(range(n), [str(c) for c in class_names], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.8, label="count")
    return fig


def write_confusion_png(path, matrix, class_names, title=None):
    """Write the confusion-matrix picture as a PNG, atomically."""
    save_png(path, confusion_figure(matrix, class_names, title))


# --------------------------------------------------------------------------- TensorBoard


def _batch(waveforms):
    """(B, samples) float32; a single (samples,) waveform becomes a batch of one."""
    x = np.asarray(waveforms, np.float32)
    if x.ndim == 1:
        x = x[None]
    if x.ndim == 3 and x.shape[-1] == 1:
        x = x[..., 0]
    if x.ndim != 2:
        raise ValueError(f"expected waveforms of shape (batch, samples), got {x.shape}")
    return x


def log_audio(name, waveforms, sample_rate, step, max_outputs=3):
    """tf.summary.audio of (B, samples) waveforms in [-1, 1] (clipped) into the default writer."""
    import tensorflow as tf

    x = np.clip(_batch(waveforms)[:max_outputs], -1.0, 1.0)[..., None]  # (B, samples, channels)
    return tf.summary.audio(name, x, int(sample_rate), step=step, max_outputs=max_outputs)


def log_spectrograms(name, waveforms, sample_rate, step, titles=None, max_outputs=3):
    """tf.summary.image of one spectrogram picture per waveform (first ``max_outputs``)."""
    import tensorflow as tf

    x = _batch(waveforms)[:max_outputs]
    titles = list(titles) if titles is not None else [None] * len(x)
    images = np.stack(
        [figure_to_array(spectrogram_figure(w, sample_rate, t)) for w, t in zip(x, titles)]
    )
    return tf.summary.image(name, images, step=step, max_outputs=max_outputs)


def log_confusion(name, matrix, class_names, step, title=None):
    """tf.summary.image of the confusion-matrix picture."""
    import tensorflow as tf

    image = figure_to_array(confusion_figure(matrix, class_names, title))
    return tf.summary.image(name, image[None], step=step)


def log_scalars(scalars, step):
    """tf.summary.scalar for every name -> value of ``scalars``."""
    import tensorflow as tf

    for name, value in scalars.items():
        tf.summary.scalar(name, float(value), step=step)


class DreamLog:
    """TensorBoard events of a dream run: a snapshot of every row between chunks (audio and
    spectrogram for waveforms, an image otherwise), then the objective of every row at every step.

    Pass the instance as a ``callbacks`` entry of tfam.dream, then call ``write_history(result)``."""

    SNAPSHOTS = 10  # per run, whatever the number of chunks (they are sized by time)

    def __init__(self, logdir, names, sample_rate=None, value_range=(0.0, 1.0)):
        import tensorflow as tf

        self.writer = tf.summary.create_file_writer(logdir)
        self.names, self.sample_rate, self.value_range = list(names), sample_rate, value_range
        self._part = (0, 0)  # (first row of the rows being dreamed, step of their next snapshot)

    def _tag(self, i):
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in self.names[i])

    def __call__(self, progress):
        import tensorflow as tf

        first = progress.first_row
        if first != self._part[0]:  # the next part of a batch run in parts: its own snapshots
            self._part = (first, 0)
        if progress.step < min(self._part[1], progress.steps):
            return
        self._part = (first, progress.step + max(1, progress.steps // self.SNAPSHOTS))
        x = progress.input()
        with self.writer.as_default():
            for i in range(min(len(x), len(self.names) - first)):  # named rows (not restarts)
                tag, one = self._tag(first + i), x[i : i + 1]
                if self.sample_rate:
                    log_audio(f"audio/{tag}", one, self.sample_rate, progress.step, 1)
                    log_spectrograms(
                        f"spectrogram/{tag}",
                        one,
                        self.sample_rate,
                        progress.step,
                        titles=[self.names[first + i]],
                        max_outputs=1,
                    )
                else:
                    lo, hi = self.value_range
                    image = np.clip((one - lo) / (hi - lo), 0, 1)
                    image = image[..., None] if image.ndim == 3 else image
                    tf.summary.image(f"input/{tag}", image, step=progress.step)
        self.writer.flush()

    def write_history(self, result):
        import tensorflow as tf

        with self.writer.as_default():
            for step, values in enumerate(result.history, start=1):
                for i, value in enumerate(values):
                    tf.summary.scalar(f"objective/{self._tag(i)}", float(value), step=step)
        self.writer.flush()


def _event_files(logdir, run=None):
    """Every TensorBoard event file under ``logdir`` (or its subdirectory ``run``), sorted."""
    top = os.path.join(os.fspath(logdir), run) if run else os.fspath(logdir)
    found = []
    for directory, _, files in os.walk(top):
        found += [os.path.join(directory, f) for f in files if "tfevents" in f]
    return sorted(found)


def _accumulators(logdir, run=None):
    """A loaded EventAccumulator per event file, keeping every event (size guidance 0)."""
    from tensorboard.backend.event_processing import event_accumulator as ea

    guidance = {kind: 0 for kind in ea.DEFAULT_SIZE_GUIDANCE}
    for path in _event_files(logdir, run):
        yield ea.EventAccumulator(path, size_guidance=guidance).Reload()


_KINDS = {"scalars": "scalars", "images": "images", "audio": "audio"}


def read_tags(logdir):
    """{tag: kind} over every event file under ``logdir``; kind is scalars, images, audio or tensors.

    Tags of all runs (subdirectories) are merged into one dict."""
    tags = {}
    for acc in _accumulators(logdir):
        available = acc.Tags()
        for kind in _KINDS:  # TF1-style summaries
            for tag in available.get(kind, []):
                tags[tag] = kind
        for tag in available.get("tensors", []):  # TF2 writes tensors with plugin metadata
            plugin = acc.SummaryMetadata(tag).plugin_data.plugin_name
            tags[tag] = _KINDS.get(plugin, "tensors")
    return tags


def read_scalars(logdir, tag, run=None):
    """[(step, value)] of scalar ``tag`` in file order, from all runs or from subdirectory ``run``."""
    from tensorboard.util import tensor_util

    values = []
    for acc in _accumulators(logdir, run):
        available = acc.Tags()
        if tag in available.get("scalars", []):
            values += [(int(e.step), float(e.value)) for e in acc.Scalars(tag)]
        if tag in available.get("tensors", []):
            values += [
                (int(e.step), float(tensor_util.make_ndarray(e.tensor_proto).item()))
                for e in acc.Tensors(tag)
            ]
    return values


# --------------------------------------------------------------------------- HTML gallery

_CSS = """body{font-family:sans-serif;margin:1.5em;color:#222}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:1em}
.card{border:1px solid #ccc;border-radius:6px;padding:.7em;background:#fafafa}
.card h2{font-size:1.05em;margin:0 0 .5em}
.card img{max-width:100%;display:block}
.card audio{width:100%;margin:.4em 0}
.card table{border-collapse:collapse;font-size:.85em}
.card td{padding:.1em .6em .1em 0}
.note{font-size:.85em;color:#555}"""


def _e(text):
    """HTML-escaped text, quotes included (safe in attributes)."""
    return html.escape(str(text), quote=True)


def _format_score(value):
    if isinstance(value, (bool, numbers.Integral)) or not isinstance(value, numbers.Real):
        return str(value)
    return f"{float(value):.3f}"


def _card(entry):
    name = entry["name"]
    parts = ['<div class="card">', f"<h2>{_e(name)}</h2>"]
    if entry.get("image"):
        parts.append(f'<img src="{_e(entry["image"])}" alt="{_e(name)}" loading="lazy">')
    if entry.get("audio"):
        parts.append(f'<audio controls preload="none" src="{_e(entry["audio"])}"></audio>')
    scores = entry.get("scores") or {}
    if scores:
        rows = "".join(
            f"<tr><td>{_e(label)}</td><td>{_e(_format_score(value))}</td></tr>"
            for label, value in scores.items()
        )
        parts.append(f"<table>{rows}</table>")
    if entry.get("note"):
        parts.append(f'<p class="note">{_e(entry["note"])}</p>')
    parts.append("</div>")
    return "\n".join(parts)


def write_gallery(path, title, entries, intro=None, links=()):
    """Write an HTML page of cards (name, spectrogram image, audio player, scores), atomically.

    ``entries``: dicts with "name" and optional "image", "audio" (relative links, used as given),
    "scores" (label -> float or str) and "note". ``intro``: a string or a list of strings, one
    paragraph each; ``links``: (text, relative link) pairs, one paragraph each, after the intro.
    Everything is escaped; no JavaScript, no external resources."""
    write_html(
        path,
        page_top(title, _CSS, intro)
        + [f'<p><a href="{_e(href)}">{_e(text)}</a></p>' for text, href in links]
        + ['<div class="cards">', *[_card(entry) for entry in entries], "</div>"],
    )


def page_top(title, css, intro=None):
    """The first lines of a page: its head (title, inline ``css``), its heading and ``intro``, a
    string or a list of strings, one paragraph each (escaped)."""
    intro = [] if intro is None else [intro] if isinstance(intro, str) else list(intro)
    return [
        "<!DOCTYPE html>",
        '<html lang="en">',
        '<head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title>",
        f"<style>\n{css}\n</style></head>",
        "<body>",
        f"<h1>{_e(title)}</h1>",
        *[f"<p>{_e(p)}</p>" for p in intro],
    ]


def write_html(path, lines):
    """Write a page from its lines (page_top's, then the body's), closing it, atomically."""
    page = "\n".join(lines + ["</body>", "</html>", ""])
    # bytes: the page declares UTF-8 whatever the locale's default encoding is
    with atomic_write(os.fspath(path), "wb") as f:
        f.write(page.encode("utf-8"))
