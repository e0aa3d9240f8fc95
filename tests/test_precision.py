"""The precision setting: fp32, or bf16 autocast of the forward pass + channels_last (parameters,
optimizer state and the penalty stay fp32); ``auto`` picks bf16 where the device runs it natively."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from pnlib.experiments.configs import TrainsNetworks
from pnlib.experiments.experiment import Experiment
from pnlib.method.persistence import PenaltyConfig, PersistentPenalty
from pnlib.train import precision
from pnlib.train.precision import resolve_precision

CFG = TrainsNetworks(weight_decay=0.0, strength=1.0, precision="auto", K=2, eval_every=1)


def cell(model, cfg=CFG, num_epochs=2, **model_kwargs):
    return cfg.run_config(
        model, "default", device="cpu", num_epochs=num_epochs, lr=0.05, batch_size=50, **model_kwargs
    )


@pytest.fixture
def bf16_here(monkeypatch):
    monkeypatch.setattr(precision, "bf16_support", lambda device: (True, "pretended for the test"))


@pytest.mark.parametrize("bad", ["fp16", 1, True, None])
def test_a_bad_precision_names_the_allowed_values(bad):
    with pytest.raises(ValueError, match="unknown precision .*allowed: auto, fp32, bf16"):
        resolve_precision(bad, "cpu")


def test_auto_falls_back_to_fp32_where_bf16_is_not_native(monkeypatch):
    monkeypatch.setattr(precision, "bf16_support", lambda device: (False, "no AMX here"))
    assert resolve_precision("auto", "cpu") == ("fp32", "no AMX here; auto falls back to fp32")
    with pytest.raises(ValueError, match="'bf16' is not available on cpu: no AMX here. Use 'fp32' or 'auto'"):
        resolve_precision("bf16", "cpu")
    assert cell("mlp").train.precision == "fp32"


def test_auto_reads_the_cpu_flags_and_keeps_fp32_without_bf16_instructions(monkeypatch):
    # the detection itself, as on an Intel Xeon without AMX or an AMD EPYC without AVX-512 BF16
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx2", "avx512f", "fma"}))
    chosen, why = resolve_precision("auto", "cpu", "resnet20")
    assert chosen == "fp32" and "neither amx_bf16 nor avx512_bf16" in why and "falls back to fp32" in why
    monkeypatch.setattr(precision, "_cpu_flags", lambda: frozenset({"avx512f", "amx_bf16"}))
    assert precision.bf16_support(torch.device("cpu")) == (
        torch.backends.mkldnn.is_available(),
        "the CPU has amx_bf16 (oneDNN)"
        if torch.backends.mkldnn.is_available()
        else "this torch build has no oneDNN (mkldnn), which runs bf16 on the CPU",
    )


def test_no_profile_fixes_a_precision():
    # the CPU changes between this project's machines: bf16 is faster with AMX and slower without it
    from pnlib.experiments.presets import PRESETS

    for notebook, profiles in PRESETS.items():
        for profile, values in profiles.items():
            assert values.get("precision", "auto") == "auto", (notebook, profile)


def test_auto_is_bf16_where_it_is_native_and_shown_equivalent(bf16_here, monkeypatch):
    monkeypatch.setitem(precision.CPU_BF16_VERDICTS, "lenet5", "equivalent (pretended for the test)")
    assert resolve_precision("auto", "cpu")[0] == "bf16"
    train_cfg = cell("lenet5").train
    assert train_cfg.amp and train_cfg.channels_last and train_cfg.precision == "bf16"
    assert cell("lenet5", replace(CFG, precision="fp32")).train.precision == "fp32"
    # on the CPU, auto keeps fp32 for a model whose bf16 accuracy was not shown equivalent (or not measured)
    for model in ("resnet20", "mlp"):
        chosen, why = resolve_precision("auto", "cpu", model)
        assert chosen == "fp32" and "auto keeps fp32" in why and model in why
        assert cell(model).train.precision == "fp32"
    assert resolve_precision("bf16", "cpu", "resnet20")[0] == "bf16"  # asked for explicitly: given


def test_fp32_and_bf16_runs_of_one_config_never_share_a_cache_entry(bf16_here, tiny_data, tmp_path):
    exp = Experiment(tmp_path, tiny_data, progress=False, threads=1)
    runs = {
        p: replace(cell("mlp", replace(CFG, precision=p), num_epochs=1, width=16, depth=1), penalty=None)
        for p in ("fp32", "bf16")
    }
    keys = {
        p: exp.trajectory(c, start=exp.theta0(c, 0), data_seed=1, train=c.train)["key"]
        for p, c in runs.items()
    }
    assert keys["fp32"] != keys["bf16"]
    assert exp.run_dir("persistent", runs["fp32"], 0).path != exp.run_dir("persistent", runs["bf16"], 0).path
    stored = exp.run_dir("persistent", runs["bf16"], 0).config["run"]["train"]
    assert stored["amp"] and stored["channels_last"]  # config.json says how it ran


def test_the_penalty_stays_fp32_and_exact_under_bf16_autocast():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 4))
    pen = PersistentPenalty(net, PenaltyConfig(strength=0.7))
    pen.add_anchor({k: v + 0.3 * torch.randn_like(v) for k, v in net.state_dict().items()})
    x = torch.randn(5, 2, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
        value = pen.value(0.3)
    assert (
        out.dtype == torch.bfloat16 and value.dtype == torch.float32
    )  # the forward is bf16, the penalty not
    auto = torch.autograd.grad(value, list(net.parameters()))
    net.zero_grad()
    pen.apply_(0.3)
    assert all(p.grad.dtype == torch.float32 for p in net.parameters())
    assert max((p.grad - g).abs().max().item() for p, g in zip(net.parameters(), auto)) < 1e-6
