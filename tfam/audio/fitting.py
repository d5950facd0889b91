"""One way to fit a user's clip to a model, for every command that reads audio (deepdream, explain).

    clip = read_clip("alarm.wav", rate=8000, samples=32000, offset_seconds=None)
    clip.x, clip.notes        # float32 (samples,) mono at 8 kHz; what was done to it, one line each

In order: mixed down to mono (noted), a warning when most of the clip's energy lies above the
model's Nyquist frequency (that much is lost), band-limited resampling (noted), then the length:
the centre of a longer clip by default (``offset_seconds`` chooses where it starts), a shorter one
zero-padded at the end (noted). ``samples=None``: a model that takes any length gets the clip whole.
"""

import dataclasses

import numpy as np

from tfam.audio.wav import read_wav, resample, to_mono

# warn when more than this share of the clip's energy lies above the model's Nyquist frequency
LOST_ENERGY_WARNING = 0.5


@dataclasses.dataclass(frozen=True)
class FittedClip:
    x: np.ndarray  # float32 (samples,) at ``rate``
    rate: int
    notes: tuple  # what was done to the clip, one sentence each
    start: int  # cropped: where x starts in the clip; padded: where the clip starts in x
    samples: int  # the clip's own length, at ``rate``
    file_rate: int

    @property
    def sounding(self):
        """(start, stop) of x that holds the clip, not padding."""
        if len(self.x) > self.samples:  # zero-padded
            return self.start, self.start + self.samples
        return 0, len(self.x)


def energy_above(x, rate, frequency):
    """The share of the energy of a mono clip ``x`` (at ``rate``) above ``frequency`` Hz."""
    spectrum = np.abs(np.fft.rfft(np.asarray(x, np.float64))) ** 2
    total = spectrum.sum()
    if total == 0:
        return 0.0
    freqs = np.fft.rfftfreq(len(x), 1.0 / rate)
    return float(spectrum[freqs > frequency].sum() / total)


def fit_length(x, samples, offset_seconds=None, rate=None, heard=None):
    """(x fitted to ``samples``, where x starts (in the clip when cropped, in the result when
    padded), a note or None) for a mono clip.

    Longer: the centre ``samples`` (or from ``offset_seconds``, which needs ``rate``); shorter:
    zero-padded at the end, or, when the model hears only ``heard`` = (start, stop) of its input,
    placed in the middle of that span (else the model would hear mostly padding);
    ``samples`` None: unchanged."""
    x = np.asarray(x, np.float32)
    n = len(x)
    if offset_seconds is not None:
        if offset_seconds < 0:
            raise ValueError(f"--offset must be 0 or more seconds, got {offset_seconds:g}")
        if samples is None:
            raise ValueError("--offset is for models of a fixed input length; this one takes any")
    if samples is None or (n == samples and not offset_seconds):
        return x, 0, None
    seconds = (lambda k: f"{k / rate:.3g} s") if rate else (lambda k: f"{k} samples")
    if n <= samples:
        if offset_seconds:
            raise ValueError(
                f"--offset {offset_seconds:g}: the clip is {seconds(n)}, no longer than the "
                f"{seconds(samples)} the model hears"
            )
        if heard is None or tuple(heard) == (0, samples):
            return (
                np.pad(x, (0, samples - n)),
                0,
                f"the clip is {seconds(n)}; the model takes {seconds(samples)}: "
                "zero-padded at the end",
            )
        a, b = heard
        at = min(max(0, (a + b - n) // 2), samples - n)
        where = f"{at / rate:.3f}-{(at + n) / rate:.3f} s" if rate else f"{at}..{at + n}"
        span = f"{a / rate:.3f}-{b / rate:.3f} s" if rate else f"{a}..{b}"
        return (
            np.pad(x, (at, samples - n - at)),
            at,
            f"the clip is {seconds(n)}; the model takes {seconds(samples)} and listens to "
            f"{span}: placed at {where}, zero-padded around it",
        )
    if offset_seconds is None:
        start, how = (n - samples) // 2, "its centre (--offset SECONDS chooses another part)"
    else:
        start, how = int(round(offset_seconds * rate)), "from --offset"
        if start + samples > n:
            raise ValueError(
                f"--offset {offset_seconds:g}: the clip is {seconds(n)}; {seconds(samples)} from "
                f"there run past its end (the last offset that fits is {(n - samples) / rate:.3f})"
            )
    span = (
        f"{start / rate:.3f}-{(start + samples) / rate:.3f} s"
        if rate
        else f"{start}..{start + samples}"
    )
    return (
        x[start : start + samples],
        start,
        f"the clip is {seconds(n)}; the model takes {seconds(samples)}: using {span}, {how}",
    )


def fit_clip(x, file_rate, rate, samples, offset_seconds=None, heard=None):
    """A FittedClip of waveform ``x`` (samples[, channels]) at ``file_rate``, for a model that takes
    ``samples`` (None: any length) at ``rate`` and listens to ``heard`` (start, stop) of them
    (None: all; see tfam.audio.heard)."""
    x = np.asarray(x, np.float32)
    notes = []
    if x.ndim == 2 and x.shape[1] > 1:
        notes.append(f"the WAV has {x.shape[1]} channels: mixed down to mono")
    x = to_mono(x)
    if file_rate != rate:
        if file_rate > rate:
            lost = energy_above(x, file_rate, rate / 2)
            if lost > LOST_ENERGY_WARNING:
                notes.append(
                    f"warning: {lost:.2%} of the clip's energy lies above {rate / 2:g} Hz, the "
                    f"highest frequency a model at {rate} Hz hears: that part is lost, and the "
                    f"model hears the remaining {1 - lost:.2%}"
                )
        notes.append(f"the WAV is at {file_rate} Hz; the model hears {rate} Hz: resampled")
    x = resample(x, file_rate, rate)
    fitted, start, note = fit_length(x, samples, offset_seconds, rate, heard)
    if note:
        notes.append(note)
    return FittedClip(fitted, rate, tuple(notes), start, len(x), int(file_rate))


def read_clip(path, rate, samples, offset_seconds=None, non_finite="refuse", heard=None):
    """fit_clip of a WAV file (NaN or infinite samples refused, or zeroed by ``non_finite``)."""
    x, file_rate = read_wav(path, non_finite)
    return fit_clip(x, file_rate, rate, samples, offset_seconds, heard)
