"""Speech emotion (TESS + RAVDESS) as seed 000 used it: synthesize a stand-in, prepare, pack, load.

    TESS/     OAF_angry/OAF_back_angry.wav, YAF_pleasant_surprised/YAF_back_ps.wav, ...
    RAVDESS/  Actor_01/03-01-05-01-02-01-01.wav, ...                       (the real layouts)
        │ prepare(): 22050 Hz mono, edge silence trimmed (top_db 25), peak 1, centred in 3 s,
        │            four classes, split by actor (RAVDESS) or by sorted file name (TESS)
        ▼
    emotion.npz  {split}_audio int16 (N, 66150), {split}_labels, {split}_files, {split}_speakers,
                 class_names, sample_rate

Classes (seed 000): neutral, happy, sad, angry. RAVDESS "calm" counts as neutral; every other
emotion (TESS disgust, fear, pleasant surprise; RAVDESS fearful, disgust, surprised, and RAVDESS
song) is skipped. An emotion is read from the FILE name, never the folder: real TESS folders are
named inconsistently (OAF_Pleasant_surprise, YAF_pleasant_surprised, OAF_Fear, OAF_Sad).

Splits (seed 000): RAVDESS actors 1-20 train, 21-22 validate, 23-24 test (no speaker in two
splits); TESS within each (speaker, emotion) group -- one real folder, 200 words -- the files
sorted by name, the first 160 train, the next 20 validate, the rest test (``tess_split``).

numpy/scipy only (no TensorFlow, no librosa), so that the data tools start fast.
"""

import collections
import dataclasses
import itertools
import os
import re
import typing

import numpy as np

from tfam import audio
from tfam.data.classes import check_classes
from tfam.outputs import atomic_write

CLASS_NAMES = ["neutral", "happy", "sad", "angry"]
SPLITS = ("train", "validate", "test")
SAMPLE_RATE, SECONDS = 22050, 3.0
SAMPLES = 66150
TOP_DB, FRAME_LENGTH, HOP_LENGTH = 25.0, 2048, 512  # librosa.effects.trim's frame and hop
SILENT_PEAK = 1e-4  # a clip whose peak stays below this (-80 dBFS, ~3 LSB of 16-bit) is silent

TESS_SPEAKERS = ("OAF", "YAF")
# TESS file-name emotion (lower case, as written in the names seen in the wild) -> the canonical
# TESS name. Real files use "ps" for pleasant surprise; the longer forms are accepted too.
TESS_EMOTIONS = {
    "angry": "angry",
    "disgust": "disgust",
    "fear": "fear",
    "happy": "happy",
    "neutral": "neutral",
    "ps": "ps",
    "sad": "sad",
    "pleasant_surprise": "ps",
    "pleasant_surprised": "ps",
    "fearful": "fear",
}
TESS_TO_CLASS = {"neutral": "neutral", "happy": "happy", "sad": "sad", "angry": "angry"}
# The real TESS folders, spelling and case included.
TESS_FOLDERS = {
    ("OAF", "angry"): "OAF_angry",
    ("OAF", "disgust"): "OAF_disgust",
    ("OAF", "fear"): "OAF_Fear",
    ("OAF", "happy"): "OAF_happy",
    ("OAF", "neutral"): "OAF_neutral",
    ("OAF", "ps"): "OAF_Pleasant_surprise",
    ("OAF", "sad"): "OAF_Sad",
    ("YAF", "angry"): "YAF_angry",
    ("YAF", "disgust"): "YAF_disgust",
    ("YAF", "fear"): "YAF_fear",
    ("YAF", "happy"): "YAF_happy",
    ("YAF", "neutral"): "YAF_neutral",
    ("YAF", "ps"): "YAF_pleasant_surprised",
    ("YAF", "sad"): "YAF_sad",
}
# The 200 words of TESS (the NU-6 list), each spoken as "Say the word ___".
TESS_WORDS = """back bar base bath bean beg bite boat bone book bought burn cab calm came cause chain chair
chalk chat check cheek chief choice cool dab date dead death deep dime dip ditch dodge dog doll door fail fall
far fat fit five food gap gas gaze germ get gin goal good goose gun half hall hash hate have haze hire hit hole
home hurl hush jail jar join judge jug juice keen keep keg kick kill king kite knock late laud lean learn lease
lid life limb live loaf long lore lose lot love luck make match merge mess met mill mob mode mood moon mop mouse
nag name near neat nice note numb pad page pain pass pearl peg perch phone pick pike pole pool puff rag raid rain
raise rat reach read red ring ripe road room rose rot rough rush said sail search seize sell shack shall shawl
sheep shirt should shout size soap soup sour south sub such sure take talk tape team tell thin third thought
thumb time tip tire ton tool tough turn vine voice void vote wag walk wash week wheat when which whip white wife
wire witch yearn yes young youth""".split()

RAVDESS_EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgust",
    "08": "surprised",
}
RAVDESS_TO_CLASS = {
    "neutral": "neutral",
    "calm": "neutral",
    "happy": "happy",
    "sad": "sad",
    "angry": "angry",
}
# modality, vocal channel, emotion, intensity, statement, repetition, actor: allowed codes
_RAVDESS_CODES = (
    ("modality", ("01", "02", "03")),
    ("vocal channel", ("01", "02")),
    ("emotion", tuple(RAVDESS_EMOTIONS)),
    ("intensity", ("01", "02")),
    ("statement", ("01", "02")),
    ("repetition", ("01", "02")),
    ("actor", tuple(f"{a:02d}" for a in range(1, 25))),
)
_RAVDESS_NAME = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")

DEFAULT_TESS_SPLIT = (
    160,
    20,
)  # per (speaker, emotion): first 160 train, next 20 validate, rest test
DEFAULT_RAVDESS_SPLIT = {"train": tuple(range(1, 21)), "validate": (21, 22), "test": (23, 24)}

BUILD_HINT = (
    "build it with: python3 datatools/prepare_emotion.py OUT.npz --tess TESS_DIR --ravdess "
    "RAVDESS_DIR (no download? python3 datatools/synth_emotion.py ROOT makes a synthetic "
    "stand-in in ROOT/TESS and ROOT/RAVDESS)"
)
DOWNLOAD_HINT = (
    "download TESS (https://tspace.library.utoronto.ca/handle/1807/24487) and/or RAVDESS "
    "speech (https://zenodo.org/record/1188976, Audio_Speech_Actors_01-24.zip) and unpack "
    "them there, or make a synthetic stand-in with python3 datatools/synth_emotion.py ROOT"
)


# ---------------------------------------------------------------------------------------------
# File names
# ---------------------------------------------------------------------------------------------


class ClipName(typing.NamedTuple):
    dataset: str  # "TESS" or "RAVDESS"
    speaker: str  # "OAF", "YAF", "Actor_01", ...
    emotion: str  # the dataset's own name: "ps", "calm", "fearful", ... ("song:happy", "video:sad": RAVDESS)
    class_name: typing.Optional[str]  # one of CLASS_NAMES, or None: an emotion left out
    actor: int = 0  # RAVDESS actor 1..24 (0 for TESS)


def _stem(path):
    base = os.path.basename(os.fspath(path))
    stem, ext = os.path.splitext(base)
    if ext.lower() != ".wav":
        raise ValueError(f"{path} is not a .wav file")
    return stem


def parse_tess_name(path):
    """ClipName from a TESS file name SPEAKER_WORD_EMOTION.wav (e.g. OAF_back_angry.wav).

    Only the file name counts (folders are named inconsistently). Emotions other than neutral,
    happy, sad and angry give class_name None; an unknown emotion or a malformed name is a
    ValueError naming the file."""
    stem = _stem(path)
    parts = stem.split("_")
    if len(parts) < 3 or not all(parts) or not parts[0].isalpha():
        raise ValueError(
            f"malformed TESS file name {path}: expected SPEAKER_WORD_EMOTION.wav "
            "like OAF_back_angry.wav"
        )
    lower = stem.lower()
    emotion = None
    for token in sorted(TESS_EMOTIONS, key=len, reverse=True):  # "pleasant_surprise" before "ps"
        if lower.endswith("_" + token) and len(lower) - len(token) - 1 > len(parts[0]) + 1:
            emotion = TESS_EMOTIONS[token]
            break
    if emotion is None:
        raise ValueError(
            f"unknown TESS emotion '{parts[-1]}' in {path}; expected one of "
            f"{', '.join(sorted(set(TESS_EMOTIONS.values())))}"
        )
    return ClipName("TESS", parts[0].upper(), emotion, TESS_TO_CLASS.get(emotion))


def parse_ravdess_name(path):
    """ClipName from a RAVDESS file name MM-VV-EE-II-SS-RR-AA.wav (modality, vocal channel,
    emotion, intensity, statement, repetition, actor), e.g. 03-01-05-01-02-01-01.wav.

    Calm folds into neutral; fearful, disgust, surprised, song (VV 02) and video modalities give
    class_name None; an unknown code or a malformed name is a ValueError naming the file."""
    stem = _stem(path)
    match = _RAVDESS_NAME.match(stem)
    if not match:
        raise ValueError(
            f"malformed RAVDESS file name {path}: expected MM-VV-EE-II-SS-RR-AA.wav "
            "(seven two-digit codes) like 03-01-05-01-02-01-01.wav"
        )
    codes = match.groups()
    for (field, allowed), code in zip(_RAVDESS_CODES, codes):
        if code not in allowed:
            raise ValueError(f"unknown {field} code '{code}' in {path}")
    modality, channel, emotion_code, *_, actor = codes
    emotion = RAVDESS_EMOTIONS[emotion_code]
    usable = modality == "03" and channel == "01"  # audio-only speech, as the seed used
    if modality != "03":  # 01 audio-video, 02 video-only
        emotion = f"video:{emotion}"
    elif channel == "02":
        emotion = f"song:{emotion}"
    return ClipName(
        "RAVDESS",
        f"Actor_{actor}",
        emotion,
        RAVDESS_TO_CLASS.get(emotion) if usable else None,
        int(actor),
    )


# ---------------------------------------------------------------------------------------------
# Splits
# ---------------------------------------------------------------------------------------------


def _check_tess_split(tess_split):
    counts = tuple(int(n) for n in tess_split)
    if len(counts) != 2:
        raise ValueError(
            f"tess_split must be two counts (train, validate), got {tuple(tess_split)}"
        )
    train, validate = counts
    if train < 0 or validate < 0:
        raise ValueError(f"tess_split counts must be >= 0, got {tuple(tess_split)}")
    return train, validate


def split_tess(paths, tess_split=DEFAULT_TESS_SPLIT):
    """{path: split} for TESS files: within each (speaker, emotion) group, sorted by file name, the
    first tess_split[0] are train, the next tess_split[1] validate, the rest test. Every file's
    name must parse (parse_tess_name); skipped emotions are split too (their group is their own)."""
    train, validate = _check_tess_split(tess_split)
    groups = collections.defaultdict(list)
    for path in paths:
        name = parse_tess_name(path)
        groups[(name.speaker, name.emotion)].append(path)
    owner = {}
    for members in groups.values():
        for i, path in enumerate(sorted(members, key=lambda p: (os.path.basename(p).lower(), p))):
            owner[path] = "train" if i < train else "validate" if i < train + validate else "test"
    return owner


def _actor_owner(ravdess_split):
    unknown = set(ravdess_split) - set(SPLITS)
    if unknown:
        raise ValueError(f"unknown split(s) {', '.join(sorted(unknown))}; use {', '.join(SPLITS)}")
    owner = {}
    for split, actors in ravdess_split.items():
        for actor in actors:
            if int(actor) in owner:
                raise ValueError(
                    f"actor {actor} is in both {owner[int(actor)]} and {split}: splits must be disjoint"
                )
            owner[int(actor)] = split
    return owner


def ravdess_split_of(actor, ravdess_split=None):
    """The split of a RAVDESS actor (1-20 train, 21-22 validate, 23-24 test), or None."""
    return _actor_owner(DEFAULT_RAVDESS_SPLIT if ravdess_split is None else ravdess_split).get(
        int(actor)
    )


# ---------------------------------------------------------------------------------------------
# Preprocessing
# ---------------------------------------------------------------------------------------------


def frame_rms(x, frame_length=FRAME_LENGTH, hop_length=HOP_LENGTH):
    """RMS of each frame as librosa.feature.rms(center=True, pad_mode="constant") computes it:
    the signal is zero-padded by frame_length // 2 on both sides, frame t starts at t * hop_length
    of the padded signal, 1 + len(x) // hop_length frames."""
    x = np.asarray(x, np.float64)
    pad = frame_length // 2
    y = np.pad(x, (pad, pad))
    frames = np.lib.stride_tricks.sliding_window_view(y, frame_length)[::hop_length]
    return np.sqrt(np.mean(frames**2, axis=-1))


def trim_silence(x, top_db=TOP_DB, frame_length=FRAME_LENGTH, hop_length=HOP_LENGTH):
    """(x without its leading and trailing silence, (start, end)), like librosa.effects.trim:
    a frame is silent when its RMS is more than ``top_db`` below the loudest frame's (amin 1e-5
    as in amplitude_to_db); the kept span runs from the first non-silent frame's start
    (frame * hop_length) to the last one's end ((frame + 1) * hop_length, at most len(x))."""
    x = np.asarray(x)
    rms = frame_rms(x, frame_length, hop_length)
    power = np.maximum(rms**2, 1e-10)
    db = 10 * np.log10(power) - 10 * np.log10(max(1e-10, float(np.max(rms)) ** 2))
    loud = np.flatnonzero(db > -top_db)
    if loud.size == 0:
        return x[:0], (0, 0)
    start = int(loud[0]) * hop_length
    end = min(len(x), (int(loud[-1]) + 1) * hop_length)
    return x[start:end], (start, end)


def fit_length(x, samples=SAMPLES):
    """Zero-pad (centred, the extra sample after) or centre-crop ``x`` to ``samples``."""
    x = np.asarray(x)
    n = len(x)
    if n >= samples:
        start = (n - samples) // 2
        return x[start : start + samples]
    left = (samples - n) // 2
    return np.pad(x, (left, samples - n - left))


def _preprocess(waveform, rate, samples=SAMPLES, sample_rate=SAMPLE_RATE, top_db=TOP_DB):
    """(clip, trimmed length in samples) -- see preprocess."""
    x = audio.to_mono(waveform)
    if x.ndim != 1:
        raise ValueError(
            f"expected audio of shape (samples,) or (samples, channels), got {np.shape(waveform)}"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError("clip holds NaN or infinite samples")
    x = audio.resample(x, rate, sample_rate)
    if len(x) < FRAME_LENGTH:
        raise ValueError(
            f"clip shorter than a frame: {len(x)} samples at {sample_rate} Hz "
            f"(at least {FRAME_LENGTH} needed)"
        )
    if float(np.max(np.abs(x))) < SILENT_PEAK:
        raise ValueError(f"clip is silent (peak below {SILENT_PEAK:g})")
    x, _ = trim_silence(x, top_db)
    trimmed = len(x)
    x = fit_length(x, samples)  # a clip longer than 3 s keeps its middle 3 s
    x = x / float(np.max(np.abs(x)))  # the kept middle of a trimmed clip is never all zero
    return x.astype(np.float32), trimmed


def preprocess(waveform, rate, samples=SAMPLES, sample_rate=SAMPLE_RATE, top_db=TOP_DB):
    """Seed 000's preprocessing: float32 (samples,) in [-1, 1] with peak 1.

    Mixed to mono, resampled to ``sample_rate`` (band-limited), edge silence trimmed like
    librosa.effects.trim(top_db=25); a clip of at most 3 s is then scaled to peak 1 and zero-padded,
    centred, to 3 s. A longer one (the seed's text speaks only of clips up to 3 s) keeps its middle
    3 s, then is scaled to peak 1. A clip shorter than one analysis frame (2048 samples after
    resampling) or silent (peak below 1e-4) is a ValueError."""
    return _preprocess(waveform, rate, samples, sample_rate, top_db)[0]


def load_clip(path, samples=SAMPLES, sample_rate=SAMPLE_RATE, top_db=TOP_DB):
    """preprocess() of a WAV file; every failure is a FileNotFoundError or ValueError naming it."""
    x, rate = audio.read_wav(path)
    try:
        return preprocess(x, rate, samples, sample_rate, top_db)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


# ---------------------------------------------------------------------------------------------
# Synthetic stand-in: voice-like utterances whose emotions differ in pitch, melody, loudness,
# voice quality and tempo, in the real datasets' layouts.
# ---------------------------------------------------------------------------------------------

# Formants (Hz) of a few vowels for an adult male voice (Peterson & Barney); speakers scale them.
_VOWELS = {
    "a": (730, 1090, 2440, 3400),
    "i": (270, 2290, 3010, 3700),
    "u": (300, 870, 2240, 3300),
    "e": (530, 1840, 2480, 3500),
    "o": (570, 840, 2410, 3300),
    "ae": (660, 1720, 2410, 3400),
    "er": (490, 1350, 1690, 3300),
}
_BANDWIDTHS = (70, 100, 140, 180)


@dataclasses.dataclass(frozen=True)
class _Style:
    pitch: float  # level, times the speaker's base pitch
    swing: float  # size of the pitch movement (fraction of the level)
    contour: str  # shape of the movement
    loud: float  # RMS of the voiced span (the peak is kept below 0.98)
    jitter: float  # period-to-period pitch perturbation (fraction)
    shimmer: float  # period-to-period amplitude perturbation (fraction)
    breath: float  # aspiration noise relative to the voice
    closing: float  # glottal closing phase (fraction of a period): short = sharp, bright voice
    syllable: float  # syllable length, seconds


_STYLES = {
    "neutral": _Style(1.0, 0.10, "declining", 0.080, 0.005, 0.03, 0.03, 0.16, 0.21),
    "calm": _Style(0.95, 0.06, "declining", 0.065, 0.004, 0.02, 0.08, 0.20, 0.25),
    "happy": _Style(1.35, 0.35, "risefall", 0.140, 0.008, 0.05, 0.03, 0.12, 0.19),
    "sad": _Style(0.80, 0.06, "falling", 0.035, 0.006, 0.04, 0.35, 0.30, 0.29),
    "angry": _Style(1.30, 0.25, "accents", 0.220, 0.030, 0.20, 0.05, 0.06, 0.17),
    "fear": _Style(1.50, 0.08, "tremolo", 0.090, 0.020, 0.10, 0.25, 0.14, 0.18),
    "disgust": _Style(0.90, 0.15, "fallrise", 0.100, 0.020, 0.08, 0.10, 0.15, 0.27),
    "surprise": _Style(1.40, 0.45, "rising", 0.140, 0.010, 0.05, 0.05, 0.12, 0.20),
}
_STYLE_OF = {"ps": "surprise", "surprised": "surprise", "fearful": "fear"}

_TESS_RATES = ([24414, 22050, 16000], [0.6, 0.2, 0.2])  # the real TESS is 24414 Hz throughout
_RAVDESS_RATES = ([48000, 24000, 16000], [0.2, 0.4, 0.4])  # the real RAVDESS is 48000 Hz throughout
_FORMATS = (["int16", "int24", "float32"], [0.8, 0.1, 0.1])  # the real sets are 16-bit
_TESS_SPEAKER_VOICE = {"OAF": (175.0, 1.12), "YAF": (215.0, 1.20)}  # base pitch, formant scale
# "Kids are talking by the door", "Dogs are sitting by the door": vowels of the syllables
_STATEMENT_VOWELS = {
    "01": ["i", "a", "o", "i", "a", "e", "o"],
    "02": ["o", "a", "i", "i", "a", "e", "o"],
}


def _contour(kind, u, t_syllable, swing, rng):
    """Relative pitch (around 1) over the utterance: u in [0, 1], t_syllable = seconds into the
    current syllable."""
    if kind == "declining":
        c = 1 + swing * (0.5 - u)
    elif kind == "falling":  # flat and sinking
        c = 1 + swing * (0.3 - u)
    elif kind == "risefall":  # wide rise and fall, twice over the utterance
        c = 1 + swing * np.sin(2 * np.pi * u * rng.uniform(0.8, 1.2) + 0.3)
    elif kind == "accents":  # sharp rise at each syllable onset, quick decay, overall fall
        c = 1 + swing * np.exp(-t_syllable / 0.05) - 0.3 * swing * u
    elif kind == "tremolo":
        c = 1 + swing * np.sin(2 * np.pi * rng.uniform(6, 8) * u * 2)
    elif kind == "fallrise":
        c = 1 + swing * ((2 * u - 1) ** 2 - 0.5)
    elif kind == "rising":
        c = 1 + swing * (u**2 - 0.2)
    else:
        raise ValueError(f"unknown contour {kind!r}")
    return np.maximum(c, 0.3)


def _glottal(cycles, closing):
    """Rosenberg glottal flow at the running cycle count ``cycles`` (opening 40% of a period,
    closing ``closing``), differentiated (lip radiation)."""
    phase = cycles % 1.0
    opening = 0.4
    flow = np.where(
        phase < opening,
        0.5 * (1 - np.cos(np.pi * phase / opening)),
        np.where(phase < opening + closing, np.cos(0.5 * np.pi * (phase - opening) / closing), 0.0),
    )
    return np.diff(flow, prepend=0.0)


def _formants(x, rate, formants, bandwidths=_BANDWIDTHS):
    """``x`` through a cascade of second-order resonators (unity gain at 0 Hz)."""
    from scipy.signal import lfilter

    for f, b in zip(formants, bandwidths):
        if f >= 0.45 * rate:
            continue
        r, theta = np.exp(-np.pi * b / rate), 2 * np.pi * f / rate
        a = [1.0, -2 * r * np.cos(theta), r * r]
        x = lfilter([sum(a)], a, x)
    return x


def _raised_ramp(m, rate, attack, release):
    t = np.arange(m) / rate
    up = np.clip(t / attack, 0, 1)
    down = np.clip((m / rate - t) / release, 0, 1)
    return np.sin(0.5 * np.pi * up) ** 2 * np.sin(0.5 * np.pi * down) ** 2


def synthesize_utterance(
    emotion, rate, vowels, seed, base_pitch=180.0, formant_scale=1.1, intensity=1.0, max_seconds=3.5
):
    """One voice-like utterance (float64, peak < 0.98, loudness by emotion) with silence at both
    edges: a Rosenberg pulse train following a pitch contour, through four formant resonators, one
    vowel per syllable (``vowels``), short noise bursts (consonants) between syllables.

    ``emotion`` is a TESS or RAVDESS emotion name (neutral, calm, happy, sad, angry, fear(ful),
    disgust, ps / surprised). Emotions differ in pitch level and movement, loudness, jitter and
    shimmer (roughness), aspiration noise (breathiness), pulse shape (brightness) and tempo;
    ``intensity`` > 1 exaggerates them (RAVDESS strong intensity)."""
    style = _STYLES[_STYLE_OF.get(emotion, emotion)]
    rng = np.random.default_rng(seed)
    k = float(intensity)
    swing, jitter, shimmer = style.swing * k, style.jitter * k, style.shimmer * k
    # Syllable lengths and gaps; the voiced span is kept under max_seconds - 0.25 s.
    lengths = style.syllable * rng.uniform(0.75, 1.3, len(vowels))
    lengths[-1] *= 1.4  # phrase-final lengthening
    gaps = rng.uniform(0.03, 0.08, len(vowels))
    gaps[-1] = 0.0
    voiced = float(np.sum(lengths + gaps))
    limit = max_seconds - 0.25
    if voiced > limit:
        lengths, gaps, voiced = lengths * limit / voiced, gaps * limit / voiced, limit
    lead, tail = rng.uniform(0.12, 0.45), rng.uniform(0.12, 0.45)
    spare = max_seconds - voiced
    if lead + tail > spare:
        lead, tail = lead * spare / (lead + tail), tail * spare / (lead + tail)
    n_voiced = int(voiced * rate)
    t = np.arange(n_voiced) / rate
    starts = np.concatenate([[0.0], np.cumsum(lengths + gaps)[:-1]])
    index = np.clip(np.searchsorted(starts, t, side="right") - 1, 0, len(vowels) - 1)
    f0 = (
        base_pitch
        * style.pitch
        * rng.uniform(0.95, 1.05)
        * _contour(style.contour, t / max(voiced, 1e-9), t - starts[index], swing, rng)
    )
    # Jitter and shimmer: a random factor held for each glottal cycle.
    cycles = np.cumsum(f0) / rate
    held = rng.standard_normal(int(cycles[-1]) + 2)
    cycles = np.cumsum(f0 * (1 + jitter * held[cycles.astype(int)])) / rate
    amp = 1 + shimmer * rng.standard_normal(int(cycles[-1]) + 2)[cycles.astype(int)]
    source = _glottal(cycles, style.closing) * amp
    source /= np.std(source) + 1e-12
    noise = rng.standard_normal(n_voiced)
    voice = np.zeros(n_voiced)
    for i, (vowel, start, length) in enumerate(zip(vowels, starts, lengths)):
        a, m = int(start * rate), int(length * rate)
        seg = slice(a, min(n_voiced, a + m))
        env = _raised_ramp(seg.stop - seg.start, rate, 0.025, 0.05) * rng.uniform(0.7, 1.0)
        formants = np.array(_VOWELS[vowel]) * formant_scale * rng.uniform(0.97, 1.03)
        excitation = source[seg] + style.breath * noise[seg]
        voice[seg] += _formants(excitation * env, rate, formants)
        if i < len(vowels) - 1 and gaps[i] > 0.02:  # a consonant: a short burst of hiss
            b = a + m
            burst = noise[b : b + int(0.025 * rate)]
            burst = _formants(burst, rate, (rng.uniform(2500, 5000),), (1500,)) * 0.15
            voice[b : b + len(burst)] += burst * _raised_ramp(len(burst), rate, 0.005, 0.01)
    voice *= (
        style.loud
        * (1 + 0.3 * (k - 1))
        * rng.uniform(0.85, 1.0)
        / (np.sqrt(np.mean(voice**2)) + 1e-12)
    )
    voice *= min(
        1.0, 0.98 / (np.max(np.abs(voice)) + 1e-12)
    )  # loud voices are limited, not clipped
    tail = max(tail, 1.01 - voiced - lead)  # files of at least 1 s
    x = np.concatenate([np.zeros(int(lead * rate)), voice, np.zeros(int(tail * rate))])
    return x + 10 ** (-70 / 20) * rng.standard_normal(len(x))  # a room noise floor, -70 dBFS


def _write(path, x, rng, rate):
    fmt = str(rng.choice(_FORMATS[0], p=_FORMATS[1]))
    audio.write_pcm(path, np.clip(x, -1, 1), rate, fmt)


def synthesize_tess(
    root,
    words_per_emotion=10,
    seed=0,
    emotions=("angry", "disgust", "fear", "happy", "neutral", "ps", "sad"),
    progress=None,
):
    """Write a synthetic TESS under ``root`` in the real layout; returns the relative file paths.

    Both speakers (OAF, YAF) say "Say the word ___" for the first ``words_per_emotion`` of the
    200 TESS words in each emotion, in the real folders (OAF_Pleasant_surprise,
    YAF_pleasant_surprised, OAF_Fear, ...) as SPEAKER_WORD_EMOTION.wav. Mostly 24414 Hz like the
    real set, some 22050 and 16000 Hz. Deterministic for a given seed. ``progress(done, total)``
    is called after each file."""
    if not 1 <= words_per_emotion <= len(TESS_WORDS):
        raise ValueError(
            f"words_per_emotion must be within 1..{len(TESS_WORDS)}, got {words_per_emotion}"
        )
    unknown = [e for e in emotions if e not in TESS_EMOTIONS.values()]
    if unknown:
        raise ValueError(f"unknown TESS emotion(s) {', '.join(unknown)}")
    vowel_names = sorted(_VOWELS)
    written = []
    for s, speaker in enumerate(TESS_SPEAKERS):
        pitch, scale = _TESS_SPEAKER_VOICE[speaker]
        for e, emotion in enumerate(emotions):
            folder = TESS_FOLDERS[(speaker, emotion)]
            for w, word in enumerate(TESS_WORDS[:words_per_emotion]):
                rng = np.random.default_rng([seed, 1, s, e, w])
                # "say" "the" "word" then the target word, whose vowel depends on the word
                vowels = ["e", "er", "er", vowel_names[sum(map(ord, word)) % len(vowel_names)]]
                rate = int(rng.choice(_TESS_RATES[0], p=_TESS_RATES[1]))
                x = synthesize_utterance(
                    emotion, rate, vowels, [seed, 2, s, e, w], pitch, scale, max_seconds=2.6
                )
                rel = os.path.join(folder, f"{speaker}_{word}_{emotion}.wav")
                _write(os.path.join(root, rel), x, rng, rate)
                written.append(rel)
                if progress:
                    progress(len(written), len(TESS_SPEAKERS) * len(emotions) * words_per_emotion)
    return written


def _ravdess_takes(emotion_code, clips):
    """The first ``clips`` (intensity, statement, repetition) codes; neutral has no strong intensity."""
    intensities = ("01",) if emotion_code == "01" else ("01", "02")
    takes = [(i, s, r) for r, s, i in itertools.product(("01", "02"), ("01", "02"), intensities)]
    return takes[:clips]


def synthesize_ravdess(
    root,
    actors=range(1, 25),
    clips_per_emotion=1,
    seed=0,
    emotion_codes=tuple(RAVDESS_EMOTIONS),
    progress=None,
):
    """Write a synthetic RAVDESS (audio-only speech) under ``root`` in the real layout
    (Actor_XX/03-01-EE-II-SS-RR-XX.wav); returns the relative file paths.

    Each actor says one of the two statements in each emotion (all eight codes, calm included)
    ``clips_per_emotion`` times (at most 8, 4 for neutral: it has no strong intensity), varying
    intensity first, then statement, then repetition. Odd actors are male, even female, as in
    the real set. Each actor's files share a rate: 48000 Hz like the real set, or 24000 / 16000
    Hz to keep the stand-in small. Deterministic for a given seed. ``progress(done, total)`` is
    called after each file."""
    actors = [int(a) for a in actors]
    if not actors or any(not 1 <= a <= 24 for a in actors):
        raise ValueError(f"actors must be within 1..24, got {actors}")
    if not 1 <= clips_per_emotion <= 8:
        raise ValueError(f"clips_per_emotion must be within 1..8, got {clips_per_emotion}")
    unknown = [c for c in emotion_codes if c not in RAVDESS_EMOTIONS]
    if unknown:
        raise ValueError(f"unknown RAVDESS emotion code(s) {', '.join(unknown)}")
    total = len(actors) * sum(len(_ravdess_takes(c, clips_per_emotion)) for c in emotion_codes)
    written = []
    for actor in actors:
        rng = np.random.default_rng([seed, 3, actor])
        male = actor % 2 == 1
        pitch = rng.uniform(95, 135) if male else rng.uniform(175, 230)
        scale = rng.uniform(0.95, 1.05) if male else rng.uniform(1.12, 1.22)
        rate = int(rng.choice(_RAVDESS_RATES[0], p=_RAVDESS_RATES[1]))
        for code in emotion_codes:
            for intensity, statement, repetition in _ravdess_takes(code, clips_per_emotion):
                name = f"03-01-{code}-{intensity}-{statement}-{repetition}-{actor:02d}.wav"
                take_seed = [
                    seed,
                    4,
                    actor,
                    int(code),
                    int(intensity),
                    int(statement),
                    int(repetition),
                ]
                x = synthesize_utterance(
                    RAVDESS_EMOTIONS[code],
                    rate,
                    _STATEMENT_VOWELS[statement],
                    take_seed,
                    pitch,
                    scale,
                    intensity=1.3 if intensity == "02" else 1.0,
                    max_seconds=3.5,
                )
                rel = os.path.join(f"Actor_{actor:02d}", name)
                _write(os.path.join(root, rel), x, np.random.default_rng(take_seed), rate)
                written.append(rel)
                if progress:
                    progress(len(written), total)
    return written


# ---------------------------------------------------------------------------------------------
# prepare: the downloads -> one packed .npz
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class PrepareSummary:
    counts: dict  # split -> class -> clips packed
    by_dataset: dict = dataclasses.field(default_factory=dict)  # dataset -> clips packed
    skipped: dict = dataclasses.field(
        default_factory=dict
    )  # "TESS ps", "RAVDESS fearful", ... -> count
    unassigned: int = 0  # RAVDESS clips of actors in no split
    duplicates: int = 0  # files whose name was already seen under the same root (copies)
    cropped: int = 0  # clips longer than 3 s after trimming, centre-cropped
    dropped_long: int = 0  # ... or left out (long_clips="drop")
    bad: list = dataclasses.field(default_factory=list)  # (file, reason) skipped with skip_bad

    @property
    def total(self):
        return sum(sum(c.values()) for c in self.counts.values())


def _wav_files(root, dataset):
    """Every *.wav under ``root`` (recursively; hidden entries left out), sorted; a file name seen
    twice (the Kaggle copies of TESS and RAVDESS hold nested duplicates) is kept once, the first
    path in sorted order. Returns (paths, duplicates)."""
    if not os.path.isdir(root):
        raise FileNotFoundError(f"no {dataset} download at {root}: {DOWNLOAD_HINT}")
    found = []
    for directory, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [
            os.path.join(directory, f)
            for f in files
            if f.lower().endswith(".wav") and not f.startswith(".")
        ]
    seen, paths = set(), []
    for path in sorted(found):
        base = os.path.basename(path)
        if base not in seen:
            seen.add(base)
            paths.append(path)
    if not paths:
        raise FileNotFoundError(
            f"no .wav files under {root}: is this a {dataset} download? {DOWNLOAD_HINT}"
        )
    return paths, len(found) - len(paths)


def _collect(root, dataset, summary, skip_bad, assign):
    """[(path, split, ClipName)] of one dataset's usable files; the rest counted in summary."""
    paths, summary_duplicates = _wav_files(root, dataset)
    summary.duplicates += summary_duplicates
    parse = parse_tess_name if dataset == "TESS" else parse_ravdess_name
    named = []
    for path in paths:
        try:
            named.append((path, parse(path)))
        except ValueError as error:
            if not skip_bad:
                raise
            summary.bad.append((path, str(error)))
    owner = assign([p for p, _ in named])
    usable = []
    for path, name in named:
        if name.class_name is None:
            key = f"{dataset} {name.emotion}"
            summary.skipped[key] = summary.skipped.get(key, 0) + 1
        elif owner.get(path) is None:
            summary.unassigned += 1
        else:
            usable.append((path, owner[path], name, os.path.relpath(path, root)))
    return usable


def prepare(
    tess_root=None,
    ravdess_root=None,
    out_path=None,
    tess_split=DEFAULT_TESS_SPLIT,
    ravdess_split=None,
    long_clips="crop",
    skip_bad=False,
    progress=None,
):
    """Pack TESS and/or RAVDESS into one .npz at ``out_path`` as seed 000 prepared them; returns a
    PrepareSummary.

    Every file is parsed by name (parse_tess_name, parse_ravdess_name); clips of the four classes
    go through preprocess() (22050 Hz, trimmed, peak 1, centred in 3 s; ``long_clips`` "crop"
    keeps the middle 3 s of longer ones, "drop" leaves them out) into int16. Splits: TESS by
    ``tess_split`` (split_tess), RAVDESS by actor (``ravdess_split``, default 1-20 / 21-22 /
    23-24). An unreadable, silent or too short WAV, or a malformed name, stops with an error naming
    it, unless ``skip_bad``. ``progress(done, total)`` is called after each clip."""
    if out_path is None:
        raise ValueError("prepare needs out_path, the .npz to write")
    if tess_root is None and ravdess_root is None:
        raise ValueError("give a TESS root, a RAVDESS root or both")
    if long_clips not in ("crop", "drop"):
        raise ValueError(f"long_clips must be 'crop' or 'drop', got {long_clips!r}")
    _check_tess_split(tess_split)
    actor_owner = _actor_owner(DEFAULT_RAVDESS_SPLIT if ravdess_split is None else ravdess_split)
    summary = PrepareSummary(counts={s: {c: 0 for c in CLASS_NAMES} for s in SPLITS})
    clips = []
    if tess_root is not None:
        clips += [
            (p, s, n, "TESS/" + r)
            for p, s, n, r in _collect(
                tess_root, "TESS", summary, skip_bad, lambda paths: split_tess(paths, tess_split)
            )
        ]
    if ravdess_root is not None:
        clips += [
            (p, s, n, "RAVDESS/" + r)
            for p, s, n, r in _collect(
                ravdess_root,
                "RAVDESS",
                summary,
                skip_bad,
                lambda paths: {p: actor_owner.get(parse_ravdess_name(p).actor) for p in paths},
            )
        ]
    per_split = {s: [c for c in clips if c[1] == s] for s in SPLITS}
    arrays = {
        s: np.zeros((len(per_split[s]), SAMPLES), np.int16) for s in SPLITS
    }  # filled in place
    meta = {s: ([], [], []) for s in SPLITS}  # labels, files, speakers
    done = 0
    for split in SPLITS:
        kept = 0
        for path, _, name, rel in per_split[split]:
            try:
                x, rate = audio.read_wav(path)
                x, trimmed = _preprocess(x, rate)
            except (ValueError, FileNotFoundError) as error:
                if not skip_bad:
                    raise type(error)(
                        str(error) if str(path) in str(error) else f"{path}: {error}"
                    ) from None
                summary.bad.append((path, str(error)))
                x = None
            if x is not None and trimmed > SAMPLES:
                if long_clips == "drop":
                    summary.dropped_long += 1
                    x = None
                else:
                    summary.cropped += 1
            if x is not None:
                arrays[split][kept] = np.round(x * 32767).astype(np.int16)
                labels, files, speakers = meta[split]
                labels.append(CLASS_NAMES.index(name.class_name))
                files.append(rel.replace(os.sep, "/"))
                speakers.append(name.speaker)
                summary.counts[split][name.class_name] += 1
                summary.by_dataset[name.dataset] = summary.by_dataset.get(name.dataset, 0) + 1
                kept += 1
            done += 1
            if progress:
                progress(done, len(clips))
        arrays[split] = arrays[split][:kept]
    if summary.total == 0:
        skipped = sum(summary.skipped.values())
        raise ValueError(
            f"no usable clip in {' and '.join(str(r) for r in (tess_root, ravdess_root) if r)}: "
            f"{skipped} of other emotions, {summary.unassigned} of actors in no split, "
            f"{len(summary.bad)} bad, {summary.dropped_long} longer than 3 s dropped"
        )
    _save_npz(out_path, {s: (arrays[s], *meta[s]) for s in SPLITS})
    return summary


def _save_npz(out_path, splits, class_names=CLASS_NAMES):
    """splits: split -> (int16 audio (N, SAMPLES), labels, files, speakers)."""
    check_classes(
        {s: splits[s][1] for s in SPLITS},
        list(class_names),
        f"the dataset for {out_path}",
        every_class=False,
    )
    arrays = {
        "class_names": np.array(class_names, dtype=str),
        "sample_rate": np.array(SAMPLE_RATE, np.int64),
    }
    for split in SPLITS:
        x, labels, files, speakers = splits[split]
        arrays[f"{split}_audio"] = np.asarray(x, np.int16).reshape(-1, SAMPLES)
        arrays[f"{split}_labels"] = np.asarray(labels, np.int64).reshape(-1)
        arrays[f"{split}_files"] = np.array(files, dtype=str).reshape(-1)
        arrays[f"{split}_speakers"] = np.array(speakers, dtype=str).reshape(-1)
    with atomic_write(os.fspath(out_path)) as f:
        np.savez_compressed(f, **arrays)


def load_packed(path, with_metadata=False):
    """({split: (float32 audio in [-1, 1] (N, 66150), int64 labels)}, class_names) from prepare().

    With ``with_metadata`` a third item: {split: (files, speakers)} as lists of str."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no packed speech emotion set at {path}: {BUILD_HINT}")
    keys = ["class_names", "sample_rate"] + [
        f"{s}_{k}" for s in SPLITS for k in ("audio", "labels", "files", "speakers")
    ]
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in keys if k not in data.files]
            if missing:
                raise KeyError(", ".join(missing))
            arrays = {k: data[k] for k in keys}
    except KeyError as error:
        raise ValueError(
            f"{path} is not a packed speech emotion set: missing {error.args[0]}"
        ) from None
    except (OSError, ValueError) as error:
        raise ValueError(f"{path} is not a readable .npz file: {error}") from None
    if int(arrays["sample_rate"]) != SAMPLE_RATE:
        raise ValueError(
            f"{path} holds {int(arrays['sample_rate'])} Hz audio; expected {SAMPLE_RATE} Hz"
        )
    class_names = [str(c) for c in arrays["class_names"]]
    splits, metadata = {}, {}
    for split in SPLITS:
        x, y = arrays[f"{split}_audio"], arrays[f"{split}_labels"]
        files, speakers = arrays[f"{split}_files"], arrays[f"{split}_speakers"]
        labels_ok = len(y) == len(x) and (len(y) == 0 or 0 <= y.min() <= y.max() < len(class_names))
        if (
            x.ndim != 2
            or x.shape[1] != SAMPLES
            or not labels_ok
            or not len(files) == len(speakers) == len(x)
        ):
            raise ValueError(
                f"{path}: {split} audio {x.shape} / labels {y.shape} / files {files.shape} "
                "are inconsistent"
            )
        splits[split] = (x.astype(np.float32) / 32768.0, y.astype(np.int64))
        metadata[split] = ([str(f) for f in files], [str(s) for s in speakers])
    if with_metadata:
        return splits, class_names, metadata
    return splits, class_names


def synthesize_packed(out_path, clips_per_class=(8, 2, 2), seed=0):
    """A small packed set straight from the synthesizer (no WAV files), for tests and benchmarks
    that need data but not the preparation path: ``clips_per_class`` per split (train, validate,
    test), alternating a low and a high voice. Returns CLASS_NAMES."""
    splits = {}
    for s, (split, n) in enumerate(zip(SPLITS, clips_per_class)):
        x = np.zeros((n * len(CLASS_NAMES), SAMPLES), np.int16)
        labels, files, speakers = [], [], []
        for label, name in enumerate(CLASS_NAMES):
            for i in range(n):
                pitch, scale = (120.0, 1.0) if i % 2 else (200.0, 1.15)
                clip = synthesize_utterance(
                    name,
                    SAMPLE_RATE,
                    _STATEMENT_VOWELS["01"],
                    [seed, 5, s, label, i],
                    pitch,
                    scale,
                    max_seconds=3.0,
                )
                x[len(labels)] = np.round(preprocess(clip, SAMPLE_RATE) * 32767).astype(np.int16)
                labels.append(label)
                files.append(f"synthetic/{split}/{name}_{i}.wav")
                speakers.append(f"synthetic_{i % 2}")
        splits[split] = (x, labels, files, speakers)
    _save_npz(out_path, splits)
    return list(CLASS_NAMES)
