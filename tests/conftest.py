import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

torch.set_num_threads(2)

from vonedemo.audit import AuditConfig  # noqa: E402
from vonedemo.data import load_mnist  # noqa: E402
from vonedemo.models import build_model  # noqa: E402

# A small VOne configuration: same code paths, a fraction of the cost.
TINY_VONE = {"simple_channels": 8, "complex_channels": 8, "bottleneck_channels": 4}


@pytest.fixture(scope="session")
def test_data():
    return load_mnist("test")


@pytest.fixture(scope="session")
def digits(test_data):
    """Eight real test digits and labels."""
    return test_data.images[:8].clone(), test_data.labels[:8].clone()


def tiny_model(name: str, seed: int = 0, **overrides):
    torch.manual_seed(seed)
    if name.startswith("vone-"):
        overrides = {**TINY_VONE, **overrides}
    return build_model(name, **overrides)


# A tiny audit ladder: every rung and check, on a few images.
TINY_AUDIT = AuditConfig(
    limit=20,
    eps=(0.35,),
    eot_samples=(1, 2),
    pgd_steps=3,
    pgd_restarts=1,
    pgd_eot=2,
    curve_eps=(0.0, 0.35),
    curve_limit=20,
    curve_pgd_steps=3,
    curve_repeats=1,
    doubling_limit=20,
    batch_size=20,
)
