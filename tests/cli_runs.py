"""Running the ``tfam`` command in the test process (no new interpreter, no TensorFlow import)."""

from tfam import cli


def run_cli(argv, capsys):
    """Run ``tfam`` in-process; returns (exit status, stdout, stderr)."""
    try:
        cli.main([str(a) for a in argv])
        status = 0
    except SystemExit as exit:
        status = exit.code
    out, err = capsys.readouterr()
    return status, out, err
