"""train.py run inside the test process: the same main(), flags and messages, without the 7-10 s a
new interpreter spends importing TensorFlow. The tests that need a process of their own (a signal,
logical CPU devices, exit codes before TensorFlow starts) still run train.py as a subprocess."""

import contextlib
import importlib.util
import io
import os
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_program = None


def _train_py():
    """train.py as a module, loaded once: its absl flags can be defined only once per process."""
    global _program
    if _program is None:
        spec = importlib.util.spec_from_file_location(
            "train_program_main", os.path.join(REPO, "train.py")
        )
        _program = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(_program)
    return _program


def run_train_py(args, cwd):
    """``python3 train.py ARGS`` in ``cwd``, in this process: a CompletedProcess with the exit status
    (0, or what SystemExit carried) and what was printed to stdout and stderr."""
    program = _train_py()
    flags = program.FLAGS
    out, err = io.StringIO(), io.StringIO()
    status, before = 0, os.getcwd()
    flags.unparse_flags()  # every run starts from the defaults, as a new process would
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                program.main(program.parse_absl_flags(["train.py", *map(str, args)]))
            except SystemExit as exit:
                status = (
                    exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
                )
    finally:
        os.chdir(before)
        flags.unparse_flags()
    return subprocess.CompletedProcess(
        ["train.py", *map(str, args)], status, out.getvalue(), err.getvalue()
    )
