"""The synthetic bad-minimum experiments of notebooks 01 and 02, every seed at once: ``engine``
(the batched persistent descent over a (K, runs, parameters) tensor, and every method on it),
``problems`` (the kink network, the teacher–student problem, the 2-D surface) and ``studies`` (the
notebooks' runs, tables and declared families). Imports ``pnlib.report``, ``pnlib.method`` and
``pnlib.base``; never ``pnlib.train`` (an import-linter contract) nor ``pnlib.experiments``."""
