import os
import subprocess
import sys

import numpy as np
import pytest

from tfam.report import summaries

RATE = 8000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tone(frequency=1000.0, seconds=1.0, rate=RATE, amplitude=0.5):
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def test_import_is_light():
    code = (
        "import sys, tfam.report.summaries; "
        "print(sorted(m for m in ('tensorflow', 'matplotlib', 'scipy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_spectrogram_db_of_a_tone_peaks_at_its_frequency_and_spans_the_clip():
    freqs, times, db = summaries.spectrogram_db(tone(1000.0), RATE)
    assert db.shape == (129, len(times)) and freqs.shape == (129,)
    assert freqs[-1] == RATE / 2
    assert np.all(freqs[db.argmax(axis=0)] == 1000.0)  # 1000 Hz is bin 32 of 256 at 8 kHz
    assert times[0] < 0.02 and times[-1] > 0.97  # frame centres from start to end of the 1 s clip
    assert np.all(np.diff(times) > 0)


def test_spectrogram_db_accepts_a_column_and_keeps_silence_finite():
    _, _, column = summaries.spectrogram_db(tone()[:, None], RATE)
    _, _, flat = summaries.spectrogram_db(tone(), RATE)
    np.testing.assert_allclose(column, flat)
    _, times, silent = summaries.spectrogram_db(
        np.zeros(100, np.float32), RATE
    )  # shorter than nfft
    assert len(times) == 1 and np.all(np.isfinite(silent)) and silent.max() == pytest.approx(-100.0)
    with pytest.raises(ValueError):
        summaries.spectrogram_db(np.zeros((10, 2, 2)), RATE)


def test_spectrogram_png_and_figure(tmp_path):
    fig = summaries.spectrogram_figure(tone(), RATE, title="a tone")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time (s)" and ax.get_ylabel() == "frequency (Hz)"
    assert ax.get_title() == "a tone"
    assert fig.axes[1].get_ylabel() == "power (dB)"  # the colorbar
    low, high = ax.images[0].get_clim()
    assert high - low == pytest.approx(80.0)

    path = tmp_path / "new" / "dir" / "tone.png"
    summaries.write_spectrogram_png(path, tone(), RATE, title="a tone")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    import matplotlib.image

    assert matplotlib.image.imread(path).shape[:2] == (320, 600)
    assert os.listdir(path.parent) == ["tone.png"]  # no temporary file left beside it


def test_figure_to_array():
    image = summaries.figure_to_array(summaries.spectrogram_figure(tone(), RATE))
    assert image.dtype == np.uint8 and image.shape == (320, 600, 3)
    assert image.min() < 50 and image.max() > 200  # something was drawn


def test_confusion_figure_has_class_names_and_counts(tmp_path):
    names = [
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
    ]
    matrix = np.arange(100).reshape(10, 10)
    fig = summaries.confusion_figure(matrix, names, title="test")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == names
    assert [t.get_text() for t in ax.get_yticklabels()] == names
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    texts = {t.get_text() for t in ax.texts}
    assert {"0", "37", "99"} <= texts and len(ax.texts) == 100
    path = tmp_path / "confusion.png"
    summaries.write_confusion_png(path, matrix, names)
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with pytest.raises(ValueError):
        summaries.confusion_figure(np.zeros((3, 3)), ["a", "b"])


def test_tensorboard_summaries_read_back(tmp_path):
    import tensorflow as tf

    waves = np.stack([tone(500.0, 0.5), tone(1500.0, 0.5)])
    writer = tf.summary.create_file_writer(str(tmp_path / "train"))
    with writer.as_default():
        for step, (loss, accuracy) in enumerate([(2.0, 0.25), (1.5, 0.5), (0.75, 0.875)]):
            summaries.log_scalars({"loss": loss, "accuracy": accuracy}, step=step)
        summaries.log_audio("examples/audio", waves, RATE, step=0)
        summaries.log_spectrograms(
            "examples/spectrograms", waves, RATE, step=0, titles=["low", "high"]
        )
        summaries.log_confusion("confusion", [[3, 1], [0, 4]], ["cat", "dog"], step=0)
    writer.flush()
    writer.close()
    other = tf.summary.create_file_writer(str(tmp_path / "validation"))
    with other.as_default():
        summaries.log_scalars({"loss": 9.0}, step=5)
    other.close()

    assert summaries.read_tags(tmp_path) == {
        "loss": "scalars",
        "accuracy": "scalars",
        "examples/audio": "audio",
        "examples/spectrograms": "images",
        "confusion": "images",
    }
    assert summaries.read_scalars(tmp_path, "accuracy") == [(0, 0.25), (1, 0.5), (2, 0.875)]
    assert summaries.read_scalars(tmp_path, "loss", run="train") == [(0, 2.0), (1, 1.5), (2, 0.75)]
    assert summaries.read_scalars(tmp_path, "loss", run="validation") == [(5, 9.0)]
    assert summaries.read_scalars(tmp_path, "missing") == []


def test_gallery_html(tmp_path):
    entries = [
        {
            "name": "dog <script>alert(1)</script>",
            "image": "img/dog.png",
            "audio": "wav/dog & cat.wav",
            "scores": {"dog_bark": 0.93456, "verdict": "<b>yes</b>"},
            "note": "seed 7",
        },
        {
            "name": "siren",
            "image": None,
            "audio": "wav/siren.wav",
            "scores": {"siren": np.float32(0.5)},
        },
    ]
    path = tmp_path / "site" / "index.html"
    summaries.write_gallery(
        path, "Dreams & sounds", entries, intro=["test accuracy 0.91", "tensorboard --logdir runs"]
    )
    page = path.read_text(encoding="utf-8")
    assert page.count("<audio controls") == 2
    assert "<script>" not in page and "dog &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'src="wav/dog &amp; cat.wav"' in page and 'src="img/dog.png"' in page
    assert page.count("<img") == 1
    assert "0.935" in page and "0.500" in page and "&lt;b&gt;yes&lt;/b&gt;" in page
    assert "<h1>Dreams &amp; sounds</h1>" in page and "<p>tensorboard --logdir runs</p>" in page
    assert "seed 7" in page
    assert "http" not in page and "<link" not in page
    assert os.listdir(path.parent) == ["index.html"]


def test_gallery_failure_keeps_the_old_page(tmp_path):
    class Broken:
        def __str__(self):
            raise RuntimeError("cannot format")

    path = tmp_path / "index.html"
    summaries.write_gallery(path, "old", [{"name": "a"}])
    before = path.read_bytes()
    with pytest.raises(RuntimeError):
        summaries.write_gallery(path, "new", [{"name": "b", "scores": {"x": Broken()}}])
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["index.html"]
