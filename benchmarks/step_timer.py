"""Per-image costs of one checkout of vonedemo, as JSON on stdout; run by the "scale" section.

    python3 benchmarks/step_timer.py ROOT --threads 2 --repeats 5

``ROOT`` is the checkout to import (this one, or an older commit in a git worktree), so that
two versions are timed by the same script, interleaved process by process. Uses only names
that every version since the fast block has: ``vonedemo.models.build_model``,
``vonedemo.attacks.create_attack``, ``vonedemo.data.load_mnist``,
``vonedemo.runtime.tune_allocator``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time


def median_seconds(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--model", default="vone-basic-cnn")
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    sys.path.insert(0, args.root)

    import torch
    import torch.nn.functional as F

    from vonedemo.attacks import create_attack
    from vonedemo.data import load_mnist
    from vonedemo.models import build_model
    from vonedemo.runtime import tune_allocator

    tune_allocator()
    torch.set_num_threads(args.threads)
    test = load_mnist("test")
    x, y = test.images[: args.batch], test.labels[: args.batch]
    torch.manual_seed(0)
    model = build_model(args.model)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)

    def training_step():  # the study's training step: forward, backward, Adam
        model.train()
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    fgsm = create_attack("fgsm", gradient="repaired")

    def repaired_fgsm():
        model.eval()
        fgsm(model, x, y, 0.35)

    block = model.vone
    block.eval()

    def noisy_block():
        with torch.no_grad():
            block(x)

    def noise_alone():  # the floor: one normal number per output of the block
        torch.randn(args.batch, 512, 28, 28)

    per_image = {
        name: median_seconds(fn, args.repeats) / args.batch * 1e3
        for name, fn in (
            ("training_step_ms", training_step),
            ("repaired_fgsm_ms", repaired_fgsm),
            ("noisy_block_ms", noisy_block),
            ("randn_ms", noise_alone),
        )
    }
    print(json.dumps({"root": args.root, "threads": args.threads, **per_image}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
