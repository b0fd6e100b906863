"""Section 6: A/B timings of implementation choices in the fast VOneBlock, each against the
shipped choice, in this run."""

from __future__ import annotations

import torch

from benchmarks.common import Report, interleaved, ms
from benchmarks.reference_vone import ReferenceVOneBlock
from benchmarks.vone_internals import (
    VOneBlock,
    VOneConfig,
    cropped_forward,
    exact_derivatives,
    exact_forward,
    noise_mode,
    one_conv_per_group_backward,
    shipped_backward,
)


def run(
    report: Report, images: torch.Tensor, batch: int, repeats: int, other_threads: int
) -> list[list[str]]:
    """A/B timings of implementation choices, each against the shipped choice."""
    block = VOneBlock(VOneConfig())
    x = images[:batch].clone()
    r = torch.rand(batch, 1, 28, 28)
    rows = []

    def no_grad(fn):
        def run():
            with torch.no_grad():
                fn()

        return run

    def inference(fn):
        def run():
            with torch.inference_mode():
                fn()

        return run

    # Cropped kernels vs each kernel's exact non-zero support (forward values).
    t = interleaved(
        {"cropped": cropped_forward(block, x), "exact": exact_forward(block, x)}, repeats
    )
    rows.append(
        [
            "kernels cropped to 1e-6 of their L1 mass (no-gradient path)",
            "exact non-zero support",
            f"{ms(t['cropped'], batch)} vs {ms(t['exact'], batch)}",
            f"{t['exact'] / t['cropped']:.1f}x",
        ]
    )
    # inference_mode vs no_grad around the whole block
    fwd = lambda: block(x, canonical=False)  # noqa: E731
    with noise_mode("off"):
        t = interleaved({"no_grad": no_grad(fwd), "inference": inference(fwd)}, repeats)
    rows.append(
        [
            "`torch.no_grad`",
            "`torch.inference_mode`",
            f"{ms(t['no_grad'], batch)} vs {ms(t['inference'], batch)}",
            f"{t['inference'] / t['no_grad']:.2f}x",
        ]
    )
    # channels-last input
    xcl = x.contiguous(memory_format=torch.channels_last)
    t = interleaved({"nchw": cropped_forward(block, x), "cl": cropped_forward(block, xcl)}, repeats)
    rows.append(
        [
            "NCHW",
            "channels-last input",
            f"{ms(t['nchw'], batch)} vs {ms(t['cl'], batch)}",
            f"{t['cl'] / t['nchw']:.2f}x",
        ]
    )
    # Two-step backward vs one transposed convolution per group
    xx = r.clone().requires_grad_(True)
    with noise_mode("off"):
        out = block(xx, canonical=False)
    grad_out = torch.randn_like(out)
    derivs = exact_derivatives(block, r)
    t = interleaved(
        {
            "two": shipped_backward(block, grad_out, derivs),
            "one": one_conv_per_group_backward(block, r, derivs),
        },
        repeats,
    )
    rows.append(
        [
            "backward: transposed conv along x to one channel per kernel row, rows summed",
            "one transposed conv per group (to 1 channel)",
            f"{ms(t['two'], batch)} vs {ms(t['one'], batch)}",
            f"{t['one'] / t['two']:.1f}x",
        ]
    )
    # Thread count for the fast forward
    before = torch.get_num_threads()
    ref = ReferenceVOneBlock(block)
    timings = {}
    for n in (other_threads, before):
        torch.set_num_threads(n)
        with noise_mode("off"):
            timings[n] = interleaved(
                {"fast": no_grad(fwd), "ref": no_grad(lambda: ref(x))}, repeats
            )
    torch.set_num_threads(before)
    for which in ("fast", "ref"):
        rows.append(
            [
                f"{before} thread(s) ({which} forward)",
                f"{other_threads} thread(s)",
                f"{ms(timings[before][which], batch)} vs {ms(timings[other_threads][which], batch)}",
                f"{timings[other_threads][which] / timings[before][which]:.2f}x",
            ]
        )
    report.add(
        "## 6. Levers, measured in this run",
        "",
        f"ms per image, batch {batch}; 'gain' is how much faster the shipped choice is (below 1: slower).",
        "",
    )
    report.table(["shipped", "alternative", "ms/img (shipped vs alternative)", "gain"], rows)
    return rows
