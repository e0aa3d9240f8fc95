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
        seeds=(2, 9, 10),
        max_seeds=(3, 16, 40),
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
    "04_alexnet_resnet": by_profile(
        precision=("auto", "auto", "auto"),
        workers=(1, "auto", "auto"),
        eval_every=(1, 2, 1),
        models=(("alexnet", "resnet8"), ("alexnet", "resnet8"), ("alexnet", "resnet20", "resnet56")),
        seeds=(2, 8, 10),
        max_seeds=(2, 12, 20),
        tuning_seeds=(2, 3, 3),
        K=(2, 2, 3),
        pilot_epochs=((2, 4), (4, 8, 16, 32), (15, 30, 60, 120)),
        pilot_lrs=((0.02, 0.1), (0.005, 0.01, 0.02, 0.05, 0.1, 0.2), (0.005, 0.01, 0.02, 0.05, 0.1, 0.2)),
        batch_size=(32, 64, 128),
        train_size=(256, 4000, None),
        val_size=(128, 5000, 5000),
        test_size=(256, None, None),
        alexnet_width=(0.25, 0.25, 1.0),
        alexnet_hidden=(128, 256, 1024),
        resnet_width=(0.5, 0.5, 1.0),
        snapshot=(True, False, True),
        partial=(True, False, True),
        budget_minutes=(0, 80, 0),  # minutes the design may take here; 0: no budget
    ),
}
