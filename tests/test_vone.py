import dataclasses
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from reference_vone import ReferenceVOneBlock

from vonedemo.vone import (
    VOneBlock,
    VOneConfig,
    check_gradient_mode,
    check_noise_mode,
    complex_cell,
    fill_normal,
    gabor_kernels,
    gradient_mode,
    noise_mode,
    sample_gabor_parameters,
)


@pytest.fixture(scope="module")
def block():
    return VOneBlock(VOneConfig())


def test_config_is_frozen_and_validated():
    cfg = VOneConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.k_exc = 1.0  # type: ignore[misc]
    assert (cfg.simple_channels, cfg.complex_channels, cfg.ksize, cfg.k_exc) == (256, 256, 25, 25.0)
    assert cfg.pixels_per_degree == 3.5
    allowed = "known: neuronal, off, seeded"
    assert check_noise_mode("seeded") == "seeded"
    for refuse in (
        lambda: VOneConfig(noise_mode="loud"),
        lambda: VOneBlock(VOneConfig(simple_channels=1, complex_channels=1)).set_noise_mode("x"),
        lambda: noise_mode("loud").__enter__(),
    ):
        with pytest.raises(ValueError, match=allowed):
            refuse()
    with pytest.raises(ValueError, match="known: raw, repaired"):
        check_gradient_mode("fixed")
    with pytest.raises(ValueError):
        VOneConfig(ksize=24)


def test_gabor_parameters_follow_the_v1_distributions():
    p = sample_gabor_parameters(VOneConfig(simple_channels=2000, complex_channels=2000))
    assert p["sf"].min() >= 0.5 and p["sf"].max() <= 5.6  # capped at 6 cycles/deg: top bin edge 5.6
    assert 0 <= p["ori"].min() and p["ori"].max() < 180
    assert 0 <= p["phase"].min() and p["phase"].max() < 360
    assert p["nx"].min() >= 0.1 and p["nx"].max() <= 10**0.2
    study = sample_gabor_parameters(VOneConfig())  # the default bank, channel 0
    first = [study[k][0] for k in ("sf", "ori", "phase", "nx", "ny")]
    assert first == pytest.approx([2.26005490, 123.207159, 229.306207, 0.31676075, 0.54983707])
    rho = np.corrcoef(np.log(p["nx"]), np.log(p["sf"]))[0, 1]
    assert 0.5 < rho < 0.9  # nx correlated with frequency (copula correlation 0.75)
    again = sample_gabor_parameters(VOneConfig(simple_channels=2000, complex_channels=2000))
    assert all(np.array_equal(p[k], again[k]) for k in p)  # seeded


def test_kernel_formula_matches_an_independent_computation():
    params = torch.tensor([[2.0, 30.0, 45.0, 0.5, 0.7]], dtype=torch.float64)
    cfg = VOneConfig()
    k = gabor_kernels(params, cfg)[0, 0].double()
    f = 2.0 / 3.5
    sx, sy = 0.5 / f, 0.7 / f
    th, ph = math.radians(30), math.radians(45)
    i, j = 12 + 3, 12 - 2  # row (y) = +3, column (x) = -2
    x, y = -2.0, 3.0
    xr, yr = x * math.cos(th) + y * math.sin(th), -x * math.sin(th) + y * math.cos(th)
    expected = math.exp(-0.5 * (xr**2 / sx**2 + yr**2 / sy**2)) / (2 * math.pi * sx * sy)
    expected *= math.cos(2 * math.pi * f * xr + ph)
    assert k[i, j].item() == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_gabor_kernels_are_buffers_that_follow_dtype(block):
    assert not list(block.parameters())
    x = torch.rand(1, 1, 28, 28, dtype=torch.float64)
    with noise_mode("off"):
        assert block(x).dtype == torch.float64


def test_only_used_quadrature_filters_are_computed(block):
    assert block.bank.q0.shape[0] == 512 and block.bank.q1.shape[0] == 256


def test_params_survive_a_state_dict_round_trip(block):
    other = VOneBlock(VOneConfig(seed=99))
    assert not torch.equal(other.bank.params, block.bank.params)
    other.load_state_dict(block.state_dict())
    assert torch.equal(other.bank.q0, block.bank.q0) and torch.equal(other.bank.q1, block.bank.q1)


def test_fast_block_matches_reference_on_digits_and_random(block, digits):
    ref = ReferenceVOneBlock(block)
    inputs = [digits[0][:4], torch.rand(3, 1, 28, 28)]
    with noise_mode("off"), torch.no_grad():
        for x in inputs:
            fast, slow = block(x), ref(x)
            assert (fast - slow).abs().max() <= 1e-4 * slow.abs().max()


def test_fast_block_gradient_matches_reference_including_nan(block, digits):
    ref = ReferenceVOneBlock(block)
    for x in (digits[0][:3], torch.rand(2, 1, 28, 28)):
        grads = []
        for module in (block, ref):
            xx = x.clone().requires_grad_(True)
            with noise_mode("off"):
                out = module(xx)
            weights = torch.linspace(-1, 1, out.shape[1]).view(1, -1, 1, 1)
            (g,) = torch.autograd.grad((out * weights).sum(), xx)
            grads.append(g)
        fast, slow = grads
        assert torch.equal(fast.isnan(), slow.isnan())
        finite = torch.isfinite(slow)
        if finite.any():
            scale = slow[finite].abs().max()
            assert (fast[finite] - slow[finite]).abs().max() <= 1e-4 * scale


def test_raw_complex_cell_gives_nan_gradient_at_zero_energy_and_repaired_does_not():
    q0 = torch.tensor([0.0, 3.0], requires_grad=True)
    q1 = torch.tensor([0.0, 4.0], requires_grad=True)
    (g_raw,) = torch.autograd.grad(complex_cell(q0, q1, "raw").sum(), q0)
    (g_fix,) = torch.autograd.grad(complex_cell(q0, q1, "repaired").sum(), q0)
    assert torch.isnan(g_raw[0]) and g_fix[0] == 0
    assert g_raw[1] == pytest.approx(3 / 5 / math.sqrt(2)) and g_fix[1] == g_raw[1]
    assert torch.equal(complex_cell(q0, q1, "raw"), complex_cell(q0, q1, "repaired"))


def _study_and_fast_gradients(block, x, gradient="raw"):
    """Input gradients of sum(outputs), noise off: the study's dense cells (block.py, autograd
    through ``complex_cell``) and the fast block (cropped / exact paths, hand-written backward)."""
    xx = x.clone().requires_grad_(True)
    (study,) = torch.autograd.grad(F.relu(block.bank.dense_cells(xx, gradient)).sum(), xx)
    xx = x.clone().requires_grad_(True)
    with noise_mode("off"), gradient_mode(gradient):
        (fast,) = torch.autograd.grad(block(xx, canonical=False).sum(), xx)
    return study, fast


def test_study_gradient_is_nan_on_real_digits_repaired_is_finite(block, digits):
    x = digits[0][:2]
    study, fast = _study_and_fast_gradients(block, x)
    assert study.isnan().all() and fast.isnan().all()  # blank backgrounds: NaN at every pixel
    study, fast = _study_and_fast_gradients(block, x, "repaired")
    assert torch.isfinite(study).all() and torch.isfinite(fast).all()


def test_raw_gradient_is_nan_exactly_where_the_energy_is_zero_in_both_paths(block):
    """Noise everywhere but a blank 14x14 corner: no all-NaN proof, so the fast block's exact
    path decides, and the study's NaN covers the corner's reach and nothing else."""
    x = torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    x[..., :14, :14] = 0
    assert not block.bank.nan_everywhere(x).any()
    study, fast = _study_and_fast_gradients(block, x)
    assert study.isnan().sum() == 625 and torch.isfinite(study).sum() == 159
    assert torch.equal(fast.isnan(), study.isnan())
    assert torch.isfinite(_study_and_fast_gradients(block, x, "repaired")[1]).all()


def test_noise_is_on_in_eval_mode_and_context_does_not_leak(block, digits):
    block.eval()
    x = digits[0][:1]
    assert not torch.equal(block(x), block(x))
    with noise_mode("off"):
        pass
    assert block.effective_noise()[0] == "neuronal"
    with pytest.raises(ValueError), noise_mode("bogus"):
        pass


def test_noise_formula(block):
    cfg = block.config
    x = torch.full((1, 512, 2, 2), 2.0)
    torch.manual_seed(5)
    out = block.add_noise(x)
    # The documented draw: one seed per image from the global generator, then that image's
    # N(0, 1) numbers from a generator seeded with it.
    torch.manual_seed(5)
    (seed,) = torch.randint(0, 2**62, (1,)).tolist()
    n = torch.randn(x.shape[1:], generator=torch.Generator().manual_seed(seed)).unsqueeze(0)
    u = x * cfg.noise_scale + cfg.noise_level
    expected = F.relu(
        (u + n * torch.sqrt(F.relu(u) + cfg.noise_eps) - cfg.noise_level) / cfg.noise_scale
    )
    assert torch.allclose(out, expected, atol=1e-5)


def test_parallel_noise_equals_the_sequential_draw_and_ignores_chunking():
    seeds = torch.tensor([3, 1, 4, 1, 5])
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = fill_normal(torch.empty(5, 8, 3, 3), seeds)
        torch.set_num_threads(2)
        two = fill_normal(torch.empty(5, 8, 3, 3), seeds)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, two)
    assert torch.equal(one[1], one[3])  # same seed, same noise
    assert not torch.equal(one[0], one[1])
    assert torch.equal(fill_normal(torch.empty(2, 8, 3, 3), seeds[2:4]), one[2:4])
    with pytest.raises(ValueError, match="2 seeds for 3 images"):
        fill_normal(torch.empty(3, 4), seeds[:2])
