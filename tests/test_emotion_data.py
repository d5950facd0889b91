import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from tfam import audio
from tfam.data import emotion as em

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ACTORS = (1, 2, 21, 23)  # two train actors, one validate, one test
TESS_WORDS = 3
TESS_SPLIT = (1, 1)  # per speaker and emotion: 1 train, 1 validate, the rest (1) test


@pytest.fixture(scope="module")
def download(tmp_path_factory):
    root = tmp_path_factory.mktemp("emotion")
    tess = em.synthesize_tess(root / "TESS", words_per_emotion=TESS_WORDS, seed=0)
    ravdess = em.synthesize_ravdess(root / "RAVDESS", actors=ACTORS, clips_per_emotion=1, seed=0)
    return root, tess, ravdess


@pytest.fixture(scope="module")
def packed(download):
    root, _, _ = download
    path = root / "emotion.npz"
    summary = em.prepare(root / "TESS", root / "RAVDESS", path, tess_split=TESS_SPLIT)
    return path, summary


def wav_files(root):
    return sorted(
        os.path.relpath(os.path.join(d, f), root)
        for d, _, fs in os.walk(root)
        for f in fs
        if f.endswith(".wav")
    )


# --- file names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path, speaker, emotion, class_name",
    [
        ("OAF_angry/OAF_back_angry.wav", "OAF", "angry", "angry"),
        ("YAF_neutral/YAF_youth_neutral.wav", "YAF", "neutral", "neutral"),
        ("OAF_Sad/OAF_bath_sad.wav", "OAF", "sad", "sad"),
        ("OAF_happy/OAF_dog_happy.wav", "OAF", "happy", "happy"),
        ("OAF_Pleasant_surprise/OAF_back_ps.wav", "OAF", "ps", None),
        ("YAF_pleasant_surprised/YAF_back_ps.wav", "YAF", "ps", None),
        ("OAF_Fear/OAF_back_fear.wav", "OAF", "fear", None),
        ("YAF_disgust/YAF_back_disgust.wav", "YAF", "disgust", None),
        ("OAF_happy/OAF_back_sad.wav", "OAF", "sad", "sad"),  # the file name wins over the folder
        ("elsewhere/yaf_Back_Angry.WAV", "YAF", "angry", "angry"),
    ],
)
def test_parse_tess_names(path, speaker, emotion, class_name):
    assert em.parse_tess_name(path) == ("TESS", speaker, emotion, class_name, 0)


@pytest.mark.parametrize(
    "name, message",
    [
        ("OAF_back_bored.wav", r"unknown TESS emotion 'bored' in .*OAF_back_bored.wav"),
        ("OAF_back.wav", r"malformed TESS file name .*OAF_back.wav"),
        ("03-01-05-01-02-01-01.wav", r"malformed TESS file name"),
        ("OAF_back_angry.mp3", r"OAF_back_angry.mp3 is not a .wav file"),
    ],
)
def test_parse_tess_names_bad(name, message):
    with pytest.raises(ValueError, match=message):
        em.parse_tess_name(os.path.join("TESS", "OAF_angry", name))


@pytest.mark.parametrize(
    "name, emotion, class_name, actor",
    [
        ("03-01-01-01-01-01-01.wav", "neutral", "neutral", 1),
        ("03-01-02-02-01-02-05.wav", "calm", "neutral", 5),  # calm folds into neutral
        ("03-01-03-01-02-01-12.wav", "happy", "happy", 12),
        ("03-01-04-02-02-02-21.wav", "sad", "sad", 21),
        ("03-01-05-01-02-01-24.wav", "angry", "angry", 24),
        ("03-01-06-01-01-01-01.wav", "fearful", None, 1),
        ("03-01-07-01-01-01-01.wav", "disgust", None, 1),
        ("03-01-08-01-01-01-01.wav", "surprised", None, 1),
        ("03-02-03-01-01-01-01.wav", "song:happy", None, 1),  # song, not speech
        ("01-01-03-01-01-01-01.wav", "video:happy", None, 1),  # audio-visual modality
    ],
)
def test_parse_ravdess_names(name, emotion, class_name, actor):
    parsed = em.parse_ravdess_name(os.path.join("Actor_xx", name))
    assert parsed == ("RAVDESS", f"Actor_{actor:02d}", emotion, class_name, actor)


@pytest.mark.parametrize(
    "name, message",
    [
        (
            "03-01-09-01-01-01-01.wav",
            r"unknown emotion code '09' in .*Actor_01.03-01-09-01-01-01-01.wav",
        ),
        ("03-01-05-01-01-01-25.wav", r"unknown actor code '25' in"),
        ("03-01-05-03-01-01-01.wav", r"unknown intensity code '03' in"),
        ("03-01-05-01-02-01.wav", r"malformed RAVDESS file name .*03-01-05-01-02-01.wav"),
        ("OAF_back_angry.wav", r"malformed RAVDESS file name"),
    ],
)
def test_parse_ravdess_names_bad(name, message):
    with pytest.raises(ValueError, match=message):
        em.parse_ravdess_name(os.path.join("RAVDESS", "Actor_01", name))


# --- splits ---------------------------------------------------------------------------------------------


def test_ravdess_split_by_actor():
    assert [em.ravdess_split_of(a) for a in (1, 7, 20, 21, 22, 23, 24)] == (
        ["train"] * 3 + ["validate"] * 2 + ["test"] * 2
    )
    assert em.ravdess_split_of(3, {"train": (1, 2), "validate": (), "test": (24,)}) is None
    with pytest.raises(ValueError, match="actor 2 is in both train and test"):
        em.ravdess_split_of(2, {"train": (1, 2), "validate": (), "test": (2,)})


def test_tess_split_sorted_by_name_within_speaker_and_emotion():
    rng = np.random.default_rng(0)
    paths = [
        f"{s}_x/{s}_{w}_{e}.wav"
        for s in ("OAF", "YAF")
        for e in ("angry", "sad")
        for w in em.TESS_WORDS
    ]
    rng.shuffle(paths)
    owner = em.split_tess(paths)  # the seed's 160 / 20 / rest
    for s in ("OAF", "YAF"):
        for e in ("angry", "sad"):
            group = sorted(
                (p for p in paths if p.startswith(f"{s}_") and p.endswith(f"_{e}.wav")),
                key=os.path.basename,
            )
            assert [owner[p] for p in group] == ["train"] * 160 + ["validate"] * 20 + ["test"] * 20
            assert os.path.basename(group[159]) == f"{s}_sour_{e}.wav"  # the 160th word
    small = em.split_tess(
        ["OAF_c_sad.wav", "OAF_a_sad.wav", "OAF_b_sad.wav", "YAF_a_sad.wav"], (1, 1)
    )
    assert small == {
        "OAF_a_sad.wav": "train",
        "OAF_b_sad.wav": "validate",
        "OAF_c_sad.wav": "test",
        "YAF_a_sad.wav": "train",
    }


# --- trimming and preprocessing ----------------------------------------------------------------------------


def test_frame_rms_frames_like_librosa():
    x = np.ones(5000)
    rms = em.frame_rms(x)
    assert len(rms) == 1 + 5000 // 512
    # Frame t covers samples [512 t - 1024, 512 t + 1024) of x, zero outside it.
    np.testing.assert_allclose(rms[0], np.sqrt(1024 / 2048))
    np.testing.assert_allclose(rms[2], 1.0)
    np.testing.assert_allclose(rms[-1], np.sqrt((5000 - (512 * 9 - 1024)) / 2048))


def test_trim_matches_a_hand_worked_example():
    # A block of 0.5 in samples [5000, 10000) of 22050 zeros. A frame is kept when its power is
    # within 25 dB of the loudest (full) frame: overlap > 2048 * 10**-2.5 = 6.48 samples. First
    # kept frame: 512 t + 1024 - 5000 >= 7 -> t = 8 (start 4096); last: 10000 - (512 t - 1024) >= 7
    # -> t = 21 (end 22 * 512 = 11264).
    x = np.zeros(22050)
    x[5000:10000] = 0.5
    trimmed, (start, end) = em.trim_silence(x)
    assert (start, end) == (4096, 11264) and len(trimmed) == end - start
    # A quieter tail 28 dB down is silence; 22 dB down it is kept, up to the last frame that
    # overlaps it by more than 2048 * 10**-2.5 / 0.0064 = 1012 samples: 21024 - 512 t >= 1012 -> t = 39.
    x[10000:20000] = 0.02
    assert em.trim_silence(x)[1] == (4096, 11264)
    x[10000:20000] = 0.04
    assert em.trim_silence(x)[1] == (4096, 40 * 512)
    # The end never passes the clip's end; a silent clip keeps nothing.
    x = np.zeros(3000)
    x[2000:] = 1.0
    assert em.trim_silence(x)[1] == (1024, 3000)
    assert em.trim_silence(np.zeros(4096))[1] == (
        0,
        4096,
    )  # librosa: all frames equal, nothing trimmed


def test_preprocess_pads_centred_and_scales_to_peak_1():
    rng = np.random.default_rng(0)
    x = rng.uniform(-0.3, 0.3, 22050)  # 1 s with no silence to trim
    y = em.preprocess(x, 22050)
    assert y.dtype == np.float32 and y.shape == (em.SAMPLES,) == (66150,)
    assert np.max(np.abs(y)) == 1.0
    assert not np.any(y[:22050]) and not np.any(y[44100:])  # (66150 - 22050) / 2 zeros on each side
    np.testing.assert_allclose(y[22050:44100], x / np.max(np.abs(x)), rtol=1e-6)
    odd = em.preprocess(x[:22049], 22050)  # the extra padding sample goes after
    assert not np.any(odd[:22050]) and odd[22050] != 0 and not np.any(odd[22050 + 22049 :])


def test_preprocess_trims_resamples_and_mixes_to_mono():
    rate = 16000
    t = np.arange(rate) / rate
    tone = 0.2 * np.sin(2 * np.pi * 1000 * t)
    x = np.concatenate([np.zeros(rate // 2), tone, np.zeros(rate)])
    stereo = np.stack([x, 0.5 * x], axis=1)
    y = em.preprocess(stereo, rate)
    assert y.shape == (66150,) and abs(np.max(np.abs(y)) - 1.0) < 1e-6
    nonzero = np.flatnonzero(np.abs(y) > 1e-3)
    length = nonzero[-1] - nonzero[0] + 1
    assert abs(length - 22050) < 30  # the 1 s tone at 22050 Hz, the silence gone
    assert (
        abs(nonzero[0] - (66150 - nonzero[-1] - 1)) < 1100
    )  # centred (up to the frame granularity)
    spectrum = np.abs(np.fft.rfft(y))
    assert (
        abs(np.argmax(spectrum) * 22050 / len(y) - 1000) < 2
    )  # still 1000 Hz: resampled, not relabelled


def test_preprocess_keeps_the_middle_of_a_long_clip():
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.5, 0.5, 4 * 22050)  # 4 s, no silence
    y = em.preprocess(x, 22050)
    middle = x[11025 : 11025 + 66150]
    np.testing.assert_allclose(y, middle / np.max(np.abs(middle)), rtol=1e-6)


@pytest.mark.parametrize(
    "samples, rate, message",
    [
        (2047, 22050, "clip shorter than a frame: 2047 samples"),
        (1000, 11025, "clip shorter than a frame: 2000 samples"),  # counted after resampling
    ],
)
def test_preprocess_rejects_short_clips(samples, rate, message):
    with pytest.raises(ValueError, match=message):
        em.preprocess(np.full(samples, 0.5), rate)


def test_preprocess_rejects_silence_and_load_clip_names_the_file(tmp_path):
    with pytest.raises(ValueError, match="clip is silent"):
        em.preprocess(np.zeros(22050), 22050)
    audio.write_pcm(tmp_path / "OAF_back_sad.wav", np.zeros(24414), 24414, "int16")
    with pytest.raises(ValueError, match=r"OAF_back_sad.wav: clip is silent"):
        em.load_clip(tmp_path / "OAF_back_sad.wav")


# --- the synthetic stand-in --------------------------------------------------------------------------------


def test_synthetic_tess_has_the_real_layout(download):
    root, tess, _ = download
    files = wav_files(root / "TESS")
    assert files == sorted(tess) and len(files) == 2 * 7 * TESS_WORDS
    assert sorted(os.listdir(root / "TESS")) == sorted(em.TESS_FOLDERS.values())
    assert {"OAF_Pleasant_surprise", "YAF_pleasant_surprised", "OAF_Fear", "OAF_Sad"} <= set(
        os.listdir(root / "TESS")
    )
    rates = set()
    for f in files:
        folder, name = os.path.split(f)
        speaker, word, emotion = re.fullmatch(
            r"(OAF|YAF)_([a-z]+)_(angry|disgust|fear|happy|neutral|ps|sad)\.wav", name
        ).groups()
        assert folder == em.TESS_FOLDERS[(speaker, emotion)] and word in em.TESS_WORDS[:TESS_WORDS]
        rate, data = audio.read_wav_raw(root / "TESS" / f)
        rates.add(rate)
        assert data.ndim == 1 and 1.0 <= len(data) / rate <= 3.5
    assert 24414 in rates and len(rates) > 1


def test_synthetic_ravdess_has_the_real_layout(download):
    root, _, ravdess = download
    files = wav_files(root / "RAVDESS")
    assert files == sorted(ravdess) and len(files) == len(ACTORS) * 8
    assert sorted(os.listdir(root / "RAVDESS")) == [f"Actor_{a:02d}" for a in ACTORS]
    rates, codes = set(), set()
    for f in files:
        folder, name = os.path.split(f)
        emotion, actor = re.fullmatch(
            r"03-01-(0[1-8])-0[12]-0[12]-0[12]-(\d\d)\.wav", name
        ).groups()
        assert folder == f"Actor_{actor}"
        codes.add(emotion)
        rate, data = audio.read_wav_raw(root / "RAVDESS" / f)
        rates.add(rate)
        assert data.ndim == 1 and 1.0 <= len(data) / rate <= 3.5
    assert codes == set(em.RAVDESS_EMOTIONS)  # calm and the skipped emotions included
    assert len(rates) > 1 and rates <= {48000, 24000, 16000}


def test_ravdess_takes_vary_intensity_statement_repetition(tmp_path):
    files = em.synthesize_ravdess(
        tmp_path, actors=[24], clips_per_emotion=3, emotion_codes=("01", "05")
    )
    assert [os.path.basename(f) for f in files] == [
        "03-01-01-01-01-01-24.wav",
        "03-01-01-01-02-01-24.wav",
        "03-01-01-01-01-02-24.wav",  # no strong neutral
        "03-01-05-01-01-01-24.wav",
        "03-01-05-02-01-01-24.wav",
        "03-01-05-01-02-01-24.wav",
    ]


def test_synthesis_is_deterministic(tmp_path):
    a = em.synthesize_tess(tmp_path / "a", words_per_emotion=1, seed=4, emotions=("sad",))
    b = em.synthesize_tess(tmp_path / "b", words_per_emotion=1, seed=4, emotions=("sad",))
    assert a == b and len(a) == 2
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in a)
    c = em.synthesize_tess(tmp_path / "c", words_per_emotion=1, seed=5, emotions=("sad",))
    assert (tmp_path / "a" / a[0]).read_bytes() != (tmp_path / "c" / c[0]).read_bytes()


def median_pitch(x, rate):
    """Median autocorrelation pitch (70-500 Hz) of the loud 40 ms frames."""
    n = int(0.04 * rate)
    frames = np.lib.stride_tricks.sliding_window_view(x, n)[:: n // 2]
    energy = np.mean(frames**2, axis=1)
    lo, hi = int(rate / 500), int(rate / 70)
    pitches = []
    for f in frames[energy > 0.25 * energy.max()]:
        f = f - f.mean()
        ac = np.correlate(f, f, "full")[n - 1 :]
        pitches.append(rate / (lo + np.argmax(ac[lo:hi])))
    return float(np.median(pitches))


def test_synthetic_emotions_are_distinguishable(download):
    """Per speaker: angry and happy are pitched above neutral, neutral above sad; angry is the
    loudest, sad the quietest; trimming removes the edge silence."""
    root, tess, ravdess = download
    measures = {}  # (speaker, emotion) -> [(pitch, rms)]
    for dataset, files, parse in (
        ("TESS", tess, em.parse_tess_name),
        ("RAVDESS", ravdess, em.parse_ravdess_name),
    ):
        for f in files:
            name = parse(f)
            if name.class_name is None or name.emotion == "calm":
                continue
            x = audio.load_audio(root / dataset / f, 22050)
            y, (start, end) = em.trim_silence(x)
            assert start > 0 and end < len(x)
            measures.setdefault((name.speaker, name.class_name), []).append(
                (median_pitch(y, 22050), np.sqrt(np.mean(x**2)))
            )
    speakers = {s for s, _ in measures}
    assert len(speakers) == 2 + len(ACTORS)
    for s in speakers:
        pitch = {e: np.mean([p for p, _ in measures[(s, e)]]) for e in em.CLASS_NAMES}
        rms = {e: np.mean([r for _, r in measures[(s, e)]]) for e in em.CLASS_NAMES}
        assert min(pitch["angry"], pitch["happy"]) > 1.15 * pitch["neutral"], (s, pitch)
        assert pitch["neutral"] > 1.15 * pitch["sad"], (s, pitch)
        assert rms["angry"] > rms["happy"] > rms["neutral"] > 1.5 * rms["sad"], (s, rms)


# --- prepare and load ----------------------------------------------------------------------------------------


def test_prepare_counts_splits_and_skips(packed):
    _, summary = packed
    # TESS: per speaker and class 1 / 1 / 1; RAVDESS: actors 1, 2 train, 21 validate, 23 test,
    # neutral from codes 01 and 02 (calm).
    assert summary.counts == {
        "train": {"neutral": 2 + 4, "happy": 2 + 2, "sad": 2 + 2, "angry": 2 + 2},
        "validate": {"neutral": 2 + 2, "happy": 2 + 1, "sad": 2 + 1, "angry": 2 + 1},
        "test": {"neutral": 2 + 2, "happy": 2 + 1, "sad": 2 + 1, "angry": 2 + 1},
    }
    assert summary.by_dataset == {"TESS": 2 * 4 * TESS_WORDS, "RAVDESS": 5 * len(ACTORS)}
    assert summary.skipped == {
        "TESS fear": 6,
        "TESS ps": 6,
        "TESS disgust": 6,
        "RAVDESS fearful": 4,
        "RAVDESS disgust": 4,
        "RAVDESS surprised": 4,
    }
    assert summary.bad == [] and summary.duplicates == 0 and summary.unassigned == 0


def test_prepare_load_round_trip(download, packed):
    root, _, _ = download
    path, summary = packed
    with np.load(path, allow_pickle=False) as data:
        raw = {k: data[k] for k in data.files}
    assert (
        list(raw["class_names"]) == ["neutral", "happy", "sad", "angry"]
        and int(raw["sample_rate"]) == 22050
    )
    splits, class_names, metadata = em.load_packed(path, with_metadata=True)
    assert class_names == em.CLASS_NAMES
    for split in em.SPLITS:
        x, y = splits[split]
        files, speakers = metadata[split]
        assert raw[f"{split}_audio"].dtype == np.int16 and raw[f"{split}_labels"].dtype == np.int64
        assert x.dtype == np.float32 and y.dtype == np.int64 and x.shape == (len(y), 66150)
        assert [int(np.sum(y == k)) for k in range(4)] == [
            summary.counts[split][c] for c in class_names
        ]
        assert np.all(np.max(np.abs(raw[f"{split}_audio"]), axis=1) == 32767)  # peak 1 each
        for i, (f, s) in enumerate(zip(files, speakers)):
            dataset, rel = f.split("/", 1)
            name = em.parse_tess_name(f) if dataset == "TESS" else em.parse_ravdess_name(f)
            assert class_names[y[i]] == name.class_name and s == name.speaker
            if dataset == "RAVDESS":
                assert em.ravdess_split_of(name.actor) == split
        # the packed clip is the file's preprocessing, to 16-bit precision
        clip = em.load_clip(root / files[0])
        np.testing.assert_allclose(x[0], clip, atol=1.5 / 32768)
    assert metadata["test"][1].count("Actor_23") == 5 and "Actor_21" in metadata["validate"][1]


def test_prepare_one_dataset_and_duplicates(download, tmp_path):
    root, _, _ = download
    tess = tmp_path / "TESS"
    shutil.copytree(root / "TESS", tess / "TESS Toronto emotional speech set data")
    shutil.copytree(root / "TESS" / "OAF_angry", tess / "copy" / "OAF_angry")  # a nested duplicate
    summary = em.prepare(tess_root=tess, out_path=tmp_path / "tess.npz", tess_split=(2, 0))
    assert summary.duplicates == TESS_WORDS and summary.by_dataset == {"TESS": 2 * 4 * TESS_WORDS}
    assert (
        summary.counts["train"] == {c: 4 for c in em.CLASS_NAMES}
        and sum(summary.counts["validate"].values()) == 0
    )
    splits, _ = em.load_packed(tmp_path / "tess.npz")
    assert [len(splits[s][1]) for s in em.SPLITS] == [16, 0, 8]


def write_voice(path, emotion="angry", rate=16000, seconds=None):
    x = em.synthesize_utterance(emotion, rate, ["a", "i"], seed=1, max_seconds=1.5)
    if seconds is not None:
        x = np.full(int(seconds * rate), 0.3)
    audio.write_pcm(path, x, rate, "int16")


def mini_ravdess(root, bad=None):
    """Actor_01 with a neutral, a happy and a fearful clip (two usable classes: a packed set needs
    two), plus ``bad`` (name, bytes) if given. At 22050 Hz: nothing to resample, so a tool run on it
    need not import scipy.signal (1.5 s)."""
    folder = root / "Actor_01"
    folder.mkdir(parents=True, exist_ok=True)
    write_voice(folder / "03-01-01-01-01-01-01.wav", "neutral", rate=22050)
    write_voice(folder / "03-01-03-01-01-01-01.wav", "happy", rate=22050)
    write_voice(folder / "03-01-06-01-01-01-01.wav", "fear", rate=22050)
    if bad:
        (folder / bad[0]).write_bytes(bad[1])
    return root


@pytest.mark.parametrize(
    "bad, message",
    [
        (
            ("03-01-05-01-01-01-01.wav", b"definitely not audio"),
            r"03-01-05-01-01-01-01.wav is not a readable WAV",
        ),
        (
            ("03-01-09-01-01-01-01.wav", b""),
            r"unknown emotion code '09' in .*03-01-09-01-01-01-01.wav",
        ),
        (
            ("03-01-04-01-01-01-01.wav", "short"),
            r"03-01-04-01-01-01-01.wav: clip shorter than a frame",
        ),
    ],
)
def test_prepare_bad_files_stop_unless_skip_bad(tmp_path, bad, message):
    name, content = bad
    if content == "short":
        write_voice(tmp_path / "short.wav", seconds=0.05)
        content = (tmp_path / "short.wav").read_bytes()
    root = mini_ravdess(tmp_path / "RAVDESS", (name, content))
    with pytest.raises(ValueError, match=message):
        em.prepare(ravdess_root=root, out_path=tmp_path / "out.npz")
    assert not (tmp_path / "out.npz").exists()
    summary = em.prepare(ravdess_root=root, out_path=tmp_path / "out.npz", skip_bad=True)
    assert summary.total == 2 and len(summary.bad) == 1 and name in summary.bad[0][0]


def test_prepare_long_clips_crop_or_drop(tmp_path):
    root = mini_ravdess(tmp_path / "RAVDESS")
    write_voice(root / "Actor_01" / "03-01-04-01-01-01-01.wav", seconds=4.0)
    summary = em.prepare(ravdess_root=root, out_path=tmp_path / "a.npz")
    assert summary.total == 3 and summary.cropped == 1
    summary = em.prepare(ravdess_root=root, out_path=tmp_path / "b.npz", long_clips="drop")
    assert summary.total == 2 and summary.dropped_long == 1


def test_prepare_with_nothing_usable_is_an_error(tmp_path):
    root = tmp_path / "TESS" / "OAF_Fear"
    root.mkdir(parents=True)
    write_voice(root / "OAF_back_fear.wav", "fear")
    with pytest.raises(ValueError, match="no usable clip in .*1 of other emotions"):
        em.prepare(tmp_path / "TESS", out_path=tmp_path / "out.npz")
    with pytest.raises(ValueError, match="give a TESS root, a RAVDESS root or both"):
        em.prepare(out_path=tmp_path / "out.npz")


def test_prepare_missing_download_says_how_to_get_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="no TESS download at .*synth_emotion.py"):
        em.prepare(tmp_path / "nowhere", out_path=tmp_path / "out.npz")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .wav files under .*is this a RAVDESS download"):
        em.prepare(ravdess_root=tmp_path / "empty", out_path=tmp_path / "out.npz")


def test_load_packed_errors(tmp_path):
    with pytest.raises(
        FileNotFoundError, match="no packed speech emotion set at .*datatools/prepare_emotion.py"
    ):
        em.load_packed(tmp_path / "emotion.npz")
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable .npz"):
        em.load_packed(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(
        ValueError,
        match="not a packed speech emotion set: missing class_names, sample_rate, train_audio",
    ):
        em.load_packed(tmp_path / "other.npz")


def test_synthesize_packed(tmp_path):
    assert em.synthesize_packed(tmp_path / "s.npz", clips_per_class=(2, 1, 0)) == em.CLASS_NAMES
    splits, names = em.load_packed(tmp_path / "s.npz")
    assert [len(splits[s][0]) for s in em.SPLITS] == [8, 4, 0]
    assert list(splits["train"][1]) == [0, 0, 1, 1, 2, 2, 3, 3]


# --- the command-line programs --------------------------------------------------------------------------------

NO_TF_CHECK = (
    "import atexit, runpy, sys; "
    "atexit.register(lambda: print('TF IMPORTED' if 'tensorflow' in sys.modules or 'keras' in "
    "sys.modules else 'no tensorflow')); "
    "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def run_tool(name, *args):
    """Run datatools/{name}_emotion.py, reporting at exit whether TensorFlow was imported."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            NO_TF_CHECK,
            os.path.join("datatools", f"{name}_emotion.py"),
            *map(str, args),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_tools_run_end_to_end_without_tensorflow(tmp_path):
    result = run_tool(
        "synth", tmp_path, "--tess_words", "1", "--ravdess_actors", "1,21", "--seed", "2"
    )
    assert result.returncode == 0, result.stderr
    assert (
        "wrote 14 TESS and 16 RAVDESS clips" in result.stdout
        and "--tess_split 1,0" in result.stdout
    )
    assert result.stdout.strip().endswith("no tensorflow")
    assert len(wav_files(tmp_path / "TESS")) == 14 and len(wav_files(tmp_path / "RAVDESS")) == 16
    result = run_tool(
        "prepare",
        tmp_path / "e.npz",
        "--tess",
        tmp_path / "TESS",
        "--ravdess",
        tmp_path / "RAVDESS",
        "--tess_split",
        "1,0",
    )
    assert result.returncode == 0, result.stderr
    assert "packed 18 clips (13 train, 5 validate, 0 test" in result.stdout
    assert result.stdout.strip().endswith("no tensorflow")
    splits, _ = em.load_packed(tmp_path / "e.npz")
    assert len(splits["train"][0]) == 13


def test_prepare_tool_corrupt_wav_is_one_line(tmp_path):
    root = mini_ravdess(
        tmp_path / "RAVDESS", ("03-01-05-01-01-01-01.wav", b"RIFF....WAVEnot really")
    )
    result = run_tool(
        "prepare", tmp_path / "e.npz", "--ravdess", root
    )  # (--skip_bad: tested in-process)
    assert (
        result.returncode == 2
        and result.stderr.count("\n") == 1
        and result.stderr.startswith("tfam: error: ")
    )
    assert "03-01-05-01-01-01-01.wav is not a readable WAV file" in result.stderr
    assert not (tmp_path / "e.npz").exists()


@pytest.mark.parametrize(
    "name, args, message",
    [
        ("synth", [], "usage: synth_emotion.py OUT_ROOT"),
        ("synth", ["OUT", "--tess_words", "0"], "--tess_words must be within 1..200"),
        (
            "synth",
            ["OUT", "--ravdess_actors", "0,1"],
            "--ravdess_actors must be numbers within 1..24",
        ),
        ("prepare", ["OUT"], "give --tess DIR, --ravdess DIR or both"),
        ("prepare", ["OUT", "--tess", "NOWHERE"], "no TESS download at"),
        (
            "prepare",
            ["OUT", "--ravdess", "NOWHERE", "--tess_split", "5"],
            "--tess_split must be two counts",
        ),
        ("prepare", ["OUT", "--bogus"], "Unknown command line flag 'bogus'"),
    ],
)
def test_tools_bad_input_one_line_exit_2(tmp_path, name, args, message):
    replace = {"NOWHERE": tmp_path / "nowhere", "OUT": tmp_path / "out"}
    result = run_tool(name, *[replace.get(a, a) for a in args])
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("tfam: error: ")
    assert message in result.stderr


def test_data_module_does_not_import_tensorflow():
    code = (
        "import sys, tfam.audio, tfam.data.emotion, tfam.cli; "
        "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0
