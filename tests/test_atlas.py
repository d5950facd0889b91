"""tfam atlas (issue 15): every channel asked for is dreamed; an atlas interrupted by a real signal
and resumed equals an uninterrupted one; two devices give the one device's atlas; other settings
are refused; the page loads every picture and sound in a browser, and its search and sort work."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import pytest
from cli_runs import run_cli

from tfam.cli.common import INTERRUPTED

STOP_WITHIN = 2.0  # seconds from the signal to the exit (compiled calls take about 0.5 s)
START_WITHIN = 120  # seconds for TensorFlow's import and the first batch on a loaded machine
CLASSES = ["dog_bark", "siren", "engine", "drill", "horn"]
# 3 + 2 channels in 3 batches of 2: a signal once the first record is written finds most of them
# left to write (a batch's pictures take longer to write than the tiny model takes to dream it)
ATLAS = ["--no-classes", "--steps", "100", "--max-batch", "2", "--sample-rate", "8000"]
ATLAS += ["--jit-compile", "off"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("atlas_models")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((512,))
    x = keras.layers.Reshape((512, 1))(inputs)
    x = keras.layers.Conv1D(3, 9, strides=2, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.Conv1D(2, 9, strides=2, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    outputs = keras.layers.Dense(5, activation="softmax", name="out")(x)
    keras.Model(inputs, outputs).save(root / "sound.keras")
    (root / "sound.labels.txt").write_text("\n".join(CLASSES) + "\n")
    inputs = keras.Input((10, 10, 1))
    x = keras.layers.Conv2D(3, 3, padding="same", activation="relu", name="conv")(inputs)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(2, name="logits")(x)
    keras.Model(inputs, outputs).save(root / "image.keras")
    inputs = keras.Input((None,))
    x = keras.layers.Reshape((-1, 1))(inputs)
    x = keras.layers.Conv1D(2, 9, name="conv")(x)
    keras.Model(inputs, keras.layers.GlobalAveragePooling1D()(x)).save(root / "any_length.keras")
    return root


@pytest.fixture(scope="module")
def reference(models, tmp_path_factory, capsys_module):
    """The atlas of the sound model, uninterrupted on one device, in this process."""
    out = tmp_path_factory.mktemp("atlas") / "reference"
    status, printed, err = run_cli(
        ["atlas", models / "sound.keras", *ATLAS, "--out", out], capsys_module
    )
    assert status == 0, err
    return out, printed


@pytest.fixture(scope="module")
def capsys_module():
    """A stand-in for capsys that a module-scoped fixture can use: the output is not captured."""

    class Passthrough:
        def readouterr(self):
            return "", ""

    return Passthrough()


def records(out):
    """{file: its record} of every unit of the atlas in ``out``, and the bytes of every sound."""
    found = {}
    for folder, _, names in os.walk(out):
        for name in names:
            path = os.path.join(folder, name)
            key = os.path.relpath(path, out)
            if name.endswith(".json") and name != "atlas.json":
                found[key] = json.loads(open(path, encoding="utf-8").read())
            elif name.endswith(".wav"):
                found[key] = open(path, "rb").read()
    return found


def start(args, cwd):
    return subprocess.Popen(
        [sys.executable, "-m", "tfam.cli", *map(str, args)],
        cwd=cwd,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "tfam.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
    )


def test_every_channel_and_class_is_dreamed_once(reference):
    out, _ = reference
    found = records(out)
    expected = [("conv1", i) for i in range(3)] + [("conv2", i) for i in range(2)]
    for section, index in expected:
        record = found[f"{section}/{index:04d}.json"]
        assert (record["section"], record["index"]) == (section, index)
        assert f"{section}/{index:04d}.wav" in found
        assert os.path.getsize(out / record["picture"]) > 1000
        assert [c["name"] for c in record["top_classes"]] and all(
            c["name"] in CLASSES for c in record["top_classes"]
        )
        assert record["objective"] > record["start_objective"]  # the dream raised its channel
    assert len([k for k in found if k.endswith(".json")]) == len(expected)
    settings = json.loads((out / "atlas.json").read_text())["settings"]
    assert settings["sections"] == [["conv1", 3], ["conv2", 2]]


def test_the_channels_asked_for_and_a_rerun_skips_what_exists(models, tmp_path, capsys):
    def atlas(steps, *extra):
        args = ["atlas", models / "sound.keras", "--layers", "conv2", "--channels", "1"]
        args += ["--per-channel", "2", "--steps", steps, "--jit-compile", "off", "--out", tmp_path]
        return run_cli(args + list(extra), capsys)

    status, printed, err = atlas(3)
    assert status == 0, err
    made = sorted(k for k in records(tmp_path) if k.endswith(".json"))
    assert made == [
        "classes/0000-1.json",
        "classes/0000.json",
        "conv2/0000-1.json",
        "conv2/0000.json",
    ]
    status, printed, err = atlas(3, "--resume")
    assert status == 0 and "dreamed 0 of 4 (4 done before)" in printed, printed + err
    # other settings into the same folder: refused in one line, nothing touched
    status, printed, err = atlas(4)
    assert status == 2 and "other settings (steps 3 -> 4)" in err and "--overwrite" in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert sorted(k for k in records(tmp_path) if k.endswith(".json")) == made
    status, printed, err = atlas(4, "--overwrite")
    assert status == 0 and "dreamed 4 of 4" in printed, err


def test_batches_and_their_size_depend_on_neither_devices_nor_places(models):
    from tfam.atlas import memory, plan
    from tfam.models.loading import load_model

    model = load_model(str(models / "sound.keras"))
    sections = plan.sections(model)
    units = plan.units(sections, per_channel=2)
    assert len(units) == 2 * (3 + 2 + 5)
    # as even as can be, whatever the devices: 20 units at most 8 a time are 3 batches of 7, 7, 6
    assert [len(b) for b in plan.batches(units, 8)] == [7, 7, 6]
    assert len(plan.padded(plan.batches(units, 8)[-1], 7)) == 7
    # a unit starts from a draw of its own (seed, layer, channel, sample), not of its place
    assert len({str(u.start_seed(5)) for u in units}) == len(units)
    assert units[3].start_seed(5) == [5, units[3].start_seed(5)[1], 1, 1]
    per_row = memory.row_bytes(model, (512,), (512,))
    assert per_row > 4 * (3 * 256 + 2 * 128)  # the activations of the two conv layers at least
    assert memory.batch_size(per_row, available=10 * per_row) == 2  # a quarter of 10 rows
    assert memory.batch_size(per_row, available=per_row) == 1
    assert memory.batch_size(per_row, available=10**6 * per_row) == memory.MAX_BATCH


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--layers", "conv9"], "unknown layer 'conv9'"),
        (["--per-channel", "0"], "--per-channel must be at least 1"),
        (["--channels", "0"], "--channels must be at least 1"),
        (["--max-batch", "0"], "--max-batch must be at least 1"),
        (["--resume"], "nothing to resume"),
    ],
)
def test_bad_input_is_one_line(models, tmp_path, capsys, extra, words):
    args = ["atlas", models / "sound.keras", "--steps", "2", "--out", tmp_path / "out", *extra]
    status, _, err = run_cli(args, capsys)
    assert status == 2 and words in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 or "softmax" in err.splitlines()[0], err


def test_models_it_cannot_dream_are_one_line(models, tmp_path, capsys):
    status, _, err = run_cli(["atlas", models / "missing.keras", "--out", tmp_path], capsys)
    assert status == 2 and "missing.keras" in err and "Traceback" not in err, err
    status, _, err = run_cli(["atlas", models / "any_length.keras", "--out", tmp_path], capsys)
    assert status == 2 and "--seconds" in err and "Traceback" not in err, err


def test_an_image_model_and_a_frozen_graph(models, tmp_path, capsys):
    from tfam.models.loading import load_model
    from tfam.report.atlas_page import png_size
    from tfam.train.freeze import freeze

    args = ["atlas", models / "image.keras", "--steps", "3", "--channels", "1"]
    status, _, err = run_cli(args + ["--jit-compile", "off", "--out", tmp_path / "image"], capsys)
    assert status == 0, err
    record = records(tmp_path / "image")["conv/0000.json"]
    assert png_size(tmp_path / "image" / record["picture"]) == [10, 10] and "sound" not in record
    graph = str(tmp_path / "sound.pb")
    freeze(load_model(str(models / "sound.keras")), graph)
    args = ["atlas", graph, "--steps", "2", "--channels", "1", "--sample-rate", "8000"]
    status, _, err = run_cli(args + ["--jit-compile", "off", "--out", tmp_path / "graph"], capsys)
    assert status == 0, err
    settings = json.loads((tmp_path / "graph" / "atlas.json").read_text())["settings"]
    # every convolution of the graph, after its bias and activation, and the classes
    layers = [layer for layer, _ in settings["sections"]]  # ('functional_1/conv1_1/Relu', ...)
    assert "/conv1" in layers[0] and "/conv2" in layers[1] and layers[2] == "<output>", layers
    assert all(layer.endswith("/Relu") for layer in layers[:2]), layers
    assert len(records(tmp_path / "graph")) == 6  # a record and a sound for each


def test_an_interrupted_atlas_resumes_to_the_same_records(models, reference, tmp_path, capsys):
    out = tmp_path / "atlas"
    process = start(["atlas", models / "sound.keras", *ATLAS, "--out", out], tmp_path)
    deadline = time.monotonic() + START_WITHIN
    while not list(out.glob("*/*.json")):  # the first batch is written: a real signal now
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "no batch was written in time"
        time.sleep(0.05)
    sent = time.monotonic()
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=30)
    finally:
        process.kill()
    seconds, err = time.monotonic() - sent, process.stderr.read()
    assert process.returncode == INTERRUPTED and seconds < STOP_WITHIN, (seconds, err)
    assert err.strip().splitlines()[-1] == "tfam: interrupted", err
    assert not list(out.rglob(".tmp-*")), "a file was left half-written"
    before = len(list(out.glob("*/*.json")))
    status, printed, err = run_cli(["atlas", models / "sound.keras", *ATLAS, "--out", out], capsys)
    assert status == 0, err
    assert 0 < before < 5 and f"({before} done before)" in printed, (before, printed)
    assert records(out) == records(reference[0])


def test_two_devices_give_the_one_device_atlas(models, reference, tmp_path):
    out = tmp_path / "atlas"
    args = ["atlas", models / "sound.keras", *ATLAS, "--out", out]
    # logical CPU devices are made before TensorFlow starts: a process of its own
    done = finish(args + ["--strategy", "mirrored", "--cpu-devices", "2"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "on 2 device(s)" in done.stdout, done.stdout
    assert records(out) == records(reference[0])


def test_the_page_loads_every_dream_and_searches_and_sorts(reference, tmp_path):
    from browser import load_page
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    out, _ = reference
    shown = (
        "return [...document.querySelectorAll('.unit')].filter(c => c.offsetParent !== null)"
        ".map(c => [c.dataset.layer, +c.dataset.channel, +c.dataset.objective, "
        "JSON.parse(c.dataset.classes)])"
    )

    def use(driver):
        everything = driver.execute_script(shown)
        driver.find_element(By.ID, "search").send_keys("class:siren")
        searched = driver.execute_script(shown)
        Select(driver.find_element(By.ID, "sort")).select_by_value("objective")
        sorted_ = driver.execute_script(shown)
        driver.find_element(By.ID, "search").clear()
        driver.find_element(By.ID, "search").send_keys("layer:conv2")
        by_layer = driver.execute_script(shown)
        return everything, searched, sorted_, by_layer

    state = load_page(out, "index.html", tmp_path / "atlas.png", then=use)
    assert len(state["images"]) == 5 and all(i["ok"] for i in state["images"]), state["images"]
    assert len(state["audios"]) == 5 and all(a["ok"] for a in state["audios"]), state["audios"]
    assert all(abs(a["duration"] - 512 / 8000) < 1e-3 for a in state["audios"])
    everything, searched, sorted_, by_layer = state["then"]
    assert [(layer, channel) for layer, channel, *_ in everything] == [
        ("conv1", 0),
        ("conv1", 1),
        ("conv1", 2),
        ("conv2", 0),
        ("conv2", 1),
    ]
    # the cards whose dreams raise siren among their top 3 of 5 classes, and only those
    wanted = [card for card in everything if "siren" in card[3]]
    assert sorted(map(str, searched)) == sorted(map(str, wanted)) and 0 < len(searched) < 5
    objectives = [objective for _, _, objective, _ in sorted_]
    assert objectives == sorted(objectives, reverse=True) and len(sorted_) == len(searched)
    assert sorted((layer, channel) for layer, channel, *_ in by_layer) == [
        ("conv2", 0),
        ("conv2", 1),
    ]
