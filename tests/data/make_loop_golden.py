"""Golden values of the training loop, computed with the code at eeaae7e (before the one-loop redesign)."""
import hashlib, json, sys, tempfile
import torch
torch.set_num_threads(1)
from pnlib.data import load_dataset
from pnlib.generated import write_fake_cifar10
from pnlib.models import build_model
from pnlib.persistence import PenaltyConfig, PersistentPenalty
from pnlib.training import TrainConfig, fit
from pnlib import baselines

def h(state):
    m = hashlib.sha1()
    for k in sorted(state):
        m.update(k.encode()); m.update(state[k].detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return m.hexdigest()

def hist(df):
    return {c: df[c].tolist() for c in df.columns if c != "seconds"}

tmp = tempfile.mkdtemp()
write_fake_cifar10(tmp, n_per_batch=60, n_test=50, seed=0)
data = load_dataset("cifar10", tmp, val_size=60, train_size=200)
def model(seed=0):
    torch.manual_seed(seed)
    return build_model("lenet5", num_classes=10, in_channels=3, image_size=32)
out = {}
cfg = TrainConfig(num_epochs=2, batch_size=32, lr=0.05)
m = model(); hd = fit(m, data, cfg, seed=3, progress=False); out["plain"] = {"weights": h(m.state_dict()), "history": hist(hd)}
m = model(); hd = fit(m, data, TrainConfig(num_epochs=2, batch_size=32, lr=0.05, augment=True), seed=4, progress=False)
out["augment"] = {"weights": h(m.state_dict()), "history": hist(hd)}
m = model(); theta0 = {k: v.clone() for k, v in m.state_dict().items()}
anchor = model(1).state_dict()
pen = PersistentPenalty(m, PenaltyConfig(strength=0.5, schedule="cosine"), theta0=theta0); pen.add_anchor(anchor)
hd = fit(m, data, cfg, penalty=pen, seed=5, progress=False); out["penalty"] = {"weights": h(m.state_dict()), "history": hist(hd)}
ms = [model() for _ in range(3)]
hs = baselines.fit_repulsive(ms, data, cfg, PenaltyConfig(strength=0.01, bandwidth=1.0), [7, 8, 9], theta0, progress=False)
out["repulsive"] = {"weights": [h(x.state_dict()) for x in ms], "history": [hist(x) for x in hs]}
json.dump(out, open(sys.argv[1], "w"), indent=1)
print("ok")
