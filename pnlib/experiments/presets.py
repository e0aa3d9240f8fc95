"""Each notebook's profiles (``smoke`` / ``cpu`` / ``paper``): the values its ``None`` parameters
take. ``smoke`` runs every code path in seconds (``make test``); ``cpu`` is what ``make run``
computes on a 2-core machine and the README quotes; ``paper`` is the paper's scale, for a GPU.

One row per parameter, its value in each profile side by side: ``(smoke, cpu, paper)``."""

PROFILE_ORDER = ("smoke", "cpu", "paper")


def by_profile(**rows: tuple) -> dict[str, dict]:
    """``{profile: {parameter: value}}`` from rows ``parameter=(smoke, cpu, paper)``."""
    bad = [name for name, values in rows.items() if not isinstance(values, tuple) or len(values) != 3]
    if bad:
        raise ValueError(f"preset rows {bad} must be (smoke, cpu, paper) tuples")
    return {p: {name: values[i] for name, values in rows.items()} for i, p in enumerate(PROFILE_ORDER)}


PRESETS = {
    "01_method": by_profile(K=(3, 4, 5), num_theta0=(200, 2000, 20000), steps=(300, 800, 2000)),
    "02_bad_minima": by_profile(
        seeds=(24, 500, 2000),
        widths=((4,), (4, 8), (3, 4, 8)),
        kink_lengths=((100, 200), (2000, 4000), (2000, 4000, 8000, 16000)),
        pilot_doublings=(2, 4, 5),
        sweep_strengths=((0.01,), (0.001, 0.01, 0.1), (0.001, 0.01, 0.1, 1.0)),
        ts_ks=((6,), (6, 8, 10, 12), tuple(range(6, 21))),
        ts_anchor_ks=((6,), (8, 10), tuple(range(6, 21))),
        ts_runs=(32, 1000, 2000),
        ts_cap=(1000, 100000, 100000),
        workers=(1, "auto", "auto"),
    ),
    "03_lenet": by_profile(
        workers=(1, "auto", "auto"),
        precision=("auto", "auto", "auto"),
        eval_every=(1, 4, 1),
        seeds=(2, 10, 10),
        max_seeds=(3, 22, 40),
        secondary_seeds=(2, 5, 5),
        tuning_seeds=(2, 3, 3),
        K=(2, 3, 3),
        pilot_epochs=((1, 2), (2, 4, 8, 16, 32), (5, 10, 20, 40, 80)),
        train_size=(256, 5000, None),
        val_size=(128, 5000, 5000),
        test_size=(256, None, None),
        sweep_strengths=((0.01, 1.0), (0.001, 0.01, 0.1, 1.0), (0.001, 0.01, 0.1, 1.0)),
        sweep_kernels=(("gaussian",), ("gaussian",), ("gaussian", "inverse")),
        sweep_bandwidths=(("travel", 1.0), ("travel",), ("travel", 1.0)),
        saturation=(True, False, True),
    ),
    "04_cifar": by_profile(
        # cpu: bf16 for every method, 1.8× faster on the AMX machine that chose it (#29 revisits this)
        precision=("auto", "bf16", "auto"),
        workers=(1, "auto", "auto"),
        eval_every=(1, 1, 1),
        models=(
            ("alexnet", "resnet20"),
            ("alexnet", "resnet20"),
            ("alexnet", "resnet20", "resnet56", "resnet18"),
        ),
        seeds=(2, 5, 5),
        alexnet_seeds=(2, 5, 5),
        tuning_seeds=(1, 2, 2),
        K=(2, 3, 3),
        pilot_epochs=((1, 2), (3, 6, 12), (15, 30, 60, 120)),
        train_size=(128, 1000, None),
        val_size=(64, 1000, 5000),
        test_size=(128, 2000, None),
        alexnet_width=(0.25, 0.5, 1.0),
        pilot_lrs=((0.05,), (0.01, 0.1), (0.01, 0.03, 0.1)),
        pilot_batch_sizes=((128,), (32,), (128,)),
        snapshot=(True, True, True),
        partial=(True, False, True),
    ),
}
