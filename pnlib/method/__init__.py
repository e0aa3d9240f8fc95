"""The method's mathematics, on tensors only: ``persistence`` (the penalty λ(t)·P_k, its kernels,
schedules and bandwidths), ``geometry`` (a parameter vector split into persistent groups, shared by
the penalty, the controls and the batched engine), ``kicks`` (the random-kick and random-anchor
controls' points) and ``repulsion`` (the repulsive ensemble's kernel). Imports torch and
``pnlib.base`` only: no tables, figures or files (an import-linter contract)."""
