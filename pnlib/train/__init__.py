"""Networks trained on images: ``formats`` and ``data`` (the datasets and their on-disk formats),
``generated`` (stand-ins in those formats), ``models``, ``inits``, ``precision`` (fp32 or bf16,
per device), ``loop`` (the one training loop, with its hooks and checkpoints) and ``runs`` (the
trajectory store: every trajectory under the hash of what determines it). Imports ``pnlib.method``
and ``pnlib.base``."""
