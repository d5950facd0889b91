"""``python -m tfam.cli dream ...``: the tfam command without the console script."""

from tfam.cli.main import main

main()
