"""Pictures of attribution maps: the map over the spectrogram (or image) the model sees, with time
(s) and frequency (Hz, or mel bands labelled in Hz) axes; the log-mel before and after masking; the
same pictures as TensorBoard images.

    fig = map_figure(att.features[0], att.maps[0], hear.times, hear.freqs, hear.freq_scale)
    write_png("out/map.png", fig)
    log_figures("attribution/gradcam", [fig], step=0)      # inside a tf.summary writer

Figures are ``matplotlib.figure.Figure`` objects on an Agg canvas (no pyplot state); files are
written atomically; both through tfam.report.summaries.
"""

import numpy as np

from tfam.report.summaries import figure_to_array, new_figure
from tfam.report.summaries import save_png as write_png

MAP_ALPHA = 0.45  # enough to read the spectrogram through the map


def log_figures(name, figures, step):
    """tf.summary.image of the rendered figures, into the default writer."""
    import tensorflow as tf

    images = np.stack([figure_to_array(f) for f in figures])
    return tf.summary.image(name, images, step=step, max_outputs=len(figures))


def _edges(centres):
    """Cell edges around evenly or unevenly spaced centres (for imshow's extent)."""
    c = np.asarray(centres, np.float64)
    if len(c) == 1:
        return c[0] - 0.5, c[0] + 0.5
    return c[0] - (c[1] - c[0]) / 2, c[-1] + (c[-1] - c[-2]) / 2


def _visible(values):
    """Colour limits that ignore the extreme 1 % (a power spectrogram is a few peaks)."""
    low, high = np.percentile(values, [1, 99])
    return (float(low), float(high)) if high > low else (None, None)


def _grid_axes(ax, times, freqs, freq_scale):
    """The extent of a (freqs, times) picture and the axis labels; mel bands are drawn evenly
    spaced and labelled with their centre frequencies."""
    x0, x1 = _edges(times)
    if freq_scale == "mel":
        bands = len(freqs)
        ticks = np.linspace(0, bands - 1, min(6, bands)).round().astype(int)
        ax.set_yticks(ticks, [f"{freqs[i]:.0f}" for i in ticks])
        ax.set_ylabel("frequency (Hz, mel bands)")
        extent = (x0, x1, -0.5, bands - 0.5)
    else:
        ax.set_ylabel("frequency (Hz)")
        extent = (x0, x1, *_edges(freqs))
    ax.set_xlabel("time (s)")
    return extent


def _draw_grid(ax, values, amap, times, freqs, freq_scale):
    extent = _grid_axes(ax, times, freqs, freq_scale)
    low, high = _visible(values)
    ax.imshow(
        values,
        origin="lower",
        aspect="auto",
        cmap="gray",
        extent=extent,
        vmin=low,
        vmax=high,
        interpolation="nearest",
    )
    if amap is None:
        return None
    return ax.imshow(
        amap,
        origin="lower",
        aspect="auto",
        cmap="jet",
        extent=extent,
        vmin=0,
        vmax=1,
        alpha=MAP_ALPHA,
        interpolation="bilinear",
    )


def map_figure(
    features, amap, times=None, freqs=None, freq_scale="linear", title=None, sample_rate=None
):
    """The map over what the model sees, beside it alone.

    ``features``/``amap``: (F, T) spectrogram or log-mel with ``times`` (s) and ``freqs`` (Hz);
    (T,) waveform with ``times`` and ``sample_rate`` (the map over time, drawn over the waveform's
    spectrogram and as a curve); (H, W) image when ``times`` is None (pixel axes)."""
    features, amap = np.asarray(features, np.float32), np.asarray(amap, np.float32)
    if features.shape != amap.shape:
        raise ValueError(f"a map of shape {amap.shape} over features of shape {features.shape}")
    if features.ndim == 1:
        return _waveform_figure(features, amap, times, sample_rate, title)
    fig = new_figure((10.0, 3.6))
    left, right = fig.subplots(1, 2)
    if times is None:  # an image
        for ax in (left, right):
            ax.imshow(features, cmap="gray")
            ax.set_xlabel("x (pixels)")
            ax.set_ylabel("y (pixels)")
        image = right.imshow(amap, cmap="jet", vmin=0, vmax=1, alpha=MAP_ALPHA)
    else:
        _draw_grid(left, features, None, times, freqs, freq_scale)
        image = _draw_grid(right, features, amap, times, freqs, freq_scale)
    left.set_title("what the model sees", fontsize=10)
    right.set_title("attribution", fontsize=10)
    fig.colorbar(image, ax=right, label="attribution")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def _waveform_figure(waveform, amap, times, sample_rate, title):
    from tfam.report.summaries import spectrogram_db

    if sample_rate is None:
        raise ValueError("a map over a waveform needs the sample rate to draw its spectrogram")
    freqs, frames, db = spectrogram_db(waveform, sample_rate)
    over_frames = np.interp(frames, times, amap)
    fig = new_figure((8.0, 5.0))
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    extent = (*_edges(frames), *_edges(freqs))
    top.imshow(
        db,
        origin="lower",
        aspect="auto",
        cmap="gray",
        extent=extent,
        vmin=db.max() - 80,
        interpolation="nearest",
    )
    image = top.imshow(
        np.broadcast_to(over_frames, db.shape),
        origin="lower",
        aspect="auto",
        cmap="jet",
        extent=extent,
        vmin=0,
        vmax=1,
        alpha=MAP_ALPHA,
    )
    top.set_ylabel("frequency (Hz)")
    top.set_title("attribution over time, on the clip's spectrogram", fontsize=10)
    fig.colorbar(image, ax=top, label="attribution")
    bottom.plot(times, amap, lw=0.8)
    bottom.set_ylim(0, 1.05)
    bottom.set_xlabel("time (s)")
    bottom.set_ylabel("attribution")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


def masked_figure(log_mel, keep, remove, times, freqs, title=None):
    """Three log-mels one above the other: the clip, the salient part kept, the salient part removed."""
    fig = new_figure((8.0, 7.5))
    axes = fig.subplots(3, 1, sharex=True)
    low = float(np.max(log_mel)) - 12.0  # about 100 dB of range (natural log)
    for ax, values, name in zip(
        axes, (log_mel, keep, remove), ("the clip", "kept: the salient part", "removed: the rest")
    ):
        extent = _grid_axes(ax, times, freqs, "mel")
        image = ax.imshow(
            values,
            origin="lower",
            aspect="auto",
            cmap="magma",
            extent=extent,
            vmin=low,
            vmax=float(np.max(log_mel)),
            interpolation="nearest",
        )
        ax.set_title(name, fontsize=10)
        if ax is not axes[-1]:
            ax.set_xlabel("")
    fig.colorbar(image, ax=list(axes), label="log mel magnitude")
    if title:
        fig.suptitle(title, fontsize=11)
    return fig


__all__ = ["map_figure", "masked_figure", "write_png", "log_figures"]
