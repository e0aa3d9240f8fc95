import pytest

from pnlib.base import checks
from pnlib.method.persistence import PenaltyConfig
from pnlib.train.loop import TrainConfig
from pnlib.train.runs import RunConfig


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: TrainConfig(num_epochs=True), r"num_epochs must be an integer ≥ 1; got True"),
        (lambda: TrainConfig(lr=True), r"lr must be a finite number > 0; got True"),
        (lambda: TrainConfig(augment=1), r"augment must be True or False; got 1"),
        (lambda: PenaltyConfig(strength=False), r"strength \(λ\) must be a finite number ≥ 0; got False"),
        (
            lambda: PenaltyConfig(bandwidth=True),
            r"bandwidth must be 'travel' or a finite number > 0; got True",
        ),
        (lambda: RunConfig(K=True), r"K \(trajectories per run\) must be an integer ≥ 1; got True"),
    ],
)
def test_booleans_are_refused_where_numbers_are_expected(build, match):
    with pytest.raises(ValueError, match=match):
        build()


@pytest.mark.parametrize(
    "value, item, expected",
    [
        (["resnet56", "resnet18"], str, ("resnet56", "resnet18")),  # -y "models: [resnet56, resnet18]"
        ("resnet56,resnet18", str, ("resnet56", "resnet18")),  # -p models resnet56,resnet18
        ('["resnet56","resnet18"]', str, ("resnet56", "resnet18")),  # -p models '["resnet56","resnet18"]'
        ("4, 8", int, (4, 8)),
        ((0.001, 0.01), float, (0.001, 0.01)),
    ],
)
def test_list_parameters_accept_lists_and_comma_separated_strings(value, item, expected):
    assert checks.as_tuple("models", value, item) == expected


@pytest.mark.parametrize("value", [3, None, [], "", ["a", None], [True], [4, False]])
def test_bad_list_parameters_show_both_forms(value):
    with pytest.raises(ValueError, match=r"-p widths a,b or -y \"widths: \[a, b\]\""):
        checks.as_tuple("widths", value, int)
