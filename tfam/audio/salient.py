"""Salient audio (seed 003): the part of a clip an attribution map points at, made audible, and a
faithfulness check of the map.

    hear = hearing(model)                               # how the model hears a clip
    clip = fit_length(waveform, hear.samples)[0]        # tfam.audio.fitting
    att = attribute(model, hear.model_input(clip[None]), "gradcam")
    result = salient_audio(model, hear, clip[None], att.maps, att.targets, threshold="mean")
    result.keep_audio, result.optimized_audio, result.probabilities["keep"], ...

Steps: the map (on the grid the model sees: its spectrogram, log-mel or samples) is optionally
thresholded (seed 003: at the row's mean; the cells that reach it are kept), resampled by time
and frequency onto the log-mel of the clip, and multiplied into it. The product is taken on the mel
magnitudes, log(max(mel * map, floor)), so that a zero of the map is silence: seed 003 multiplied
the log values themselves, which for log(x + 1e-6) makes quiet cells louder (a log below zero
moves toward zero).
The masked log-mel becomes audio two ways: fast Griffin-Lim (tfam.audio.mel.mel_griffin_lim), and a
waveform optimized by tfam's engine (tfam.dream with a log-mel-matching objective) until its log-mel
matches the masked one.

Faithfulness: the model's probability for the target class on the clip, on the salient audio
("keep") and on its complement ("remove": the other cells, or 1 - map unthresholded), both vocoded
by Griffin-Lim; "resynth" is the unmasked log-mel through the same vocoder, the baseline for what
vocoding alone costs. A faithful map keeps the prediction on "keep" and loses it on "remove".
"""

import dataclasses
import functools
import math

import keras
import numpy as np
import tensorflow as tf

from tfam.attribution import find_frontend
from tfam.audio import mel
from tfam.surgery import output_activation

RAW_SAMPLE_RATE = (
    22050  # seed 000's raw-waveform emotion classifier: the one tfam model on bare samples
)
GRIFFIN_LIM_ITERATIONS = 32


# ----------------------------------------------------------------------------- how a model hears


@dataclasses.dataclass(frozen=True)
class Hearing:
    """How a tfam model hears a clip: its rate and length, what it computes from the waveform, and
    the coordinates of the grid its attribution maps lie on."""

    kind: str  # "spectrogram" (seed 002), "log_mel" or "waveform"
    sample_rate: int
    samples: int  # the clip length the model hears
    frontend: str | None  # the front-end layer inside the model, if the model takes the waveform
    settings: dict  # the spectrogram's or log-mel's settings (empty for "waveform")
    times: np.ndarray  # (T,) seconds of the grid's time axis
    freqs: np.ndarray | None  # (F,) Hz of the grid's frequency axis (None for "waveform")
    channel: bool = False  # a "waveform" model taking (samples, 1), not (samples,)

    @property
    def freq_scale(self):
        return "mel" if self.kind == "log_mel" else "linear"

    def model_input(self, waveforms):
        """The model's input for (B, samples) waveforms."""
        x = tf.convert_to_tensor(waveforms, tf.float32)
        if self.frontend is not None or self.kind == "waveform":
            return x[..., None] if self.channel else x
        if self.kind == "spectrogram":
            from tfam.audio.spectrogram import seed_spectrogram

            return seed_spectrogram(x, **self.settings)
        return mel.LogMel(**self.settings, scale_to_unit=True)(x)

    def mel_settings(self):
        """The log-mel that salient audio masks: the model's own one, else one for the rate."""
        if self.kind == "log_mel":
            return dict(self.settings)
        return mel_settings(self.sample_rate)


def mel_settings(sample_rate):
    """A log-mel for Griffin-Lim at any rate: a window of about 32 ms (a power of two), a hop of a
    quarter window (Griffin-Lim needs 75 % overlap to find a consistent phase), 80 bands up to
    8 kHz (64 at 8 kHz and below, where narrower bands would fall between FFT bins)."""
    n_fft = 2 ** math.ceil(math.log2(0.032 * sample_rate))
    return dict(
        sample_rate=int(sample_rate),
        n_fft=n_fft,
        hop=n_fft // 4,
        win=n_fft,
        n_mels=64 if sample_rate <= 8000 else 80,
        fmin=0.0,
        fmax=min(sample_rate / 2, 8000.0),
    )


def _seed_grid(settings, sample_rate):
    s = settings
    frames = (s["stop"] - s["start"] - s["nfft"]) // s["hop"] + 1
    kept = np.arange(0, frames, s["frame_stride"])
    times = (s["start"] + kept * s["hop"] + s["nfft"] / 2) / sample_rate
    return times, np.arange(s["nfft"] // 2 + 1) * sample_rate / s["nfft"]


def mel_grid(settings, samples):
    """(times in s, band centres in Hz) of the log-mel of ``settings`` of a clip of ``samples``."""
    frames = mel.frame_count(samples, settings["hop"])
    times = np.arange(frames) * settings["hop"] / settings["sample_rate"]  # centred frames
    freqs = mel.mel_frequencies(settings["n_mels"] + 2, settings["fmin"], settings["fmax"])[1:-1]
    return times, freqs


def _layer_settings(layer, names):
    return {k: layer.settings[k] for k in names}


MEL_KEYS = ("sample_rate", "n_fft", "hop", "win", "n_mels", "fmin", "fmax")
SEED_KEYS = ("start", "stop", "nfft", "hop", "frame_stride", "floor")


def hearing(model, sample_rate=None):
    """The :class:`Hearing` of a tfam model, from its front-end layer or its input shape.

    Known: a waveform model with tfam's SeedSpectrogram (8 kHz) or LogMel layer; seed 002's
    129x13x1 spectrogram input (8 kHz, 4 s); seed 000's 80-band log-mel input in [0, 1] (22050 Hz);
    a bare waveform input (``sample_rate``, default 22050 Hz as seed 000's raw classifier; the
    other kinds fix their rate)."""
    from tfam.audio import spectrogram

    if len(model.inputs) != 1:
        raise ValueError(
            f"the model takes {len(model.inputs)} inputs; tfam explains models with one"
        )
    shape = tuple(model.inputs[0].shape[1:])
    layer = find_frontend(model)
    channel = layer is None and len(shape) == 2 and shape[1] == 1  # (samples, 1)
    if channel:
        shape = shape[:1]
    if layer is not None or len(shape) == 1:
        if len(shape) != 1 or shape[0] is None:
            raise ValueError(
                f"the model takes input of shape {shape}; tfam needs a fixed-length "
                "waveform (batch, samples)"
            )
        samples = shape[0]
    if isinstance(layer, spectrogram.SeedSpectrogram):
        rate = spectrogram.SAMPLE_RATE  # seed 002's spectrogram is of 8 kHz audio
        settings = _layer_settings(layer, SEED_KEYS)
        return Hearing(
            "spectrogram", rate, samples, layer.name, settings, *_seed_grid(settings, rate)
        )
    if isinstance(layer, mel.LogMel):
        settings = _layer_settings(layer, MEL_KEYS)
        return Hearing(
            "log_mel",
            settings["sample_rate"],
            samples,
            layer.name,
            settings,
            *mel_grid(settings, samples),
        )
    if shape == spectrogram.SHAPE:
        rate = spectrogram.SAMPLE_RATE
        settings = dict(
            zip(
                SEED_KEYS,
                (
                    spectrogram.START,
                    spectrogram.STOP,
                    spectrogram.NFFT,
                    spectrogram.HOP,
                    spectrogram.FRAME_STRIDE,
                    spectrogram.FLOOR,
                ),
            )
        )
        return Hearing(
            "spectrogram", rate, spectrogram.SAMPLES, None, settings, *_seed_grid(settings, rate)
        )
    if len(shape) == 3 and shape[0] == mel.N_MELS and shape[1] is not None and shape[2] == 1:
        settings = dict(
            zip(
                MEL_KEYS,
                (mel.SAMPLE_RATE, mel.N_FFT, mel.HOP, mel.WIN, mel.N_MELS, mel.FMIN, mel.FMAX),
            )
        )
        samples = (shape[1] - 1) * mel.HOP  # centred frames: exactly shape[1] of them
        return Hearing(
            "log_mel", mel.SAMPLE_RATE, samples, None, settings, *mel_grid(settings, samples)
        )
    if len(shape) == 1:
        rate = sample_rate or RAW_SAMPLE_RATE
        return Hearing(
            "waveform", rate, samples, None, {}, np.arange(samples) / rate, None, channel
        )
    raise ValueError(
        f"tfam cannot tell how a model with input {shape} hears audio: it knows "
        "waveform inputs (with or without tfam's SeedSpectrogram/LogMel front end), "
        f"seed 002's {spectrogram.SHAPE} spectrogram and seed 000's "
        f"({mel.N_MELS}, frames, 1) log-mel"
    )


def probabilities(model, hear, waveforms, batch_size=64):
    """(B, classes) the model's class probabilities for (B, samples) waveforms."""
    squash = output_activation(model)
    parts = []
    for i in range(0, len(waveforms), batch_size):
        out = model(hear.model_input(waveforms[i : i + batch_size]), training=False)
        parts.append((out if squash == "softmax" else tf.nn.softmax(out)).numpy())
    return np.concatenate(parts)


# ----------------------------------------------------------------------------- maps onto the log-mel


def salient_mask(maps, threshold="mean"):
    """The mask that keeps the salient part: thresholded (seed 003: at the row's mean, or at a
    number), 1 where the map reaches the threshold and 0 elsewhere; ``None``/"none": the soft map
    itself. Its complement (1 - mask) removes the salient part. (A soft complement removes too
    little: 1 - 0.9 leaves a salient tone at -20 dB, still the loudest thing in its band, and the
    seed-002 and log-mel front ends normalize loudness away.)"""
    maps = np.asarray(maps, np.float32)
    if threshold is None or threshold == "none":
        return maps
    if threshold == "mean":
        level = maps.mean(axis=tuple(range(1, maps.ndim)), keepdims=True)
    else:
        level = float(threshold)
        if not 0.0 <= level <= 1.0:
            raise ValueError(
                f"a threshold must be 'mean', 'none' or a number in [0, 1], got {threshold}"
            )
    return (maps >= level).astype(np.float32)


def resample_axis(values, axis, source, target):
    """Values on the coordinates ``source`` along ``axis`` -> on ``target``: the mean of the source
    points within each target cell when there are two or more (a fine map read coarsely, e.g. a
    per-sample map per frame), else linear interpolation; zero beyond half a cell past the ends."""
    values = np.moveaxis(np.asarray(values, np.float64), axis, -1)
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    flat = values.reshape(-1, len(source))
    half = (source[-1] - source[0]) / max(len(source) - 1, 1) / 2
    inside = (target >= source[0] - half) & (target <= source[-1] + half)
    step = (target[-1] - target[0]) / max(len(target) - 1, 1)
    edges = np.concatenate(
        [[target[0] - step / 2], (target[1:] + target[:-1]) / 2, [target[-1] + step / 2]]
    )
    cuts = np.searchsorted(source, edges)
    counts = np.diff(cuts)
    sums = np.diff(
        np.concatenate([np.zeros((len(flat), 1)), np.cumsum(flat, axis=1)], axis=1)[:, cuts], axis=1
    )
    interp = np.stack([np.interp(target, source, row) for row in flat])
    out = np.where(counts >= 2, sums / np.maximum(counts, 1), interp) * inside
    out = out.reshape(values.shape[:-1] + (len(target),))
    return np.moveaxis(out, -1, axis).astype(np.float32)


def map_to_mel(maps, hear, settings=None):
    """(B, *grid) maps -> (B, n_mels, frames) on the log-mel of ``settings`` (default
    hear.mel_settings()) of a clip of hear.samples samples."""
    settings = settings or hear.mel_settings()
    times, freqs = mel_grid(settings, hear.samples)
    maps = np.asarray(maps, np.float32)
    if hear.freqs is None:  # a map over time only: the same for every band
        over_time = resample_axis(maps, 1, hear.times, times)
        return np.repeat(over_time[:, None, :], len(freqs), axis=1)
    if (
        hear.kind == "log_mel"
        and maps.shape[1:] == (len(freqs), len(times))
        and settings == hear.settings
    ):
        return maps  # already on this grid
    return resample_axis(resample_axis(maps, 1, hear.freqs, freqs), 2, hear.times, times)


def clip_log_mel(waveforms, settings):
    """(B, n_mels, frames) log-mel of (B, samples) waveforms (tfam.audio.mel, floor 1e-5)."""
    return mel.log_mel(tf.constant(waveforms, tf.float32), **settings).numpy()


def mask_log_mel(log_mel_values, mask, floor=mel.LOG_FLOOR):
    """log(max(mel * mask, floor)): the mask scales the mel magnitudes, so zero is silence."""
    masked = np.exp(np.asarray(log_mel_values, np.float64)) * np.asarray(mask, np.float64)
    return np.log(np.maximum(masked, floor)).astype(np.float32)


# ----------------------------------------------------------------------------- back to audio


@functools.lru_cache(maxsize=16)
def _griffin_lim_function(settings, samples, n_iter):
    # compiled once per setting: run eagerly, the loop's ops cost 7x more (36 clips at 8 kHz);
    # for any number of clips (the faithfulness metrics send batches of every size)
    settings = dict(settings)
    frames = mel_grid(settings, samples)[0].shape[0]
    return tf.function(
        lambda x: mel.mel_griffin_lim(
            x, n_iter=n_iter, length=samples, phase_gradient=False, **settings
        ),
        input_signature=[tf.TensorSpec((None, settings["n_mels"], frames), tf.float32)],
    )


def griffin_lim(log_mel_values, settings, samples, n_iter=GRIFFIN_LIM_ITERATIONS):
    """(B, n_mels, frames) log-mel -> (B, samples) waveform in [-1, 1] by fast Griffin-Lim."""
    run = _griffin_lim_function(tuple(sorted(settings.items())), samples, n_iter)
    return np.clip(run(tf.constant(log_mel_values, tf.float32)).numpy(), -1.0, 1.0)


def log_mel_error(waveforms, target, settings, floor=mel.LOG_FLOOR):
    """(B,) RMS difference between the log-mel of the waveforms and ``target`` (both floored)."""
    low = math.log(floor)
    diff = np.maximum(clip_log_mel(waveforms, settings), low) - np.maximum(target, low)
    return np.sqrt(np.mean(diff**2, axis=(1, 2)))


def optimize_waveform(
    target, settings, samples, start=None, steps=500, learning_rate=0.005, seed=0, verbose=0
):
    """(B, samples) waveforms whose log-mel matches ``target`` (B, n_mels, frames), optimized by
    tfam's engine: the "model" is the log-mel front end, the objective minus the mean squared
    log-mel difference per row, the parameters the samples (in [-1, 1]). ``start``: (B, samples),
    default quiet noise (std 0.01). Returns (the best waveform of every row, the engine's Result).

    Adam's rate decays exponentially to 3 % of ``learning_rate`` over the run: on a 4 s clip at
    8 kHz a constant 0.001 ended at an RMS log-mel error of 0.56 after 500 steps, this schedule
    at 0.29 (Griffin-Lim: 0.36); at 22050 Hz 0.57 (Griffin-Lim 0.70)."""
    from tfam import objectives, optimizers
    from tfam import params as param_lib
    from tfam.engine import dream

    target = np.asarray(target, np.float32)
    rows = len(target)
    wave = keras.Input((samples,), name="waveform")
    model = keras.Model(
        wave, mel.LogMel(**settings, name="log_mel")(wave), name="log_mel_of_waveform"
    )
    goal = tf.constant(np.maximum(target, math.log(mel.LOG_FLOOR)))

    def match(acts):
        return -tf.reduce_mean(tf.square(acts[objectives.OUTPUT][..., 0] - goal), axis=[1, 2])

    objective = objectives.Objective(match, [objectives.OUTPUT], "log_mel_match", rows=rows)
    if start is None:
        start = 0.01 * np.random.default_rng(seed).standard_normal((rows, samples))
    param = param_lib.direct((-1.0, 1.0), start=np.asarray(start, np.float32))
    optimizer = optimizers.adam(optimizers.exponential_decay(learning_rate, 0.03 ** (1.0 / steps)))
    result = dream(
        model, objective, param=param, optimizer=optimizer, steps=steps, seed=seed, verbose=verbose
    )
    return result.best_x, result


def at_loudness_of(waveforms, reference):
    """(B, samples) waveforms, each scaled to the RMS of its row of ``reference`` (and limited to
    full scale). The optimized salient sound came out 10-30x quieter than the kept part of the
    clip (RMS 0.0015-0.006): the log-mel match starts from quiet noise and its quiet cells, at the
    floor, pull no louder."""
    x = np.asarray(waveforms, np.float64)
    level = np.sqrt(np.mean(np.square(x), axis=1, keepdims=True))
    wanted = np.sqrt(np.mean(np.square(np.asarray(reference, np.float64)), axis=1, keepdims=True))
    return np.clip(x * wanted / np.maximum(level, 1e-12), -1.0, 1.0).astype(np.float32)


def mel_removal(hear, n_iter=GRIFFIN_LIM_ITERATIONS):
    """A faithfulness perturbation (tfam.faithfulness) of clips, as salient_audio removes a part:
    the cells a keep mask (on the grid of ``hear``) removes lose their mel magnitude, and the model
    hears the Griffin-Lim sound of the masked log-mel. Give the metric (B, samples) clips."""
    from tfam.faithfulness import Perturbation

    settings = hear.mel_settings()

    def apply(clips, keep):
        values = clip_log_mel(np.asarray(clips, np.float32), settings)
        masked = mask_log_mel(values, map_to_mel(keep, hear, settings))
        return np.asarray(hear.model_input(griffin_lim(masked, settings, hear.samples, n_iter)))

    return Perturbation(f"mel magnitude removed, Griffin-Lim ({n_iter} iterations)", apply=apply)


# ----------------------------------------------------------------------------- the whole step


@dataclasses.dataclass
class Salient:
    mask: np.ndarray  # (B, n_mels, frames) the (thresholded) map on the log-mel
    log_mel: np.ndarray  # (B, n_mels, frames) of the clips
    keep_log_mel: np.ndarray  # masked by the map
    remove_log_mel: np.ndarray  # masked by 1 - map
    keep_audio: np.ndarray  # (B, samples) Griffin-Lim of keep_log_mel
    remove_audio: np.ndarray  # Griffin-Lim of remove_log_mel
    optimized_audio: np.ndarray | None  # the engine's waveform for keep_log_mel (None if not asked)
    optimized_error: dict | None  # RMS log-mel error of the optimized waveform: start, final
    probabilities: dict  # "original", "resynth", "keep", "remove": (B,) target probability
    settings: dict  # the log-mel's settings


def salient_audio(
    model,
    hear,
    clips,
    maps,
    targets,
    threshold="mean",
    optimize=True,
    steps=500,
    n_iter=GRIFFIN_LIM_ITERATIONS,
    seed=0,
    verbose=0,
):
    """Mask the clips' log-mel with the maps, vocode keep and remove, and score them (see the module
    docstring). ``clips``: (B, hear.samples); ``maps``: (B, *grid) from tfam.attribution."""
    clips = np.asarray(clips, np.float32)
    settings = hear.mel_settings()
    # on the log-mel grid: cells the model never hears (outside its crop) are not kept, so they
    # stay in the complement
    mask = map_to_mel(salient_mask(maps, threshold), hear, settings)
    values = clip_log_mel(clips, settings)
    keep, remove = mask_log_mel(values, mask), mask_log_mel(values, 1.0 - mask)
    audio = griffin_lim(np.concatenate([keep, remove, values]), settings, hear.samples, n_iter)
    keep_audio, remove_audio, resynth = np.split(audio, 3)
    rows = np.arange(len(clips))
    p = probabilities(model, hear, np.concatenate([clips, resynth, keep_audio, remove_audio]))
    p = p.reshape(4, len(clips), -1)[:, rows, targets]  # (4, B): each version's target probability
    scores = dict(zip(("original", "resynth", "keep", "remove"), p))
    optimized, error = None, None
    if optimize:
        start = 0.01 * np.random.default_rng(seed).standard_normal(clips.shape)
        optimized, _ = optimize_waveform(
            keep, settings, hear.samples, start=start, steps=steps, seed=seed, verbose=verbose
        )
        unscaled = log_mel_error(optimized, keep, settings)
        optimized = at_loudness_of(optimized, keep_audio)
        error = {
            "unscaled": unscaled,
            "start": log_mel_error(start, keep, settings),
            "final": log_mel_error(optimized, keep, settings),
            "griffin_lim": log_mel_error(keep_audio, keep, settings),
        }
        scores["optimized"] = probabilities(model, hear, optimized)[rows, targets]
    return Salient(
        mask=mask,
        log_mel=values,
        keep_log_mel=keep,
        remove_log_mel=remove,
        keep_audio=keep_audio,
        remove_audio=remove_audio,
        optimized_audio=optimized,
        optimized_error=error,
        probabilities=scores,
        settings=settings,
    )


__all__ = [
    "Hearing",
    "hearing",
    "mel_settings",
    "mel_grid",
    "probabilities",
    "salient_mask",
    "resample_axis",
    "map_to_mel",
    "clip_log_mel",
    "mask_log_mel",
    "griffin_lim",
    "log_mel_error",
    "optimize_waveform",
    "mel_removal",
    "Salient",
    "salient_audio",
]
