"""The ``runs`` and ``theta0`` of keys_golden.json, remade when the evaluation settings joined the
trajectory key (``eval_batch_size`` 1000 → 256 and ``eval_every``, #19's time budgets). The
``summary`` stays what the code at eeaae7e wrote: the scores did not change. Run with the code of
this change: ``python tests/data/make_keys_golden_eval.py tests/data/keys_golden.json``."""
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import pandas as pd
import torch

from pnlib.data import load_dataset
from pnlib.experiment import Experiment
from pnlib.generated import write_fake_cifar10
from pnlib.persistence import PenaltyConfig
from pnlib.runs import RunConfig
from pnlib.training import TrainConfig

torch.set_num_threads(1)
tmp = Path(tempfile.mkdtemp())
write_fake_cifar10(tmp / "d", n_per_batch=40, n_test=40, seed=0)
data = load_dataset("cifar10", tmp / "d", val_size=40, train_size=120)
exp = Experiment(tmp / "r", data, progress=False, threads=1)
cfg = RunConfig(model="lenet5", K=2, train=TrainConfig(num_epochs=2, batch_size=32, lr=0.05),
                penalty=PenaltyConfig(strength=0.1, schedule="cosine"))
plain, rep = replace(cfg, penalty=None), replace(cfg, penalty=replace(cfg.penalty, bandwidth=1.0))
for method, c in [("persistent", cfg), ("persistent", plain), ("restarts", plain), ("longer", plain),
                  ("snapshot", plain), ("kick", cfg), ("repulsive_shared", rep)]:
    exp.run(method, c, 0)
runs = sorted(p.name for p in (tmp / "r").iterdir() if (p / "trajectories.csv").exists())
golden = json.loads(Path(sys.argv[1]).read_text())
golden["runs"] = {name.replace("repulsive_shared", "repulsive"): pd.read_csv(
    tmp / "r" / name / "trajectories.csv", dtype={"key": str}).key.tolist() for name in runs}
golden["theta0"] = sorted(p.name for p in (tmp / "r" / "theta0").iterdir())
Path(sys.argv[1]).write_text(json.dumps(golden, indent=1))
print(len(runs), "runs")
