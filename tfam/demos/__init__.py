"""What the Makefile's demos run: ``make demo`` (``urbansound``), ``make demo-mnist`` (``mnist``),
``make demo-emotion`` (``emotion``, with seed 000's study in ``prior_study``)."""
