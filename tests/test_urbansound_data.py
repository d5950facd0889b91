import csv
import os
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest
from scipy.io import wavfile

from tfam import audio
from tfam.data import urbansound as us

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDS = (1, 2, 9, 10)
SPLIT_OF_FOLD = {1: "TRAIN", 2: "TRAIN", 9: "VALIDATE", 10: "TEST"}


@pytest.fixture(scope="module")
def download(tmp_path_factory):
    root = tmp_path_factory.mktemp("UrbanSound8K")
    rows = us.synthesize_download(
        root, clips_per_class=8, seed=0, folds=FOLDS
    )  # 2 per class and fold
    return str(root), rows


@pytest.fixture(scope="module")
def modified(download, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("UrbanSound8K_modified"))
    summary = us.prepare(download[0], out)
    return out, summary


def wav_files(root):
    return sorted(
        os.path.relpath(os.path.join(d, f), root)
        for d, _, fs in os.walk(root)
        for f in fs
        if f.endswith(".wav")
    )


def original_seconds(download_root, row):
    rate, data = wavfile.read(
        os.path.join(download_root, "audio", f"fold{row['fold']}", row["slice_file_name"])
    )
    return len(data) / rate


# --- the synthetic download ---------------------------------------------------------------------


def test_synthetic_download_has_the_real_layout(download):
    root, rows = download
    assert sorted(os.listdir(os.path.join(root, "audio"))) == sorted(
        f"fold{k}" for k in range(1, 11)
    )
    with open(os.path.join(root, "metadata", "UrbanSound8K.csv"), newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == [
            "slice_file_name",
            "fsID",
            "start",
            "end",
            "salience",
            "fold",
            "classID",
            "class",
        ]
        listed = list(reader)
    assert len(listed) == len(rows) == 80
    assert {r["class"] for r in listed} == set(us.CLASSES_10)  # gun_shot included
    for r in listed:
        fs_id, class_id, _, _ = re.fullmatch(
            r"(\d+)-(\d)-(\d+)-(\d+)\.wav", r["slice_file_name"]
        ).groups()
        assert fs_id == r["fsID"] and class_id == r["classID"] == str(
            us.CLASSES_10.index(r["class"])
        )
        assert int(r["fold"]) in FOLDS
        duration = original_seconds(root, r)
        assert abs((float(r["end"]) - float(r["start"])) - duration) < 1e-5
    assert wav_files(os.path.join(root, "audio")) == sorted(
        os.path.join(f"fold{r['fold']}", r["slice_file_name"]) for r in listed
    )


def test_synthetic_download_is_varied_like_the_real_one(download):
    root, rows = download
    rates, kinds, channels, short = set(), set(), set(), set()
    for r in rows:
        rate, data = audio.read_wav_raw(
            os.path.join(root, "audio", f"fold{r['fold']}", r["slice_file_name"])
        )
        rates.add(rate)
        kinds.add(str(data.dtype))
        channels.add(1 if data.ndim == 1 else data.shape[1])
        if abs(len(data) / rate - 4.0) > 1e-3:
            short.add(r["class"])
    assert rates == {8000, 11025, 16000, 22050, 44100, 48000}
    assert kinds == {"uint8", "int16", "int32", "float32"}  # int32 holds the 24-bit files
    assert channels == {1, 2}
    assert "gun_shot" in short and len(short) >= 3


def test_synthesis_is_deterministic(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    us.synthesize_download(a, clips_per_class=1, seed=3, folds=(4,))
    us.synthesize_download(b, clips_per_class=1, seed=3, folds=(4,))
    files = wav_files(a)
    assert files == wav_files(b) and len(files) == 10
    assert all((a / f).read_bytes() == (b / f).read_bytes() for f in files)
    assert (a / "metadata" / "UrbanSound8K.csv").read_text() == (
        b / "metadata" / "UrbanSound8K.csv"
    ).read_text()


def test_classes():
    assert us.CLASSES_10.index("gun_shot") == 6 and us.CLASSES_10.index("street_music") == 9
    assert us.CLASSES == [
        "air_conditioner",
        "car_horn",
        "children_playing",
        "dog_bark",
        "drilling",
        "engine_idling",
        "jackhammer",
        "siren",
        "street_music",
    ]


# --- prepare --------------------------------------------------------------------------------------


def test_prepare_writes_mono_16_bit_8_khz_4_s_clips(modified):
    out, _ = modified
    files = wav_files(os.path.join(out, "audio"))
    assert files
    for f in files:
        rate, data = wavfile.read(os.path.join(out, "audio", f))
        assert (rate, data.dtype, data.shape) == (8000, np.int16, (32000,)), f


def test_prepare_keeps_exactly_the_4_s_clips_sorts_and_splits_by_fold(download, modified):
    root, rows = download
    out, summary = modified
    expected = sorted(
        os.path.join(r["class"], f"{SPLIT_OF_FOLD[r['fold']]}-{r['slice_file_name']}")
        for r in rows
        if r["class"] != "gun_shot" and abs(original_seconds(root, r) - 4) < 1e-3
    )
    assert wav_files(os.path.join(out, "audio")) == expected
    assert "gun_shot" not in os.listdir(os.path.join(out, "audio"))
    assert set(os.listdir(os.path.join(out, "audio"))) == set(us.CLASSES)
    short = sum(
        r["class"] != "gun_shot" and abs(original_seconds(root, r) - 4) > 1e-3 for r in rows
    )
    assert short > 0 and summary.wrong_length == short
    assert summary.dropped == {"gun_shot": 8}
    assert summary.total == len(expected)
    for split, prefix in (("train", "TRAIN"), ("validate", "VALIDATE"), ("test", "TEST")):
        assert sum(summary.counts[split].values()) == sum(
            f"{os.sep}{prefix}-" in f for f in expected
        )
    # A recording (fsID) never lands in two splits.
    split_of_id = {}
    for f in expected:
        prefix, name = os.path.basename(f).split("-", 1)
        assert split_of_id.setdefault(name.split("-")[0], prefix) == prefix
    readme = open(os.path.join(out, "README.txt")).read()
    assert "8000 Hz" in readme and "gun_shot" in readme and "TRAIN- = fold(s) 1, 2, 3" in readme


def test_prepared_audio_is_the_band_limited_mono_original(download, modified):
    root, rows = download
    out, _ = modified
    row = next(r for r in rows if r["class"] == "siren" and r["fold"] == 1)
    original = audio.load_audio(os.path.join(root, "audio", "fold1", row["slice_file_name"]), 8000)
    prepared, _ = audio.read_wav(
        os.path.join(out, "audio", "siren", "TRAIN-" + row["slice_file_name"])
    )
    np.testing.assert_allclose(prepared, np.clip(original, -1, 1), atol=2e-4)


def test_prepare_again_with_other_folds_removes_stale_files(download, tmp_path):
    root, _ = download
    out = tmp_path / "mod"
    first = us.prepare(root, out)
    summary = us.prepare(root, out, split_folds={"train": (2,), "validate": (9,), "test": (10,)})
    fold1 = sum(first.counts["train"].values()) - sum(summary.counts["train"].values())
    assert summary.unassigned > 0 and summary.removed == fold1 > 0  # fold 1's TRAIN- files are gone
    names = wav_files(out / "audio")
    assert len(names) == summary.total
    assert len({os.path.basename(n).split("-", 1)[1] for n in names}) == len(names)  # no clip twice


def test_prepare_refuses_overlapping_splits(download, tmp_path):
    with pytest.raises(ValueError, match="fold 9 is in both"):
        us.prepare(
            download[0], tmp_path, split_folds={"train": (1, 9), "validate": (9,), "test": (10,)}
        )


# A tiny hand-made download for the bad-input cases.


def mini_download(root, clips, columns=us.CSV_COLUMNS):
    """clips: (file name, class, fold, seconds or raw bytes)."""
    rows = []
    for name, cls, fold, content in clips:
        path = root / "audio" / f"fold{fold}" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            audio.write_pcm(path, np.zeros(int(content * 16000)) + 0.1, 16000, "int16")
        rows.append(
            {
                "slice_file_name": name,
                "fsID": name.split("-")[0],
                "start": 0,
                "end": 4.0,
                "salience": 1,
                "fold": fold,
                "classID": us.CLASSES_10.index(cls),
                "class": cls,
            }
        )
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    with open(root / "metadata" / "UrbanSound8K.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return root


def good_bytes(tmp_path):
    audio.write_pcm(tmp_path / "good.wav", np.zeros(64000), 16000, "int16")
    return (tmp_path / "good.wav").read_bytes()


@pytest.mark.parametrize(
    "bad, message",
    [
        (b"definitely not audio", "is not a readable WAV file"),
        ("truncated", "is truncated"),
    ],
)
def test_prepare_names_a_corrupt_wav_and_skip_bad_skips_it(tmp_path, bad, message):
    content = good_bytes(tmp_path)[:5000] if bad == "truncated" else bad
    root = mini_download(
        tmp_path / "dl", [("1-3-0-0.wav", "dog_bark", 1, 4.0), ("2-8-0-0.wav", "siren", 1, content)]
    )
    with pytest.raises(ValueError, match=message) as error:
        us.prepare(root, tmp_path / "out")
    assert os.path.join("fold1", "2-8-0-0.wav") in str(error.value)
    summary = us.prepare(root, tmp_path / "out", skip_bad=True)
    assert summary.total == 1 and len(summary.bad) == 1 and "2-8-0-0.wav" in summary.bad[0][0]


def test_prepare_missing_wav_listed_in_csv(tmp_path):
    root = mini_download(tmp_path / "dl", [("1-3-0-0.wav", "dog_bark", 1, 4.0)])
    os.remove(root / "audio" / "fold1" / "1-3-0-0.wav")
    with pytest.raises(FileNotFoundError, match="1-3-0-0.wav"):
        us.prepare(root, tmp_path / "out")


def test_prepare_checks_the_csv(tmp_path):
    root = mini_download(
        tmp_path / "a",
        [("1-3-0-0.wav", "dog_bark", 1, 4.0)],
        columns=["slice_file_name", "fsID", "start", "end", "fold", "class"],
    )
    with pytest.raises(ValueError, match="lacks the column.s. salience, classID"):
        us.prepare(root, tmp_path / "out")
    root = mini_download(tmp_path / "b", [("1-3-0-0.wav", "dog_bark", 1, 4.0)])
    csv_path = root / "metadata" / "UrbanSound8K.csv"
    csv_path.write_text(csv_path.read_text().replace("dog_bark", "cat_meow"))
    with pytest.raises(ValueError, match="line 2: unknown class 'cat_meow'"):
        us.prepare(root, tmp_path / "out")


def test_prepare_with_nothing_to_keep_is_an_error(tmp_path):
    root = mini_download(
        tmp_path / "dl", [("1-3-0-0.wav", "dog_bark", 1, 2.5), ("2-6-0-0.wav", "gun_shot", 1, 4.0)]
    )
    with pytest.raises(ValueError, match="no clip was kept .* 1 were not 4 s long, 1 dropped"):
        us.prepare(root, tmp_path / "out")


def test_prepare_tolerates_one_sample_off(tmp_path):
    root = mini_download(
        tmp_path / "dl",
        [
            ("1-3-0-0.wav", "dog_bark", 1, 4.0 - 1 / 16000),
            ("2-3-0-0.wav", "dog_bark", 1, 4.0 - 2 / 16000),
        ],
    )
    summary = us.prepare(root, tmp_path / "out")
    assert summary.total == 1 and summary.wrong_length == 1
    rate, data = wavfile.read(tmp_path / "out" / "audio" / "dog_bark" / "TRAIN-1-3-0-0.wav")
    assert data.shape == (32000,)


def test_missing_download_says_how_to_get_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="synth_urbansound.py"):
        us.prepare(tmp_path / "nowhere", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no metadata/UrbanSound8K.csv"):
        us.prepare(tmp_path / "empty", tmp_path / "out")


# --- pack and load --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def packed(modified):
    out, _ = modified
    path = os.path.join(out, "urbansound.npz")
    counts = us.pack(out)
    return path, counts


def test_pack_round_trips_exactly(modified, packed):
    out, summary = modified
    path, counts = packed
    assert counts == {s: {c: summary.counts[s].get(c, 0) for c in us.CLASSES} for s in us.SPLITS}
    with np.load(path, allow_pickle=False) as data:
        assert data["class_names"].dtype.kind == "U" and list(data["class_names"]) == us.CLASSES
        raw = {k: data[k] for k in data.files}
    splits, class_names = us.load_packed(path)
    assert class_names == us.CLASSES
    for split in us.SPLITS:
        x, y = splits[split]
        files = raw[f"{split}_files"]
        assert raw[f"{split}_audio"].dtype == np.int16 and raw[f"{split}_labels"].dtype == np.int64
        assert files.dtype.kind == "U" and x.dtype == np.float32 and x.shape == (len(files), 32000)
        for i, name in enumerate(files):
            cls, base = name.split("/")
            assert base.startswith(
                {"train": "TRAIN-", "validate": "VALIDATE-", "test": "TEST-"}[split]
            )
            assert class_names[y[i]] == cls
            _, pcm = wavfile.read(os.path.join(out, "audio", cls, base))
            np.testing.assert_array_equal(raw[f"{split}_audio"][i], pcm)
            np.testing.assert_array_equal(x[i], pcm.astype(np.float32) / 32768)
    assert all(len(splits[s][0]) > 0 for s in us.SPLITS)


def test_load_packed_missing_says_how_to_build_it(tmp_path):
    with pytest.raises(
        FileNotFoundError, match="datatools/prepare_urbansound.py .*datatools/pack_urbansound.py"
    ):
        us.load_packed(tmp_path / "urbansound.npz")


def test_load_packed_rejects_other_files(tmp_path):
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a readable .npz"):
        us.load_packed(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a packed UrbanSound8K: missing"):
        us.load_packed(tmp_path / "other.npz")


def prepared_tree(root, files):
    """files: relative path under audio/ -> (samples, rate, sample format)."""
    for rel, (n, rate, fmt) in files.items():
        audio.write_pcm(root / "audio" / rel, np.zeros(n), rate, fmt)
    return root


@pytest.mark.parametrize(
    "files, message",
    [
        (
            {"siren/TRAIN-1.wav": (32000, 8000, "int16"), "dog_bark/.keep.wav": (1, 8000, "int16")},
            r"class folder .*dog_bark holds no WAV files",
        ),
        (
            {"siren/TRAIN-1.wav": (31999, 8000, "int16")},
            r"TRAIN-1.wav is 8000 Hz, int16, 1 channel\(s\), 31999 samples",
        ),
        ({"siren/TEST-1.wav": (64000, 16000, "int16")}, r"TEST-1.wav is 16000 Hz"),
        ({"siren/TEST-1.wav": (32000, 8000, "int24")}, r"TEST-1.wav is 8000 Hz, int32"),
        ({"siren/1.wav": (32000, 8000, "int16")}, r"1.wav has no TRAIN-/VALIDATE-/TEST- prefix"),
        ({"cat_meow/TRAIN-1.wav": (32000, 8000, "int16")}, r"unknown class 'cat_meow'"),
    ],
)
def test_pack_rejects_bad_trees(tmp_path, files, message):
    root = prepared_tree(tmp_path / "mod", files)
    with pytest.raises(ValueError, match=message):
        us.pack(root)
    assert not (root / "urbansound.npz").exists()


def test_pack_missing_tree_says_how_to_build_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="prepare_urbansound.py"):
        us.pack(tmp_path / "nowhere")


# --- the seed's pickle ------------------------------------------------------------------------------


@pytest.fixture
def seed_pickle(tmp_path):
    rng = np.random.default_rng(0)

    def clip():
        return rng.integers(-32768, 32768, 32000).astype(np.int16)

    data = [
        [["siren", clip()], ["dog_bark", clip()], ["siren", clip()]],
        [["dog_bark", clip()]],
        [["air_conditioner", clip()]],
    ]
    path = tmp_path / "urbansound.pkl"
    path.write_bytes(pickle.dumps(data))
    return path, data


def test_seed_pickle_is_refused_without_permission(seed_pickle):
    path, _ = seed_pickle
    with pytest.raises(
        ValueError, match="pickle files can run code; pass --allow_pickle if you trust it"
    ):
        us.load_seed_pickle(path)


def test_seed_pickle_loads_with_permission(seed_pickle, tmp_path):
    path, data = seed_pickle
    splits, class_names = us.load_seed_pickle(path, allow_pickle=True)
    assert class_names == ["air_conditioner", "dog_bark", "siren"]  # classID order
    for split, items in zip(us.SPLITS, data):
        x, y = splits[split]
        assert x.dtype == np.float32 and x.shape == (len(items), 32000)
        assert [class_names[k] for k in y] == [c for c, _ in items]
        np.testing.assert_array_equal(x, np.stack([a for _, a in items]) / 32768)
    us.pack_seed_pickle(path, tmp_path / "from_pickle.npz", allow_pickle=True)
    again, names = us.load_packed(tmp_path / "from_pickle.npz")
    assert names == class_names
    for split in us.SPLITS:
        np.testing.assert_array_equal(again[split][0], splits[split][0])
        np.testing.assert_array_equal(again[split][1], splits[split][1])


def test_seed_pickle_of_the_wrong_shape(tmp_path):
    path = tmp_path / "bad.pkl"
    path.write_bytes(pickle.dumps({"not": "a list"}))
    with pytest.raises(ValueError, match="expected a list \\[TRAIN, VAL, TEST\\]"):
        us.load_seed_pickle(path, allow_pickle=True)


# --- the command-line programs ----------------------------------------------------------------------


def run_tool(name, *args):
    return subprocess.run(
        [sys.executable, os.path.join("datatools", f"{name}_urbansound.py"), *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_tools_run_end_to_end(tmp_path):
    dl, mod = tmp_path / "dl", tmp_path / "mod"
    result = run_tool("synth", dl, "--clips_per_class", "1", "--seed", "1")
    assert result.returncode == 0, result.stderr
    assert "wrote 10 clips" in result.stdout and (dl / "metadata" / "UrbanSound8K.csv").exists()
    result = run_tool("prepare", dl, mod)
    assert result.returncode == 0, result.stderr
    assert "wrote 9 clips" in result.stdout and (mod / "README.txt").exists()
    result = run_tool("pack", mod)
    assert result.returncode == 0, result.stderr
    splits, names = us.load_packed(mod / "urbansound.npz")
    assert names == us.CLASSES and len(splits["train"][0]) == 9  # fold 1 only: all TRAIN
    result = run_tool("pack", mod, "--out", tmp_path / "elsewhere.npz")
    assert result.returncode == 0 and (tmp_path / "elsewhere.npz").exists()


def test_pack_tool_converts_a_pickle_only_when_allowed(seed_pickle, tmp_path):
    path, _ = seed_pickle
    result = run_tool("pack", "--from_pickle", path, "--out", tmp_path / "p.npz")
    assert (
        result.returncode == 2
        and result.stderr.count("\n") == 1
        and "--allow_pickle" in result.stderr
    )
    result = run_tool("pack", "--from_pickle", path, "--allow_pickle", "--out", tmp_path / "p.npz")
    assert result.returncode == 0, result.stderr
    assert len(us.load_packed(tmp_path / "p.npz")[0]["train"][0]) == 3


@pytest.mark.parametrize(
    "name, args, message",
    [
        ("synth", [], "usage: synth_urbansound.py OUT_DIR"),
        ("synth", ["OUT", "--clips_per_class", "0"], "--clips_per_class must be at least 1"),
        ("prepare", ["NOWHERE", "OUT"], "no UrbanSound8K download at"),
        ("prepare", ["CORRUPT", "OUT"], "is not a readable WAV file"),
        ("pack", ["NOWHERE"], "no prepared UrbanSound8K at"),
        ("pack", ["NOWHERE", "--bogus"], "Unknown command line flag 'bogus'"),
    ],
)
def test_tools_bad_input_one_line_exit_2(tmp_path, name, args, message):
    mini_download(tmp_path / "corrupt", [("2-8-0-0.wav", "siren", 1, b"RIFF....WAVEnot really")])
    replace = {
        "NOWHERE": tmp_path / "nowhere",
        "OUT": tmp_path / "out",
        "CORRUPT": tmp_path / "corrupt",
    }
    result = run_tool(name, *[replace.get(a, a) for a in args])
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("tfam: error: ")
    assert message in result.stderr


def test_data_modules_do_not_import_tensorflow():
    code = (
        "import sys, tfam.audio, tfam.data.urbansound, tfam.cli; "
        "sys.exit('tensorflow' in sys.modules or 'keras' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], cwd=REPO).returncode == 0


def test_pack_tool_on_an_empty_class_folder_is_one_line(tmp_path):
    root = tmp_path / "mod"
    (root / "audio" / "siren").mkdir(parents=True)
    (root / "audio" / "car_horn").mkdir()
    audio.write_wav(str(root / "audio" / "car_horn" / "TRAIN-1.wav"), np.zeros(32000), 8000)
    result = run_tool("pack", root)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "siren" in lines[0] and "no WAV files" in lines[0], result.stderr
