"""Cache keys of every method on a tiny config, made by the code at eeaae7e (before the redesign)."""
import json, sys, tempfile
from dataclasses import replace
from pathlib import Path
import pandas as pd
import torch
torch.set_num_threads(1)
from pnlib.data import load_dataset
from pnlib.generated import write_fake_cifar10
from pnlib.persistence import PenaltyConfig
from pnlib.experiments.experiment import Experiment
from pnlib.train.runs import RunConfig
from pnlib.training import TrainConfig

tmp = Path(tempfile.mkdtemp())
write_fake_cifar10(tmp / "d", n_per_batch=40, n_test=40, seed=0)
data = load_dataset("cifar10", tmp / "d", val_size=40, train_size=120)
exp = Experiment(tmp / "r", data, progress=False, threads=1)
cfg = RunConfig(model="lenet5", K=2, train=TrainConfig(num_epochs=2, batch_size=32, lr=0.05),
                penalty=PenaltyConfig(strength=0.1, schedule="cosine"))
rep = replace(cfg, penalty=replace(cfg.penalty, bandwidth=1.0))
rows = []
for method, c in [("persistent", cfg), ("persistent", replace(cfg, penalty=None)), ("restarts", replace(cfg, penalty=None)),
                  ("longer", replace(cfg, penalty=None)), ("snapshot", replace(cfg, penalty=None)), ("kick", cfg), ("repulsive", rep)]:
    rows.append(exp.run(method, c, 0).assign(run_method=method))
summary = pd.concat(rows, ignore_index=True)
runs = sorted(p.name for p in (tmp / "r").iterdir() if (p / "trajectories.csv").exists())
keys = {name: pd.read_csv(tmp / "r" / name / "trajectories.csv", dtype={"key": str}).key.tolist() for name in runs}
theta0 = sorted(p.name for p in (tmp / "r" / "theta0").iterdir())
json.dump({"runs": keys, "theta0": theta0, "summary": json.loads(summary.to_json(orient="records", double_precision=15))},
          open(sys.argv[1], "w"), indent=1)
print(len(runs), "runs")
