"""The GPU check must work before a GPU is lent: its dry run checks imports and shapes on CPU."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def quick(script: str, timeout: int = 600, env: dict | None = None) -> str:
    """Run ``benchmarks/<script> --quick``; its stdout, after checking that it exited cleanly."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_gpu_check_dry_run():
    env = {**os.environ, "PYTHON": sys.executable}
    done = subprocess.run(
        ["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--dry-run"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "RESULT resnet20" in done.stdout and "RESULT fused penalty" in done.stdout
    assert "RESULT projected GPU-hours of the paper profile (3 models" in done.stdout
    assert done.stdout.rstrip().endswith("dry run ok")


def test_bench_workers_quick_runs_and_checks_identical_summaries(tmp_path):
    # no Fashion-MNIST anywhere: the benchmark must generate enough images for the sizes it asks
    env = {**os.environ, "PNLIB_DATA": str(tmp_path), "PNLIB_SYSTEM_DATASETS": str(tmp_path / "none")}
    stdout = quick("bench_workers.py", env=env)
    assert "summaries identical: True" in stdout


def test_bench_precision_quick_runs_to_its_result_line():
    stdout = quick("bench_precision.py")
    last = stdout.rstrip().splitlines()[-1]
    assert last.startswith("RESULT bf16 / fp32 end to end: resnet20") and "equivalence ±0.005" in last


def test_bench_eval_quick_runs_and_checks_identical_weights():
    stdout = quick("bench_eval.py")
    assert "weights identical to A: False" not in stdout
    assert stdout.rstrip().splitlines()[-1].startswith("RESULT A / arm: lenet5: A 1.00×")


def test_bench_cnn_cost_quick_runs_to_its_result_line():
    stdout = quick("bench_cnn_cost.py", timeout=300)
    assert stdout.rstrip().splitlines()[-1].startswith("RESULT cheapest per family at batch 32: alexnet")
