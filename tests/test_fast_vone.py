"""The fast VOneBlock paths against the study's dense computation: values (noise off, within
1e-4 of the output's scale), input gradients (raw and repaired, noise off and seeded) with the
exact non-finite pattern, the all-NaN shortcut, the rare fallbacks and chunked projection."""

import contextlib
import math

import pytest
import torch
import torch.nn.functional as F

from vonedemo.models import build_model
from vonedemo.vone import (
    VOneBlock,
    VOneConfig,
    complex_cell,
    gradient_mode,
    input_gradient_pass,
    kernel_radius,
    noise_mode,
)

TOL = 1e-4


@pytest.fixture(scope="module")
def block():
    return VOneBlock(VOneConfig())


def dense(
    block: VOneBlock, x: torch.Tensor, gradient: str, noise: torch.Tensor | None
) -> torch.Tensor:
    """The study's block, written out: dense 25x25 convolutions of both quadrature banks,
    cells, gain, then noise (given in the fast block's channel order) and ReLU."""
    cfg, bank = block.config, block.bank
    n = cfg.simple_channels
    q0 = F.conv2d(x, bank.q0.to(x), padding=cfg.ksize // 2)
    q1 = F.conv2d(x, bank.q1.to(x), padding=cfg.ksize // 2)
    y = cfg.k_exc * torch.cat([F.relu(q0[:, :n]), complex_cell(q0[:, n:], q1, gradient)], 1)
    if noise is None:
        return F.relu(y)
    noise = noise.index_select(1, bank.inverse_order)
    std = torch.sqrt(F.relu(y * cfg.noise_scale + cfg.noise_level) + cfg.noise_eps)
    return F.relu(y + noise * std / cfg.noise_scale)


def grads(block, x, gradient, noise_setting, grad_out=None):
    """Input gradients of the fast block and of the dense one, same noise, same loss."""
    mode, seed = noise_setting
    with noise_mode(mode, seed):
        noise = block.draw_noise(block.bank.output_shape(x), x)
    results = []
    for fn in (lambda xx: block(xx), lambda xx: dense(block, xx, gradient, noise)):
        xx = x.clone().requires_grad_(True)
        with noise_mode(mode, seed), gradient_mode(gradient):
            out = fn(xx)
        g_out = (
            grad_out
            if grad_out is not None
            else torch.linspace(-1, 1, out.shape[1]).view(1, -1, 1, 1).expand_as(out)
        )
        results.append(torch.autograd.grad(out, xx, g_out)[0])
    return results


def assert_same_gradient(fast, ref):
    assert torch.equal(fast.isnan(), ref.isnan())
    assert torch.equal(fast.isinf(), ref.isinf())
    assert torch.equal(fast[ref.isinf()], ref[ref.isinf()])  # same sign of infinity
    finite = torch.isfinite(ref)
    if finite.any():
        scale = ref[finite].abs().max()
        assert (fast[finite] - ref[finite]).abs().max() <= TOL * scale


@pytest.fixture(scope="module")
def inputs(digits):
    """Clean digits (all-NaN shortcut), uniform noise (exact path, no NaN), and a clean digit
    with three digits after a random-sign step of 0.3 (exact path, partial NaN, underflowing
    energies: ±inf in the study's gradient under noise)."""
    x = digits[0]
    torch.manual_seed(0)
    lifted = (x[:3] + 0.3 * torch.sign(torch.randn(3, 1, 28, 28))).clamp(0, 1)
    return {
        "digits": x[:3],
        "uniform": torch.rand(2, 1, 28, 28),
        "mixed": torch.cat([x[4:5], lifted]),
    }


def test_plan_covers_every_channel_once_with_room_for_its_kernel(block):
    bank = block.bank
    assert torch.equal(bank.channel_order.sort().values, torch.arange(512))
    assert torch.equal(bank.channel_order[bank.inverse_order], torch.arange(512))
    exact = torch.cat(
        [
            kernel_radius(bank.q0[:256]),
            torch.maximum(kernel_radius(bank.q0[256:]), kernel_radius(bank.q1)),
        ]
    )
    covered = []
    for g in bank._groups:
        assert sum(p.simple for p in g.parts) == g.simple
        assert sum(p.complex for p in g.parts) == g.complex
        simple = bank.channel_order[g.start : g.start + g.simple]
        complex_ = bank.channel_order[g.start + g.simple : g.stop]
        assert (simple < 256).all() and (complex_ >= 256).all()
        for p in g.parts:
            assert p.radius >= g.radius
            s_part = simple[p.simple_at : p.simple_at + p.simple]
            c_part = complex_[p.complex_at : p.complex_at + p.complex]
            assert (exact[torch.cat([s_part, c_part])] <= p.radius).all()  # holds every non-zero
        covered += [simple, complex_]
    assert torch.equal(torch.cat(covered), bank.channel_order)


@pytest.mark.parametrize("name", ["digits", "uniform", "mixed"])
def test_values_match_the_dense_block(block, inputs, name):
    x = inputs[name]
    with torch.no_grad(), noise_mode("off"):
        fast, ref = (
            block(x, canonical=False),
            dense(block, x, "raw", None).index_select(1, block.channel_order),
        )
    assert (fast - ref).abs().max() <= TOL * ref.abs().max()
    with torch.no_grad(), noise_mode("seeded", 3):  # the fused noise arithmetic
        fast = block(x, canonical=False)
        noise = block.draw_noise(fast.shape, x)
    ref = dense(block, x, "raw", noise).index_select(1, block.channel_order)
    assert (fast - ref).abs().max() <= TOL * ref.abs().max()


@pytest.mark.parametrize(
    "name, gradient, noise",
    [
        ("digits", "raw", ("off", 0)),
        ("digits", "raw", ("seeded", 7)),
        ("digits", "repaired", ("off", 0)),
        ("uniform", "raw", ("seeded", 7)),
        ("uniform", "repaired", ("off", 0)),
        ("mixed", "raw", ("off", 0)),
        ("mixed", "raw", ("seeded", 7)),
        ("mixed", "repaired", ("seeded", 7)),
    ],
)
def test_gradients_match_the_dense_block(block, inputs, name, gradient, noise):
    fast, ref = grads(block, inputs[name], gradient, noise)
    assert_same_gradient(fast, ref)
    if gradient == "repaired":
        assert torch.isfinite(ref).all()


def test_the_cases_above_exercise_every_path(block, inputs):
    bank = block.bank
    assert bank.nan_everywhere(inputs["digits"]).all()
    assert not bank.nan_everywhere(inputs["uniform"]).any()
    mixed = bank.nan_everywhere(inputs["mixed"])
    assert mixed.any() and not mixed.all()
    _, ref = grads(block, inputs["mixed"], "raw", ("seeded", 7))
    assert ref.isinf().any()  # underflowing energies under noise: the dense fallback
    lifted = ref[mixed.logical_not()]
    assert lifted.isnan().any() and torch.isfinite(lifted).any()


def test_all_nan_proof_is_sound_on_real_digits(block, test_data):
    x = test_data.images[100:164]
    proof = block.bank.nan_everywhere(x)
    assert proof.all()  # blank corners: the rule for MNIST (all 64 of these digits)
    _, ref = grads(block, x[proof][:6], "raw", ("seeded", 1))
    assert ref.isnan().all()


def test_non_finite_incoming_gradient_follows_the_dense_block(block, inputs):
    x = inputs["uniform"]
    g_out = torch.randn(2, 512, 28, 28)
    g_out[0, 5, 10, 10] = float("nan")
    g_out[1, 300, 3, 20] = float("inf")
    fast, ref = grads(block, x, "raw", ("off", 0), g_out)
    assert ref.isnan().any()
    assert_same_gradient(fast, ref)


def test_float64_takes_the_dense_path(block, inputs):
    x = inputs["mixed"].double()
    with noise_mode("off"):
        fast, ref = block(x), dense(block, x, "raw", None)
    assert torch.allclose(fast, ref, rtol=1e-12, atol=1e-12 * ref.abs().max())


def test_projection_in_chunks_equals_the_whole_batch(block):
    x = torch.rand(4, 1, 28, 28)
    weight = torch.randn(4, 512, 1, 1)
    for mode in ("seeded", "neuronal"):
        with torch.no_grad(), noise_mode(mode, 2):
            torch.manual_seed(0)
            whole = F.conv2d(block(x, canonical=False), weight)
            torch.manual_seed(0)
            chunked = block.project(x, weight, chunk=3)
        # same noise stream: equal up to float rounding (a different draw differs by O(scale))
        assert torch.allclose(whole, chunked, rtol=0, atol=1e-6 * whole.abs().max())
    xx = x.clone().requires_grad_(True)
    with noise_mode("off"):
        (g,) = torch.autograd.grad(block.project(xx, weight, chunk=4).sum(), xx)
    xx = x.clone().requires_grad_(True)
    with noise_mode("off"):
        (g_ref,) = torch.autograd.grad(F.conv2d(block(xx, canonical=False), weight).sum(), xx)
    assert torch.allclose(g, g_ref, atol=1e-5 * g_ref.abs().max())


def test_other_configurations_match_the_dense_block(digits):
    cfg = VOneConfig(simple_channels=24, complex_channels=40, visual_degrees=2.5, seed=3)
    small = VOneBlock(cfg)
    x = torch.cat([digits[0][:2], torch.rand(2, 1, 28, 28)])
    with torch.no_grad(), noise_mode("off"):
        fast, ref = small(x), dense(small, x, "raw", None)
    assert (fast - ref).abs().max() <= TOL * ref.abs().max()
    for gradient in ("raw", "repaired"):
        assert_same_gradient(*grads(small, x, gradient, ("seeded", 1)))


def test_model_gradient_matches_the_dense_block_in_the_model(digits):
    torch.manual_seed(0)
    model = build_model("vone-basic-cnn").eval()
    x, y = digits[0][:3], digits[1][:3]
    lifted = (x + 0.2 * torch.rand_like(x)).clamp(0, 1)
    for images in (x, lifted):
        results = []
        for use_dense in (False, True):
            xx = images.clone().requires_grad_(True)
            with noise_mode("off"):
                if use_dense:
                    features = dense(model.vone, xx, "raw", None)
                    logits = model.backend(F.conv2d(features, model.bottleneck.weight))
                else:
                    logits = model(xx)
            results.append(torch.autograd.grad(F.cross_entropy(logits, y), xx)[0])
        assert_same_gradient(*results)


def test_gain_is_not_folded_into_the_exact_simple_kernels(block):
    """A product that underflows to 0 in the study must stay 0: with the gain folded into the
    kernel, 25 * w * x no longer underflows and the ReLU's gradient would switch on."""
    bank = block.bank
    tiny = bank.q0[:256].abs().flatten(1)
    tiny = torch.where(tiny > 0, tiny, torch.full_like(tiny, math.inf)).amin(1)
    assert (tiny < 1e-40).any()  # denormal kernel entries exist, so the distinction matters
    x = torch.zeros(1, 1, 28, 28)
    x[0, 0, 14, 14] = 0.5
    fast, ref = grads(block, x, "repaired", ("off", 0))
    assert_same_gradient(fast, ref)


def test_training_through_chunks_gives_the_unchunked_weight_gradients():
    """Without an input gradient the block reuses one buffer per chunk — but not while the
    bottleneck's weight needs the maps for its own gradient (training)."""
    torch.manual_seed(0)
    model = build_model("vone-basic-cnn", noise_mode="off").train()
    x, y = torch.rand(5, 1, 28, 28), torch.randint(0, 10, (5,))
    results = []
    for chunk in (2, 5):
        weight = model.bottleneck.weight.index_select(1, model.vone.channel_order)
        features = model.vone.project(x, weight, chunk=chunk)
        loss = F.cross_entropy(model.backend(features), y)
        results.append(torch.autograd.grad(loss, model.bottleneck.weight)[0])
    assert torch.allclose(results[0], results[1], atol=1e-6 * results[1].abs().max())
    F.cross_entropy(model(x), y).backward()  # the model's own path, chunks of 16
    assert model.bottleneck.weight.grad is not None


def _attack_gradient(model, x, y, shortcut: bool, noise=("seeded", 4), gradient="raw"):
    """(input gradient, logits, back-end backward calls) of one attack-style gradient pass."""
    calls = []
    handle = model.backend.register_full_backward_hook(lambda *args: calls.append(1))
    try:
        xx = x.clone().requires_grad_(True)
        ctx = input_gradient_pass() if shortcut else contextlib.nullcontext()
        with ctx, noise_mode(*noise), gradient_mode(gradient):
            logits = model(xx)
            (g,) = torch.autograd.grad(F.cross_entropy(logits, y), xx)
    finally:
        handle.remove()
    return g, logits.detach(), len(calls)


def test_attack_pass_on_proven_images_skips_the_backend_backward_and_changes_nothing(digits):
    torch.manual_seed(0)
    model = build_model("vone-basic-cnn").eval()
    x, y = digits[0][:4], digits[1][:4]
    assert model.vone.bank.nan_everywhere(x).all()
    g_full, logits_full, calls_full = _attack_gradient(model, x, y, shortcut=False)
    g_fast, logits_fast, calls_fast = _attack_gradient(model, x, y, shortcut=True)
    assert (calls_full, calls_fast) == (1, 0)
    assert g_full.isnan().all() and g_fast.isnan().all()
    assert torch.equal(logits_full, logits_fast)  # same noise stream, same cropped path
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("case", ["lifted", "repaired", "mixed"])
def test_attack_pass_keeps_the_full_backward_where_nothing_is_proven(digits, case):
    torch.manual_seed(0)
    model = build_model("vone-basic-cnn").eval()
    x, y = digits[0][:3], digits[1][:3]
    gradient = "repaired" if case == "repaired" else "raw"
    if case == "lifted":  # no blank background left: the raw gradient is finite in places
        x = (x + 0.2 * torch.rand_like(x)).clamp(0, 1)
    if case == "mixed":  # one image without a proof: the whole batch takes the full path
        x = torch.cat([x, torch.rand(1, 1, 28, 28)])
        y = torch.cat([y, y[:1]])
    g_full, _, _ = _attack_gradient(model, x, y, shortcut=False, gradient=gradient)
    g_fast, _, calls = _attack_gradient(model, x, y, shortcut=True, gradient=gradient)
    assert calls == 1
    assert not g_fast.isnan().all()
    assert_same_gradient(g_fast, g_full)


def test_attacks_promise_an_input_gradient_only(digits):
    from vonedemo.attacks import fgsm

    torch.manual_seed(0)
    model = build_model("vone-basic-cnn").eval()
    calls = []
    handle = model.backend.register_full_backward_hook(lambda *args: calls.append(1))
    try:
        x, y = digits[0][:2], digits[1][:2]
        assert torch.equal(
            fgsm(model, x, y, 0.35), x
        )  # sign(NaN) = 0: nothing moves, as in the study
        assert not torch.equal(fgsm(model, x, y, 0.35, gradient="repaired"), x)
    finally:
        handle.remove()
    assert calls == [1]  # only the repaired pass ran the back-end's backward


def test_a_gradient_only_pass_on_proven_images_skips_the_forward_pass_too(digits):
    torch.manual_seed(0)
    model = build_model("vone-basic-cnn").eval()
    x, y = digits[0][:3], digits[1][:3]
    xx = x.clone().requires_grad_(True)
    state = torch.get_rng_state()
    with input_gradient_pass(values_used=False):
        logits = model(xx)
    assert torch.equal(torch.get_rng_state(), state)  # no noise drawn: no forward pass ran
    assert torch.equal(logits, torch.zeros(3, 10))  # placeholders, as promised
    (g,) = torch.autograd.grad(F.cross_entropy(logits, y), xx)
    assert g.isnan().all()
    lifted = (x + 0.2 * torch.rand_like(x)).clamp(0, 1).requires_grad_(True)
    with input_gradient_pass(values_used=False):
        assert not torch.equal(model(lifted), torch.zeros(3, 10))  # no proof: a real pass
