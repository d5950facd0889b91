"""The layout's rules (issue 13): names that mean one thing, settings checked where they are read."""
import json
import os

import pytest

from tfam.run_dir import check_run_dir
from tfam.training import TrainConfig

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_seed_means_the_random_seed_and_old_names_still_work():
    config = TrainConfig(architecture="seed", schedule="seed", seed=3)
    assert (config.architecture, config.schedule, config.seed) == ("seed002", "accuracy_drop", 3)


@pytest.mark.parametrize("key, value", [("schedule", "sede"), ("strategy", "mirored")])
def test_an_unknown_setting_is_an_error(key, value):
    with pytest.raises(ValueError, match=f"unknown {key} '{value}'"):
        TrainConfig(**{key: value})


def test_a_run_saved_under_the_old_name_resumes(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"architecture": "seed", "width": 0.5}))
    check_run_dir(str(tmp_path), {"architecture": "seed002", "width": 0.5}, resume=True,
                  overwrite=False, old_names={"architecture": {"seed": "seed002"}})
    with pytest.raises(ValueError, match="architecture seed -> timepool|architecture seed002 -> timepool"):
        check_run_dir(str(tmp_path), {"architecture": "timepool", "width": 0.5}, resume=True,
                      overwrite=False, old_names={"architecture": {"seed": "seed002"}})


def test_both_flag_spellings_reach_the_same_flag():
    from tfam.cli import build_parser, spell_flags

    args = build_parser().parse_args(["dream", "m.keras", "--learning_rate", "0.5", "--max-batch=3"])
    assert args.learning_rate == 0.5 and args.max_batch == 3
    assert spell_flags(["--learning-rate=1", "a-b_c", "--", "--x-y"], "_") == \
        ["--learning_rate=1", "a-b_c", "--", "--x-y"]


def test_train_py_takes_dashed_flags(tmp_path):
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "train.py", "10", "9", str(tmp_path / "none.npz"),
                             "--learning-rate", "0.1", "--drop-window", "5"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2 and "no packed" in result.stderr.lower(), result.stderr
