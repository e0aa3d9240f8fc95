"""Each notebook's profiles (``smoke`` / ``cpu`` / ``paper``): the values its ``None`` parameters
take. ``smoke`` runs every code path in seconds (``make test``); ``cpu`` is what ``make run``
computes on a 2-core machine and the README quotes; ``paper`` is the paper's scale, for a GPU."""

PRESETS = {
    "01_method": {
        "smoke": dict(K=3, num_theta0=200, steps=300),
        "cpu": dict(K=4, num_theta0=2000, steps=800),
        "paper": dict(K=5, num_theta0=20000, steps=2000)},
    "02_bad_minima": {
        "smoke": dict(seeds=64, widths=(4,), kink_steps=300, sweep_strengths=(0.01,), ts_ks=(6,), ts_anchor_ks=(6,), ts_runs=100,
                      ts_cap=4000, workers=1),
        "cpu": dict(seeds=500, widths=(4, 8), kink_steps=2000, sweep_strengths=(0.001, 0.01, 0.1),
                    ts_ks=(6, 8, 10, 12), ts_anchor_ks=(8, 10), ts_runs=1000, ts_cap=100000, workers="auto"),
        "paper": dict(seeds=2000, widths=(3, 4, 8), kink_steps=4000, sweep_strengths=(0.001, 0.01, 0.1, 1.0),
                      ts_ks=tuple(range(6, 21)), ts_anchor_ks=tuple(range(6, 21)), ts_runs=2000,
                      ts_cap=100000, workers="auto")},
    "03_lenet": {
        "smoke": dict(precision="auto", eval_every=1, seeds=2, secondary_seeds=2, tuning_seeds=1, K=2, pilot_epochs=(1, 2), train_size=512,
                      val_size=256, test_size=512, sweep_strengths=(0.01, 1.0), sweep_kernels=("gaussian",),
                      sweep_bandwidths=("travel", 1.0), saturation=True),
        "cpu": dict(precision="auto", eval_every=4, seeds=10, secondary_seeds=5, tuning_seeds=3, K=3, pilot_epochs=(2, 4, 8, 16, 32), train_size=5000,
                    val_size=5000, test_size=None, sweep_strengths=(0.001, 0.01, 0.1, 1.0),
                    sweep_kernels=("gaussian",), sweep_bandwidths=("travel",), saturation=False),
        "paper": dict(precision="auto", eval_every=1, seeds=10, secondary_seeds=5, tuning_seeds=3, K=3, pilot_epochs=(5, 10, 20, 40, 80),
                      train_size=None, val_size=5000, test_size=None, sweep_strengths=(0.001, 0.01, 0.1, 1.0),
                      sweep_kernels=("gaussian", "inverse"), sweep_bandwidths=("travel", 1.0), saturation=True)},
    "04_cifar": {
        "smoke": dict(precision="auto", eval_every=1, models=("alexnet", "resnet20"), seeds=2, alexnet_seeds=2, tuning_seeds=1, K=2,
                      pilot_epochs=(1, 2), train_size=256, val_size=128, test_size=256, alexnet_width=0.25,
                      pilot_lrs=(0.01, 0.05), pilot_batch_sizes=(128,), snapshot=True, partial=True),
        # bf16 for every method: 1.8× faster here, which is what lets the pilot of E fit (the notebook says why)
        "cpu": dict(precision="bf16", eval_every=1, models=("alexnet", "resnet20"), seeds=5, alexnet_seeds=5, tuning_seeds=2, K=3,
                    pilot_epochs=(3, 6, 12), train_size=1000, val_size=1000, test_size=2000, alexnet_width=0.5,
                    pilot_lrs=(0.01, 0.1), pilot_batch_sizes=(32,), snapshot=True, partial=False),
        "paper": dict(precision="auto", eval_every=1, models=("alexnet", "resnet20", "resnet56", "resnet18"), seeds=5, alexnet_seeds=5,
                      tuning_seeds=2, K=3, pilot_epochs=(15, 30, 60, 120), train_size=None, val_size=5000, test_size=None,
                      alexnet_width=1.0, pilot_lrs=(0.01, 0.03, 0.1), pilot_batch_sizes=(128,), snapshot=True,
                      partial=True)},
}
