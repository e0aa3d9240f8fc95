"""From results to verdicts and figures: ``stats`` (intervals, paired tests, Holm, TOST),
``claims`` (declared families, preconditions, labels), ``analysis`` (distances, interpolation,
saturation) and ``plots``. Imports ``pnlib.train``, ``pnlib.method`` and ``pnlib.base``; it never
trains (it reads what the experiments wrote)."""
