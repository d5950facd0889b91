"""UrbanSound8K as seed 002 used it: synthesize a stand-in, prepare the "modified" set, pack, load.

    download/  audio/fold1..fold10/*.wav, metadata/UrbanSound8K.csv     (the real layout)
        │ prepare(): mono 16-bit 8 kHz, only clips of exactly 4 s, gun_shot dropped, split by fold
        ▼
    modified/  audio/<class>/{TRAIN,VALIDATE,TEST}-<original name>.wav, README.txt
        │ pack()
        ▼
    urbansound.npz  {split}_audio int16 (N, 32000), {split}_labels, {split}_files, class_names

numpy/scipy only (no TensorFlow), so that the data tools start fast.
"""

import collections
import csv
import dataclasses
import functools
import os
import pickle
import re

import numpy as np

from tfam import audio
from tfam.data.classes import check_classes
from tfam.outputs import atomic_write

CLASSES_10 = [
    "air_conditioner",
    "car_horn",
    "children_playing",
    "dog_bark",
    "drilling",
    "engine_idling",
    "gun_shot",
    "jackhammer",
    "siren",
    "street_music",
]  # classID order
CLASSES = [c for c in CLASSES_10 if c != "gun_shot"]  # seed 002: too few 4 s gun shots
SPLITS = ("train", "validate", "test")
PREFIXES = {"train": "TRAIN", "validate": "VALIDATE", "test": "TEST"}
DEFAULT_SPLIT_FOLDS = {"train": tuple(range(1, 9)), "validate": (9,), "test": (10,)}
CSV_COLUMNS = ["slice_file_name", "fsID", "start", "end", "salience", "fold", "classID", "class"]
SAMPLE_RATE, SECONDS = 8000, 4.0
SAMPLES = 32000

BUILD_HINT = (
    "build it with: python3 datatools/prepare_urbansound.py DOWNLOAD_ROOT OUT_ROOT && "
    "python3 datatools/pack_urbansound.py OUT_ROOT (no download? "
    "python3 datatools/synth_urbansound.py DOWNLOAD_ROOT makes a synthetic stand-in)"
)
DOWNLOAD_HINT = (
    "download UrbanSound8K (https://urbansounddataset.weebly.com/urbansound8k.html) and "
    "unpack it there, or make a synthetic stand-in with "
    "python3 datatools/synth_urbansound.py DOWNLOAD_ROOT"
)


# ---------------------------------------------------------------------------------------------
# Synthetic stand-in: procedural, class-specific sounds in the real download's layout.
# ---------------------------------------------------------------------------------------------

# Assorted like the real download; weighted toward lower rates to keep the stand-in small.
_RATES = ([8000, 11025, 16000, 22050, 44100, 48000], [0.15, 0.15, 0.2, 0.2, 0.2, 0.1])
_FORMATS = (["uint8", "int16", "int24", "float32"], [0.1, 0.5, 0.25, 0.15])
_P_SHORT = collections.defaultdict(lambda: 0.15, gun_shot=0.75)  # most real gun shots are short


@functools.lru_cache(maxsize=256)
def _period(amps):
    """One period (4096 points) of a sum of harmonics with amplitudes ``amps``."""
    theta = np.arange(4096) / 4096
    return sum(
        (a * np.sin(2 * np.pi * k * theta) for k, a in enumerate(amps, start=1)), np.zeros(4096)
    )


def _tone(freq, rate, amps):
    """Harmonic tone following the instantaneous frequency ``freq`` (array, Hz). One period is
    tabulated and read at the running phase (cheap however many harmonics); harmonics above
    0.45 * rate are left out so nothing aliases."""
    top = max(float(np.max(freq)), 1.0)
    table = _period(tuple(a for k, a in enumerate(amps, start=1) if k * top < 0.45 * rate))
    cycles = np.cumsum(freq) / rate
    return table[((cycles % 1.0) * 4096).astype(np.intp)]  # nearest entry: distortion < -70 dB


def _place(x, rate, start, segment):
    """Add ``segment`` into ``x`` from ``start`` seconds on (clipped at the end)."""
    i = int(start * rate)
    if 0 <= i < len(x):
        seg = segment[: len(x) - i]
        x[i : i + len(seg)] += seg


def _env(m, rate, attack, decay=None):
    """Envelope of one burst of m samples: linear attack, then exponential decay or flat."""
    t = np.arange(m) / rate
    tail = np.exp(-t / decay) if decay else np.minimum(1.0, (m / rate - t) / 0.01)
    return np.minimum(t / attack, 1.0) * tail


def _band_noise(rng, n, rate, lo, hi, tilt=0.0):
    """White noise kept between lo and hi Hz (FFT mask); ``tilt`` dB/octave shapes the slope."""
    from scipy.fft import irfft, next_fast_len, rfft

    size = next_fast_len(n, real=True)  # an awkward (prime) length would make the FFT crawl
    spec = rfft(rng.standard_normal(size))
    f = np.fft.rfftfreq(size, 1.0 / rate)
    gain = ((f >= lo) & (f <= min(hi, 0.45 * rate))).astype(float)
    if tilt:
        gain *= (np.maximum(f, lo) / lo) ** (tilt / 6.02)
    x = irfft(spec * gain, size)[:n]
    return x / (np.std(x) + 1e-12)


def _air_conditioner(rng, n, rate, t):
    hum = _tone(np.full(n, rng.uniform(50, 120)), rate, [1.0, 0.5, 0.3])
    noise = _band_noise(
        rng, n, rate, rng.uniform(60, 200), rng.uniform(1500, 4000), tilt=-rng.uniform(2, 5)
    )
    return noise + rng.uniform(0.3, 1.0) * hum


def _car_horn(rng, n, rate, t):
    f0 = rng.uniform(300, 480)
    amps = [1.0, 0.6, 0.4, 0.25, 0.15]
    x = _tone(np.full(n, f0), rate, amps)
    if rng.random() < 0.5:  # two-tone horn, a major third apart
        x += _tone(np.full(n, f0 * 1.26), rate, amps)
    env, first = np.zeros(n), rng.uniform(0.0, 1.0)
    honk = _env(int(rng.uniform(2.0, 3.0) * rate), rate, 0.02)  # a long honk over seconds 1-3
    for start in [first] + ([first + rng.uniform(2.2, 3.0)] if rng.random() < 0.4 else []):
        _place(env, rate, start, honk)
    return x * env


def _children_playing(rng, n, rate, t):
    x = 0.3 * _band_noise(rng, n, rate, 200, 3000, tilt=-3)  # crowd murmur
    for _ in range(rng.integers(12, 24)):  # utterances of several children
        m = int(rng.uniform(0.2, 0.8) * rate)
        f_start = rng.uniform(250, 450) * (2.0 if rng.random() < 0.2 else 1.0)  # some shrieks
        glide = f_start * np.exp(np.linspace(0, np.log(rng.uniform(0.7, 1.5)), m))
        _place(
            x,
            rate,
            rng.uniform(0, 3.8),
            _tone(glide, rate, [1.0, 0.7, 0.5, 0.3, 0.2]) * _env(m, rate, 0.03),
        )
    return x


def _dog_bark(rng, n, rate, t):
    x = np.zeros(n)
    times = np.concatenate(
        [rng.uniform(1.0, 2.7, rng.integers(2, 4)), rng.uniform(0, 3.6, rng.integers(1, 4))]
    )
    for start in times:  # a few barks, at least two within seconds 1-3
        length, f0 = rng.uniform(0.15, 0.35), rng.uniform(450, 900)
        m = int(length * rate)
        fall = f0 * np.exp(np.linspace(0, -0.3, m))  # pitch falls within each bark
        voiced = _tone(fall, rate, [1.0, 0.8, 0.6, 0.4, 0.3, 0.2])
        formant = _band_noise(rng, m, rate, rng.uniform(500, 900), rng.uniform(1800, 2800))
        _place(
            x,
            rate,
            start,
            (voiced + rng.uniform(0.4, 1.0) * formant) * _env(m, rate, 0.01, length / 2),
        )
    return x


def _drilling(rng, n, rate, t):
    carrier = rng.uniform(1200, 2800)
    whine = _tone(np.full(n, carrier), rate, [1.0, 0.3])
    hiss = _band_noise(rng, n, rate, carrier * 0.8, carrier * 1.25)
    motor = 1.0 - 0.5 * (np.sin(2 * np.pi * rng.uniform(30, 60) * t) > 0)  # fast chopping
    period = rng.uniform(0.3, 1.0)
    on = (t / period) % 1.0 < rng.uniform(0.6, 0.9)  # periodic bursts of drilling
    return (whine + hiss) * motor * on


def _engine_idling(rng, n, rate, t):
    f0 = rng.uniform(20, 45)  # firing rate
    amps = [1.0 / k**0.7 for k in range(1, int(1000 / f0))]
    wobble = 1.0 + 0.02 * np.sin(2 * np.pi * rng.uniform(0.2, 1) * t)
    am = 1.0 + rng.uniform(0.1, 0.2) * np.sin(2 * np.pi * rng.uniform(1, 4) * t)  # slight AM
    return _tone(f0 * wobble, rate, amps) * am + 0.3 * _band_noise(rng, n, rate, 20, 600, tilt=-4)


def _gun_shot(rng, n, rate, t):
    start = rng.uniform(0.05, min(1.5, 0.5 * n / rate))
    m = min(n, rate)
    crack = _band_noise(rng, m, rate, 100, 6000) * _env(m, rate, 0.001, rng.uniform(0.05, 0.3))
    thump = _tone(np.full(m, rng.uniform(50, 90)), rate, [1.0]) * _env(m, rate, 0.002, 0.1)
    x = np.zeros(n)
    _place(x, rate, start, crack + thump)  # one shot, then only the background
    return x


def _jackhammer(rng, n, rate, t):
    hit_rate = rng.uniform(10, 20)  # blows per second
    starts = np.arange(rng.uniform(0, 0.1), n / rate, 1.0 / hit_rate)
    if rng.random() < 0.5:  # a pause between work periods
        pause = rng.uniform(0, 3.0)
        starts = starts[(starts < pause) | (starts > pause + rng.uniform(0.3, 0.8))]
    env, blow = np.zeros(n), _env(int(rate / hit_rate), rate, 0.002, rng.uniform(0.015, 0.04))
    for start in starts:
        _place(env, rate, start, blow)
    return _band_noise(rng, n, rate, 80, rng.uniform(600, 1200), tilt=-3) * env


def _siren(rng, n, rate, t):
    fc, dev = rng.uniform(600, 1000), rng.uniform(150, 400)
    fm = rng.uniform(0.15, 0.5) if rng.random() < 0.6 else rng.uniform(2.0, 4.0)  # wail or yelp
    doppler = 1.0 + rng.uniform(-0.05, 0.05) * np.tanh((t - rng.uniform(0, 4)) * 2)
    freq = (fc + dev * np.sin(2 * np.pi * fm * t + rng.uniform(0, 2 * np.pi))) * doppler
    return _tone(freq, rate, [1.0, 0.3, 0.15])


def _street_music(rng, n, rate, t):
    beat = 60.0 / rng.uniform(80, 140)
    root = rng.uniform(110, 220)
    scale = [0, 2, 4, 7, 9, 12, 14, 16] if rng.random() < 0.5 else [0, 3, 5, 7, 10, 12, 15, 17]
    x = np.zeros(n)
    step = beat * rng.choice([0.5, 1.0])
    m = int(step * rate)
    for start in np.arange(0, n / rate, step):  # melody, one note a step
        f = root * 2 ** (scale[rng.integers(len(scale))] / 12) * 2
        _place(
            x,
            rate,
            start,
            _env(m, rate, 0.01, step / 2) * _tone(np.full(m, f), rate, [1.0, 0.5, 0.33, 0.25]),
        )
    m = int(4 * beat * rate)
    for bar in np.arange(0, n / rate, 4 * beat):  # a chord each bar
        chord = root * 2 ** (np.array([0, scale[2], 7]) / 12) * 2 ** (rng.integers(0, 2) * 5 / 12)
        for f in chord:
            _place(
                x,
                rate,
                bar,
                0.4 * _env(m, rate, 0.03, 2 * beat) * _tone(np.full(m, f), rate, [1.0, 0.5, 0.25]),
            )
    m = int(beat * rate)
    kick = 0.8 * _env(m, rate, 0.002, 0.05) * _tone(np.full(m, 60.0), rate, [1.0])
    for start in np.arange(0, n / rate, beat):  # a kick drum on every beat
        _place(x, rate, start, kick)
    return x


_GENERATORS = {
    "air_conditioner": _air_conditioner,
    "car_horn": _car_horn,
    "children_playing": _children_playing,
    "dog_bark": _dog_bark,
    "drilling": _drilling,
    "engine_idling": _engine_idling,
    "gun_shot": _gun_shot,
    "jackhammer": _jackhammer,
    "siren": _siren,
    "street_music": _street_music,
}


def synthesize_clip(class_name, rate, samples, seed, channels=1):
    """One procedural clip of ``class_name`` (float64 (samples,) or (samples, 2), peak < 1)."""
    rng = np.random.default_rng(seed)
    n = int(samples)
    t = np.arange(n) / rate
    x = _GENERATORS[class_name](rng, n, rate, t)
    x = x / (np.max(np.abs(x)) + 1e-12)
    # Background: pink-ish city noise (rumble fading into hiss) at a random signal-to-noise ratio.
    bg = _band_noise(rng, n, rate, 20, rate / 2, tilt=-3)
    x = x + 10 ** (-rng.uniform(10, 30) / 20) * bg / 3
    if channels == 2:  # a second microphone: slightly delayed, different gain and noise
        delay = rng.integers(0, 20)
        right = np.roll(x, delay) * rng.uniform(0.7, 1.0) + 0.01 * rng.standard_normal(n)
        x = np.stack([x, right], axis=1)
    return x / (np.max(np.abs(x)) + 1e-12) * rng.uniform(0.1, 0.9)  # random loudness


def synthesize_download(root, clips_per_class=40, seed=0, folds=tuple(range(1, 11))):
    """Write a synthetic UrbanSound8K in the real layout under ``root``; returns the CSV rows.

    ``clips_per_class`` clips of each of the 10 classes are spread over ``folds``. Like the real
    set, clips are 4 s slices of recordings ({fsID}-{classID}-{occurrence}-{slice}.wav); a
    recording's last slice may be shorter (most gun shots are), at assorted sample rates, sample
    formats and channel counts. The first clip of each class in each fold is always 4 s long, so
    every class survives prepare(). Deterministic for a given seed."""
    folds = [int(f) for f in folds]
    if not folds or any(not 1 <= f <= 10 for f in folds):
        raise ValueError(f"folds must be within 1..10, got {folds}")
    if clips_per_class < 1:
        raise ValueError(f"clips_per_class must be at least 1, got {clips_per_class}")
    fs_rng = np.random.default_rng(seed)
    used_ids, rows = set(), []
    for class_id, name in enumerate(CLASSES_10):
        per_fold = [
            clips_per_class // len(folds) + (i < clips_per_class % len(folds))
            for i in range(len(folds))
        ]
        for fold, count in zip(folds, per_fold):
            rng = np.random.default_rng([seed, class_id, fold])
            made = 0
            while made < count:
                fs_id = int(fs_rng.integers(1000, 200000))
                if fs_id in used_ids:
                    continue
                used_ids.add(fs_id)
                # One recording: same rate, format and channels for all its slices.
                rate = int(rng.choice(_RATES[0], p=_RATES[1]))
                fmt = str(rng.choice(_FORMATS[0], p=_FORMATS[1]))
                channels = 2 if rng.random() < 0.35 else 1
                occurrence, offset = int(rng.integers(0, 3)), round(float(rng.uniform(0, 60)), 6)
                slices = int(min(rng.integers(1, 4), count - made))
                for s in range(slices):
                    short = s == slices - 1 and made > 0 and rng.random() < _P_SHORT[name]
                    samples = int(rng.uniform(0.3, 3.8) * rate) if short else int(SECONDS * rate)
                    file_name = f"{fs_id}-{class_id}-{occurrence}-{s}.wav"
                    x = synthesize_clip(name, rate, samples, [seed, class_id, fold, made], channels)
                    audio.write_pcm(
                        os.path.join(root, "audio", f"fold{fold}", file_name), x, rate, fmt
                    )
                    start = round(offset + s * SECONDS, 6)
                    rows.append(
                        {
                            "slice_file_name": file_name,
                            "fsID": fs_id,
                            "start": start,
                            "end": round(start + samples / rate, 6),
                            "salience": int(rng.integers(1, 3)),
                            "fold": fold,
                            "classID": class_id,
                            "class": name,
                        }
                    )
                    made += 1
    for fold in range(1, 11):  # the real download has all ten fold folders
        os.makedirs(os.path.join(root, "audio", f"fold{fold}"), exist_ok=True)
    with atomic_write(os.path.join(root, "metadata", "UrbanSound8K.csv"), "w") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return rows


# ---------------------------------------------------------------------------------------------
# prepare: the download -> UrbanSound8K_modified
# ---------------------------------------------------------------------------------------------


def read_metadata(download_root):
    """The rows of metadata/UrbanSound8K.csv, checked: dicts with fold and classID as int."""
    if not os.path.isdir(download_root):
        raise FileNotFoundError(f"no UrbanSound8K download at {download_root}: {DOWNLOAD_HINT}")
    path = os.path.join(download_root, "metadata", "UrbanSound8K.csv")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"no metadata/UrbanSound8K.csv in {download_root}: is this an "
            f"UrbanSound8K download? {DOWNLOAD_HINT}"
        )
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"{path} lacks the column(s) {', '.join(missing)} "
                f"(expected {','.join(CSV_COLUMNS)})"
            )
        rows = []
        for line, row in enumerate(reader, start=2):
            try:
                row["fold"], row["classID"] = int(row["fold"]), int(row["classID"])
            except (TypeError, ValueError):
                raise ValueError(f"{path} line {line}: fold and classID must be integers") from None
            name = row["class"]
            if name not in CLASSES_10:
                raise ValueError(f"{path} line {line}: unknown class {name!r}")
            if row["classID"] != CLASSES_10.index(name):
                raise ValueError(
                    f"{path} line {line}: classID {row['classID']} does not match class {name!r}"
                )
            if (
                not row["slice_file_name"]
                or os.path.basename(row["slice_file_name"]) != row["slice_file_name"]
            ):
                raise ValueError(
                    f"{path} line {line}: bad slice_file_name {row['slice_file_name']!r}"
                )
            rows.append(row)
    return rows


def _fold_to_split(split_folds):
    unknown = set(split_folds) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split(s) {', '.join(sorted(unknown))}; use {', '.join(SPLITS)}")
    owner = {}
    for split, folds in split_folds.items():
        for fold in folds:
            if fold in owner:
                raise ValueError(
                    f"fold {fold} is in both {owner[fold]} and {split}: splits must be disjoint"
                )
            owner[int(fold)] = split
    return owner


@dataclasses.dataclass
class PrepareSummary:
    counts: dict  # split -> class -> clips written
    wrong_length: int = 0  # clips not exactly 4 s long
    dropped: dict = dataclasses.field(default_factory=dict)  # class -> clips left out on purpose
    unassigned: int = 0  # clips in folds that no split takes
    bad: list = dataclasses.field(default_factory=list)  # (file, reason) skipped with skip_bad
    removed: int = 0  # stale files of an earlier run deleted from the output

    @property
    def total(self):
        return sum(sum(c.values()) for c in self.counts.values())


_OUTPUT_NAME = re.compile(r"^(TRAIN|VALIDATE|TEST)-.+\.wav$")


def _remove_stale(audio_root, written):
    """Delete earlier runs' outputs that this run did not write, so the folder mirrors this run."""
    removed = 0
    if not os.path.isdir(audio_root):
        return 0
    for class_dir in os.scandir(audio_root):
        if not class_dir.is_dir():
            continue
        for entry in os.scandir(class_dir.path):
            if _OUTPUT_NAME.match(entry.name) and os.path.abspath(entry.path) not in written:
                os.remove(entry.path)
                removed += 1
        if not os.listdir(class_dir.path):
            os.rmdir(class_dir.path)
    return removed


def prepare(
    download_root,
    out_root,
    sample_rate=SAMPLE_RATE,
    seconds=SECONDS,
    drop=("gun_shot",),
    split_folds=None,
    skip_bad=False,
    progress=None,
):
    """Make seed 002's UrbanSound8K_modified from a download; returns a PrepareSummary.

    Every clip of exactly ``seconds`` (its file length within one sample of it) is mixed to mono,
    resampled (band-limited) to ``sample_rate`` and written as 16-bit PCM to
    out_root/audio/<class>/<PREFIX>-<original name>.wav, PREFIX being TRAIN, VALIDATE or TEST by
    the clip's fold (``split_folds``, default folds 1-8 / 9 / 10, so no recording is in two splits).
    Classes in ``drop`` are left out. An unreadable WAV stops with an error naming it, unless
    ``skip_bad``. ``progress(done, total)`` is called after each clip."""
    split_folds = DEFAULT_SPLIT_FOLDS if split_folds is None else split_folds
    owner = _fold_to_split(split_folds)
    unknown = [c for c in drop if c not in CLASSES_10]
    if unknown:
        raise ValueError(f"cannot drop unknown class(es) {', '.join(unknown)}")
    target = seconds * sample_rate
    if abs(target - round(target)) > 1e-6:
        raise ValueError(f"{seconds} s at {sample_rate} Hz is not a whole number of samples")
    target = int(round(target))
    rows = read_metadata(download_root)
    summary = PrepareSummary(counts={s: collections.Counter() for s in split_folds})
    written = set()
    audio_root = os.path.join(out_root, "audio")
    for i, row in enumerate(rows):
        name, split = row["class"], owner.get(row["fold"])
        if name in drop:
            summary.dropped[name] = summary.dropped.get(name, 0) + 1
        elif split is None:
            summary.unassigned += 1
        else:
            path = os.path.join(
                download_root, "audio", f"fold{row['fold']}", row["slice_file_name"]
            )
            try:
                x, rate = audio.read_wav(path)
            except (ValueError, FileNotFoundError) as error:
                if not skip_bad:
                    raise
                summary.bad.append((path, str(error)))
                x = None
            # "Exactly 4 s": the file's length, not the CSV's float start/end, within one sample.
            if x is not None and abs(len(x) - seconds * rate) > 1:
                summary.wrong_length += 1
            elif x is not None:
                y = audio.resample(audio.to_mono(x), rate, sample_rate)
                y = np.pad(y[:target], (0, max(0, target - len(y))))  # a sample off at most
                out = os.path.join(audio_root, name, f"{PREFIXES[split]}-{row['slice_file_name']}")
                audio.write_wav(out, y, sample_rate)
                written.add(os.path.abspath(out))
                summary.counts[split][name] += 1
        if progress:
            progress(i + 1, len(rows))
    summary.removed = _remove_stale(audio_root, written)
    if summary.total == 0:
        raise ValueError(
            f"no clip was kept from {download_root}: of {len(rows)} listed, "
            f"{summary.wrong_length} were not {seconds:g} s long, {sum(summary.dropped.values())} "
            f"dropped, {summary.unassigned} in no split, {len(summary.bad)} unreadable"
        )
    summary.counts = {s: dict(summary.counts[s]) for s in summary.counts}
    _write_readme(out_root, download_root, summary, sample_rate, seconds, drop, split_folds)
    return summary


def _write_readme(out_root, download_root, summary, sample_rate, seconds, drop, split_folds):
    classes = [c for c in CLASSES_10 if any(c in summary.counts[s] for s in summary.counts)]
    table = [f"  {'class':<18}" + "".join(f"{s:>10}" for s in summary.counts)]
    for c in classes:
        table.append(
            f"  {c:<18}" + "".join(f"{summary.counts[s].get(c, 0):>10}" for s in summary.counts)
        )
    table.append(
        f"  {'total':<18}"
        + "".join(f"{sum(summary.counts[s].values()):>10}" for s in summary.counts)
    )
    folds = "; ".join(
        f"{PREFIXES[s]}- = fold(s) {', '.join(map(str, f))}" for s, f in split_folds.items()
    )
    text = f"""UrbanSound8K_modified (seed 002 layout), made by tfam.data.urbansound.prepare
from {os.path.abspath(download_root)}

Every clip is mono 16-bit PCM at {sample_rate} Hz, {int(round(seconds * sample_rate))} samples
({seconds:g} s). Only clips of exactly {seconds:g} s were kept (file length within one sample);
stereo was mixed to mono and rates converted with a band-limited polyphase resampler.
Dropped classes: {", ".join(drop) or "none"}.

Layout: audio/<class>/<PREFIX>-<original file name>.wav. The prefix is the split, chosen by the
clip's fold in the original set, so no recording is in two splits: {folds}.

Clips per split and class:
{chr(10).join(table)}

Left out: {summary.wrong_length} not {seconds:g} s long, {sum(summary.dropped.values())} of dropped classes,
{summary.unassigned} in folds of no split, {len(summary.bad)} unreadable.

Pack it for training with: python3 datatools/pack_urbansound.py {os.path.abspath(out_root)}
"""
    with atomic_write(os.path.join(out_root, "README.txt"), "w") as f:
        f.write(text)


# ---------------------------------------------------------------------------------------------
# pack / load
# ---------------------------------------------------------------------------------------------


def _class_order(names, where):
    """Known class names in classID order; anything else is an error."""
    unknown = sorted(set(names) - set(CLASSES_10))
    if unknown:
        raise ValueError(
            f"unknown class {unknown[0]!r} in {where}; UrbanSound8K classes are "
            f"{', '.join(CLASSES_10)}"
        )
    return [c for c in CLASSES_10 if c in set(names)]


def _save_npz(out_path, splits, class_names):
    """splits: split -> (int16 audio (N, SAMPLES), int64 labels, file names)."""
    check_classes(
        {s: splits[s][1] for s in SPLITS},
        class_names,
        f"the dataset for {out_path}",
        every_class=False,
    )
    arrays = {"class_names": np.array(class_names, dtype=str)}
    for split in SPLITS:
        x, y, files = splits[split]
        arrays[f"{split}_audio"] = np.asarray(x, np.int16).reshape(-1, SAMPLES)
        arrays[f"{split}_labels"] = np.asarray(y, np.int64)
        arrays[f"{split}_files"] = np.array(files, dtype=str)
    with atomic_write(out_path) as f:
        np.savez_compressed(f, **arrays)


def pack(modified_root, out_path=None):
    """Pack out_root of prepare() into one .npz (default modified_root/urbansound.npz).

    Returns split -> class -> clip count. Every WAV must be mono 16-bit 8000 Hz with 32000 samples."""
    audio_root = os.path.join(modified_root, "audio")
    if not os.path.isdir(audio_root):
        raise FileNotFoundError(
            f"no prepared UrbanSound8K at {modified_root} (no audio/ folder): {BUILD_HINT}"
        )
    out_path = out_path or os.path.join(modified_root, "urbansound.npz")
    class_dirs = sorted(
        e.name for e in os.scandir(audio_root) if e.is_dir() and not e.name.startswith(".")
    )
    if not class_dirs:
        raise ValueError(f"{audio_root} has no class folders: {BUILD_HINT}")
    class_names = _class_order(class_dirs, audio_root)
    files = {s: [] for s in SPLITS}  # split -> [(path, label)]
    for label, name in enumerate(class_names):
        folder = os.path.join(audio_root, name)
        wavs = sorted(f for f in os.listdir(folder) if f.endswith(".wav") and not f.startswith("."))
        if not wavs:
            raise ValueError(f"class folder {folder} holds no WAV files")
        for f in wavs:
            prefix = f.split("-", 1)[0]
            split = {v: k for k, v in PREFIXES.items()}.get(prefix)
            if split is None:
                raise ValueError(f"{os.path.join(folder, f)} has no TRAIN-/VALIDATE-/TEST- prefix")
            files[split].append((os.path.join(folder, f), label))
    splits, counts = {}, {}
    for split in SPLITS:
        x = np.zeros((len(files[split]), SAMPLES), np.int16)  # filled in place: no second copy
        for i, (path, _) in enumerate(files[split]):
            rate, data = audio.read_wav_raw(path)
            if rate != SAMPLE_RATE or data.dtype != np.int16 or data.shape != (SAMPLES,):
                channels = 1 if data.ndim == 1 else data.shape[1]
                raise ValueError(
                    f"{path} is {rate} Hz, {data.dtype}, {channels} channel(s), "
                    f"{data.shape[0]} samples; expected mono int16 {SAMPLE_RATE} Hz "
                    f"{SAMPLES} samples"
                )
            x[i] = data
        labels = [label for _, label in files[split]]
        names = [os.path.relpath(p, audio_root).replace(os.sep, "/") for p, _ in files[split]]
        splits[split] = (x, labels, names)
        counts[split] = {c: labels.count(k) for k, c in enumerate(class_names)}
    _save_npz(out_path, splits, class_names)
    return counts


def load_packed(path):
    """({split: (float32 audio in [-1, 1] (N, 32000), int64 labels)}, class_names) from pack()."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no packed UrbanSound8K at {path}: {BUILD_HINT}")
    keys = ["class_names"] + [f"{s}_{k}" for s in SPLITS for k in ("audio", "labels")]
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in keys}
    except KeyError as error:
        raise ValueError(f"{path} is not a packed UrbanSound8K: missing {error}") from None
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a readable .npz file: {error}") from None
    class_names = [str(c) for c in arrays["class_names"]]
    splits = {}
    for split in SPLITS:
        x, y = arrays[f"{split}_audio"], arrays[f"{split}_labels"]
        labels_ok = len(y) == len(x) and (len(y) == 0 or 0 <= y.min() <= y.max() < len(class_names))
        if x.ndim != 2 or x.shape[1] != SAMPLES or not labels_ok:
            raise ValueError(f"{path}: {split} audio {x.shape} / labels {y.shape} are inconsistent")
        splits[split] = (x.astype(np.float32) / 32768.0, y.astype(np.int64))
    return splits, class_names


def _read_seed_pickle(path, allow_pickle):
    """The seed's [TRAIN, VAL, TEST] lists of [class_name, int16 array], checked."""
    if not allow_pickle:
        raise ValueError(
            f"refusing to load {path}: pickle files can run code; pass --allow_pickle "
            "if you trust it"
        )
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such pickle file: {path}")
    try:
        with open(path, "rb") as f:
            data = pickle.load(f, encoding="latin1")  # latin1: numpy arrays pickled by Python 2
    except Exception as error:  # a broken pickle raises almost anything
        raise ValueError(
            f"{path} is not a readable pickle ({type(error).__name__}: {error})"
        ) from None
    if not isinstance(data, (list, tuple)) or len(data) != 3:
        raise ValueError(
            f"{path} is not the seed's urbansound.pkl: expected a list [TRAIN, VAL, TEST]"
        )
    for split, items in zip(SPLITS, data):
        for i, item in enumerate(items):
            if (
                len(item) != 2
                or not isinstance(item[0], str)
                or np.asarray(item[1]).shape != (SAMPLES,)
            ):
                raise ValueError(
                    f"{path}: {split} item {i} is not [class_name, array of {SAMPLES} samples]"
                )
    names = {item[0] for items in data for item in items}
    return data, _class_order(names, path)


def _seed_pickle_arrays(path, allow_pickle):
    """split -> (int16 audio (N, 32000), labels, names), class_names from the seed's pickle."""
    data, class_names = _read_seed_pickle(path, allow_pickle)
    splits = {}
    for split, items in zip(SPLITS, data):
        x = np.zeros((len(items), SAMPLES), np.int16)
        for i, (_, a) in enumerate(items):
            a = np.asarray(a)  # int16 in the seed; floats in [-1, 1] are accepted too
            x[i] = a if a.dtype.kind in "iu" else np.round(np.clip(a, -1, 1) * 32767)
        labels = np.array([class_names.index(c) for c, _ in items], np.int64)
        splits[split] = (x, labels, [f"{c}/{split}-{i}" for i, (c, _) in enumerate(items)])
    return splits, class_names


def load_seed_pickle(path, allow_pickle=False):
    """Seed 002's urbansound.pkl in load_packed's form. Refused unless ``allow_pickle`` (it can run code)."""
    splits, class_names = _seed_pickle_arrays(path, allow_pickle)
    return {s: (x.astype(np.float32) / 32768.0, y) for s, (x, y, _) in splits.items()}, class_names


def pack_seed_pickle(path, out_path, allow_pickle=False):
    """Convert the seed's urbansound.pkl into pack()'s .npz; returns split -> class -> count."""
    splits, class_names = _seed_pickle_arrays(path, allow_pickle)
    _save_npz(out_path, splits, class_names)
    return {
        s: {c: int(np.sum(y == k)) for k, c in enumerate(class_names)}
        for s, (_, y, _) in splits.items()
    }


DEFAULT_PATH = (
    "./UrbanSound8K_modified/urbansound.pkl"  # seed 002's default; the .npz beside it is preferred
)


def load_dataset(path=DEFAULT_PATH, allow_pickle=False):
    """The dataset at ``path`` in load_packed's form: a packed .npz, or the seed's .pkl.

    For a .pkl path, a packed .npz of the same name beside it is used when present (it runs no
    code); the pickle itself only with ``allow_pickle``."""
    stem, ext = os.path.splitext(path)
    if ext == ".pkl":
        if os.path.exists(stem + ".npz"):
            return load_packed(stem + ".npz")
        if not os.path.exists(path):
            raise FileNotFoundError(f"no dataset at {path} (nor {stem}.npz): {BUILD_HINT}")
        if not allow_pickle:
            raise ValueError(
                f"refusing to load {path}: pickle files can run code; convert it with "
                f"python3 datatools/pack_urbansound.py --from_pickle {path} --allow_pickle, "
                "or pass --allow_pickle if you trust it"
            )
        return load_seed_pickle(path, allow_pickle=True)
    if os.path.isdir(path):
        packed = os.path.join(path, "urbansound.npz")
        if os.path.exists(packed):
            return load_packed(packed)
        raise FileNotFoundError(f"no urbansound.npz in {path}: {BUILD_HINT}")
    return load_packed(path)


def synthesize_packed(out_path, clips_per_class=(8, 2, 2), seed=0, class_names=CLASSES):
    """A small packed dataset straight from the synthesizer at 8 kHz (no WAV files): for tests and
    benchmarks that need data but not the preparation path. ``clips_per_class`` is per split
    (train, validate, test). Returns class_names."""
    splits = {}
    for s, (split, n) in enumerate(zip(SPLITS, clips_per_class)):
        x, y, files = [], [], []
        for label, name in enumerate(class_names):
            for i in range(n):
                clip = synthesize_clip(name, SAMPLE_RATE, SAMPLES, seed=(seed, s, label, i))
                x.append(np.round(clip * 32767).astype(np.int16))
                y.append(label)
                files.append(f"{name}/{PREFIXES[split]}-{i}.wav")
        splits[split] = (np.array(x, np.int16).reshape(-1, SAMPLES), y, files)
    _save_npz(out_path, splits, list(class_names))
    return list(class_names)
