"""The layout's rules (issue 13): names that mean one thing, settings checked where they are read."""

import ast
import json
import os

import pytest

from tfam.train.classifier import TrainConfig
from tfam.train.run_dir import check_run_dir

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
    check_run_dir(
        str(tmp_path),
        {"architecture": "seed002", "width": 0.5},
        resume=True,
        overwrite=False,
        old_names={"architecture": {"seed": "seed002"}},
    )
    with pytest.raises(
        ValueError, match="architecture seed -> timepool|architecture seed002 -> timepool"
    ):
        check_run_dir(
            str(tmp_path),
            {"architecture": "timepool", "width": 0.5},
            resume=True,
            overwrite=False,
            old_names={"architecture": {"seed": "seed002"}},
        )


def test_both_flag_spellings_reach_the_same_flag():
    from tfam.cli.common import spell_flags
    from tfam.cli.main import build_parser

    args = build_parser().parse_args(
        ["dream", "m.keras", "--learning_rate", "0.5", "--max-batch=3"]
    )
    assert args.learning_rate == 0.5 and args.max_batch == 3
    assert spell_flags(["--learning-rate=1", "a-b_c", "--", "--x-y"], "_") == [
        "--learning_rate=1",
        "a-b_c",
        "--",
        "--x-y",
    ]


def test_train_py_takes_dashed_flags(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "train.py",
            "10",
            "9",
            str(tmp_path / "none.npz"),
            "--learning-rate",
            "0.1",
            "--drop-window",
            "5",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 2 and "no packed" in result.stderr.lower(), result.stderr


# ----------------------------------------------------------------------------- the layout

PACKAGE = os.path.join(ROOT, "tfam")
# each subpackage's place in the layers (ARCHITECTURE.md): a module may import modules of its own
# rank or below, never above; the core is rank 0
RANKS = {
    "": 0,
    "audio": 1,
    "data": 2,
    "models": 2,
    "report": 3,
    "train": 4,
    "atlas": 5,
    "cli": 6,
    "demos": 7,
}


def _modules():
    """{module name: file} for every module of the tfam package."""
    found = {}
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(folder, name), ROOT)[:-3].replace(os.sep, ".")
                found[rel[: -len(".__init__")] if rel.endswith(".__init__") else rel] = (
                    os.path.join(folder, name)
                )
    return found


def _imports(path, modules):
    """The tfam modules a file imports, at its top or inside functions."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {n for n in names if n in modules and n != "tfam"}
    return found


def _rank(module):
    parts = module.split(".")
    return RANKS[parts[1]] if len(parts) > 2 or parts[1] in RANKS else RANKS[""]


def test_no_import_points_up_and_none_goes_in_a_circle():
    modules = _modules()
    graph = {m: _imports(path, modules) - {m} for m, path in modules.items()}
    upward = [
        (m, i)
        for m, deps in graph.items()
        for i in deps
        if _rank(i) > _rank(m) and not i.startswith(m + ".")
    ]
    assert not upward, upward
    state = {}

    def visit(m, trail):
        if state.get(m) == "done":
            return
        assert state.get(m) != "open", " -> ".join(trail + [m])
        state[m] = "open"
        for dep in sorted(graph[m]):
            if not dep.startswith(m + "."):  # a package re-exporting its own module is no circle
                visit(dep, trail + [m])
        state[m] = "done"

    for m in sorted(graph):
        visit(m, [])


def test_the_top_level_holds_the_core_only():
    top = [n for n in os.listdir(PACKAGE) if n.endswith(".py") and n != "__init__.py"]
    assert len(top) <= 15, sorted(top)


def test_every_public_module_is_reachable_from_import_tfam():
    import tfam

    for name in tfam.__all__:
        assert getattr(tfam, name) is not None, name
    for package in ("audio", "data", "models", "report", "train", "atlas", "cli", "demos"):
        assert getattr(tfam, package).__name__ == f"tfam.{package}"
