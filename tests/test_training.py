import math

import pytest
import torch

from pnlib.method.persistence import PenaltyConfig, PersistentPenalty
from pnlib.train.evaluation import evaluate
from pnlib.train.loop import DivergedError, TrainConfig, fit
from pnlib.train.models import build_model

FAST = TrainConfig(num_epochs=3, batch_size=50, lr=0.05, weight_decay=0.0)


def lenet(seed=0):
    torch.manual_seed(seed)
    return build_model("lenet5", num_classes=10, in_channels=3, image_size=32)


def test_fit_lowers_the_loss(tiny_data):
    model = lenet()
    before = evaluate(model, tiny_data.X_train, tiny_data.y_train)["loss"]
    hist = fit(model, tiny_data, TrainConfig(num_epochs=6, batch_size=50, lr=0.05), progress=False)
    after = evaluate(model, tiny_data.X_train, tiny_data.y_train)["loss"]
    assert after < before - 0.1
    assert list(hist.columns[:7]) == [
        "epoch",
        "train_loss",
        "train_acc",
        "val_loss",
        "val_acc",
        "lr",
        "seconds",
    ]
    assert hist["epoch"].tolist() == list(range(1, 7))


def test_history_records_penalty_and_anchor_distances(tiny_data):
    model = lenet()
    pen = PersistentPenalty(model, PenaltyConfig(strength=0.5, schedule="linear"))
    pen.add_anchor({k: v + 0.01 for k, v in model.state_dict().items()})
    pen.add_anchor({k: v - 0.01 for k, v in model.state_dict().items()})
    hist = fit(model, tiny_data, FAST, penalty=pen, progress=False)
    assert {"penalty", "strength", "dist_anchor_1", "dist_anchor_2"} <= set(hist.columns)
    assert hist["strength"].iloc[-1] == pytest.approx(0.0)  # linear schedule reaches 0
    assert (hist["dist_anchor_1"] > 0).all()


def test_non_finite_loss_names_epoch_and_step(tiny_data):
    model = lenet()
    with pytest.raises(DivergedError, match=r"epoch 1, step \d+") as err:
        fit(model, tiny_data, TrainConfig(num_epochs=2, batch_size=50, lr=1e6, momentum=0.9), progress=False)
    assert err.value.epoch == 1 and err.value.step >= 1
    assert "Lower the learning rate" in str(err.value)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_epochs": 0}, "num_epochs must be an integer ≥ 1"),
        ({"lr": -1.0}, "lr must be"),
        ({"optimizer": "lbfgs"}, "unknown optimizer 'lbfgs'; allowed: sgd, adam, adamw"),
        ({"lr_schedule": "poly"}, "unknown lr_schedule 'poly'; allowed: cosine, step, constant"),
    ],
)
def test_bad_train_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)


def test_lr_schedules():
    assert TrainConfig(lr=0.1).lr_at(0.5) == pytest.approx(0.05)
    assert TrainConfig(lr=0.1, lr_schedule="step").lr_at(0.8) == pytest.approx(0.001)
    assert TrainConfig(lr=0.1, lr_schedule="constant").lr_at(0.99) == 0.1
    assert math.isclose(TrainConfig(lr=0.1).lr_at(0.0), 0.1)


def test_eval_every_spaces_the_validation_scores_and_changes_no_weight(tiny_data):
    cfg = TrainConfig(num_epochs=5, batch_size=50, lr=0.05, weight_decay=0.0)
    every, sparse = lenet(), lenet()
    h1 = fit(every, tiny_data, cfg, seed=1, progress=False)
    h3 = fit(sparse, tiny_data, TrainConfig(**{**cfg.to_dict(), "eval_every": 3}), seed=1, progress=False)
    assert h3.val_acc.notna().tolist() == [False, False, True, False, True]  # epoch 3, and the last always
    scored = h3.val_acc.notna()
    assert h3[scored].val_acc.tolist() == h1[scored].val_acc.tolist()
    assert h3.train_loss.tolist() == h1.train_loss.tolist()
    assert all(torch.equal(a, b) for a, b in zip(every.state_dict().values(), sparse.state_dict().values()))
    with pytest.raises(ValueError, match="eval_every must be an integer ≥ 1; got 0"):
        TrainConfig(eval_every=0)
