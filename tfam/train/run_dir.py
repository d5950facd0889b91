"""The folder of a training run (train.py, train_gan.py): what may start, resume or overwrite it."""

import json
import os


def check_run_dir(model_dir, settings, resume, overwrite, defaults=None, old_names=None):
    """Refuse what would lose or mix runs: resuming where there is no run, resuming with other
    ``settings`` (those that shape the model or the data; a key an older config.json lacks counts as
    its value in ``defaults``; ``old_names`` maps a key to {old value: its new name}), or starting
    over an earlier run without ``overwrite``. With ``overwrite`` the old checkpoints are deleted,
    so the new run's numbering starts clean."""
    config_path = os.path.join(model_dir, "config.json")
    if not os.path.exists(config_path):
        if resume:
            raise FileNotFoundError(f"nothing to resume: no run in {model_dir}")
        return
    if resume:
        with open(config_path, encoding="utf-8") as f:
            saved = json.load(f)
        mine = json.loads(json.dumps(settings))  # tuples as lists, as config.json holds them
        defaults = json.loads(json.dumps(defaults or {}))
        saved = {k: saved.get(k, defaults.get(k)) for k in mine}
        for key, renamed in (old_names or {}).items():
            if key in saved:
                saved[key] = renamed.get(saved[key], saved[key])
        different = {k: (saved[k], v) for k, v in mine.items() if saved[k] != v}
        if different:
            details = ", ".join(f"{k} {a} -> {b}" for k, (a, b) in different.items())
            raise ValueError(f"cannot resume {model_dir} with other settings ({details})")
    elif overwrite:
        for name in os.listdir(model_dir):
            if name.startswith(("ckpt-", "checkpoint")):
                os.remove(os.path.join(model_dir, name))
    else:
        raise ValueError(
            f"{model_dir} holds an earlier run; pass --resume to continue it or "
            "--overwrite to start again (or choose another --logdir)"
        )
