"""The README's code runs as written."""

import re
from pathlib import Path

import torch

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def _block_after(heading: str) -> str:
    section = README[README.index(heading) :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_own_training_loop_snippet_runs_and_persists():
    torch.manual_seed(0)
    ns = {}
    exec(compile(_block_after("### Use it in your own training loop"), "README.md", "exec"), ns)
    penalty, theta0 = ns["penalty"], ns["theta0"]
    assert penalty.num_anchors == ns["K"] == 3
    a = penalty.anchors["0.weight"]
    assert (a[1] - a[0]).norm() > 0 and (a[2] - a[1]).norm() > 0  # each trajectory ended elsewhere
    assert torch.equal(penalty.theta0["0.weight"], theta0["0.weight"])  # distances are measured from θ₀
