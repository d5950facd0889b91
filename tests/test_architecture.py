"""The layout's rules (issue 13): names that mean one thing, settings checked where they are read."""
import json

import pytest

from tfam.run_dir import check_run_dir
from tfam.training import TrainConfig


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
