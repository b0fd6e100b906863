"""Section 1 (and 1b at the other thread count): the fast VOneBlock against the study's dense
reference — speed of forward and forward + input gradient, and, at the main thread count, how
closely outputs and gradients agree."""

from __future__ import annotations

import torch

from benchmarks.common import Report, interleaved, ms
from benchmarks.reference_vone import ReferenceVOneBlock
from benchmarks.vone_internals import VOneBlock, VOneConfig, gradient_mode, noise_mode


def run(report: Report, images: torch.Tensor, batch: int, repeats: int, title: str = "") -> dict:
    block = VOneBlock(VOneConfig())
    ref = ReferenceVOneBlock(block)
    inputs = {"real digits": images[:batch].clone(), "uniform noise": torch.rand(batch, 1, 28, 28)}
    weights = torch.linspace(-1, 1, 512).view(1, -1, 1, 1)  # a loss that weighs every channel

    def forward(module, x, noise):
        def run():
            with torch.no_grad(), noise_mode(noise):
                module(x)

        return run

    def with_grad(module, x, noise, gradient="raw"):
        def run():
            xx = x.clone().requires_grad_(True)
            with noise_mode(noise), gradient_mode(gradient):
                out = module(xx)
            torch.autograd.grad((out * weights).sum(), xx)

        return run

    report.add(
        f"## 1{title}. VOneBlock: fast vs the study's dense reference"
        + (f" — {torch.get_num_threads()} thread(s)" if title else ""),
        "",
        f"Batch of {batch}, {torch.get_num_threads()} thread(s), ms per image (median of {repeats}, interleaved). The reference "
        "(`benchmarks/reference_vone.py`) computes both quadrature banks of all 512 channels by "
        "dense 25x25 convolution, as the study did; both share parameters and noise. "
        "'+ grad' is forward plus the input gradient of a weighted sum of all outputs.",
        "",
    )
    summary: dict = {}
    rows = []
    for label, x in inputs.items():
        cases = {
            "forward, noise off": (forward(block, x, "off"), forward(ref, x, "off")),
            "forward, neuronal noise": (forward(block, x, "neuronal"), forward(ref, x, "neuronal")),
            "forward + grad (raw), noise off": (
                with_grad(block, x, "off"),
                with_grad(ref, x, "off"),
            ),
            "forward + grad (raw), neuronal noise": (
                with_grad(block, x, "neuronal"),
                with_grad(ref, x, "neuronal"),
            ),
        }
        fns = {}
        for case, (fast_fn, ref_fn) in cases.items():
            fns[f"fast|{case}"], fns[f"ref|{case}"] = fast_fn, ref_fn
        fns["fast|forward + grad (repaired), noise off"] = with_grad(block, x, "off", "repaired")
        t = interleaved(fns, repeats)
        for case in cases:
            f, r = t[f"fast|{case}"], t[f"ref|{case}"]
            rows.append([label, case, ms(r, batch), ms(f, batch), f"**{r / f:.1f}x**"])
            summary[(label, case)] = r / f
        f = t["fast|forward + grad (repaired), noise off"]
        r = t["ref|forward + grad (raw), noise off"]
        rows.append(
            [
                label,
                "forward + grad (repaired), noise off †",
                ms(r, batch),
                ms(f, batch),
                f"{r / f:.1f}x",
            ]
        )
    report.table(["input", "case", "reference ms/img", "fast ms/img", "speed-up"], rows)
    report.add(
        "† the reference implements only the study's raw gradient; its raw time is the yardstick.",
        "",
    )

    if title:
        return summary
    # Correctness, noise off: outputs and input gradients against the reference.
    rows = []
    for label, x in inputs.items():
        with torch.no_grad(), noise_mode("off"):
            fast, slow = block(x), ref(x)
        diff = float((fast - slow).abs().max() / slow.abs().max())
        grads = []
        for module in (block, ref):
            xx = x.clone().requires_grad_(True)
            with noise_mode("off"):
                out = module(xx)
            grads.append(torch.autograd.grad((out * weights).sum(), xx)[0])
        g_fast, g_ref = grads
        same_nan = torch.equal(g_fast.isnan(), g_ref.isnan())
        finite = torch.isfinite(g_ref)
        g_diff = (
            float((g_fast[finite] - g_ref[finite]).abs().max() / g_ref[finite].abs().max())
            if finite.any()
            else 0.0
        )
        rows.append(
            [
                label,
                f"{diff:.1e}",
                f"{float(g_ref.isnan().float().mean()):.0%}",
                str(same_nan),
                f"{g_diff:.1e}",
            ]
        )
        summary[(label, "output diff")] = diff
    report.add("Correctness (noise off; tolerance 1e-4 of the output's scale):", "")
    report.table(
        [
            "input",
            "max |fast - ref| / max |ref|",
            "reference gradient NaN",
            "NaN masks equal",
            "gradient diff (finite part, rel.)",
        ],
        rows,
    )
    return summary
