"""Section 2: forward, FGSM and training-step time of the eight models; VOne models also with
the study's dense block in place of the fast one."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from benchmarks.common import Report, interleaved, ms
from benchmarks.reference_vone import ReferenceVOneNet
from vonedemo.attacks import fgsm
from vonedemo.evaluation import predict
from vonedemo.models import STUDY_MODELS, build_model, model_label
from vonedemo.study import STUDY_EPS


def run(report: Report, data, batch: int, repeats: int) -> dict:
    images, labels = data.images[:batch].clone(), data.labels[:batch].clone()
    train_batch = 64
    train_x, train_y = data.images[:train_batch].clone(), data.labels[:train_batch].clone()
    report.add(
        "## 2. The eight models",
        "",
        f"Freshly built models (timing does not depend on the weights), eval mode, default noise "
        f"(neuronal for VOne models). ms per image: forward and FGSM (eps {STUDY_EPS}, raw gradient, "
        f"the study's attack) on {batch} test digits, a training step (forward, backward, Adam) on "
        f"{train_batch}. VOne models are also timed with the study's dense block in place of the fast "
        "one (same weights), interleaved. On real digits the VOne models' FGSM proves the study's "
        "gradient NaN at every pixel (blank corners; see 'What helped') and, since FGSM alone "
        "reads no logits, skips the gradient pass: the image comes back unchanged, as in the "
        "study, for the price of the proof. FGSM inside an evaluation still pays a forward "
        "pass (its logits give the clean accuracy: section 4).",
        "",
    )

    def forward(model):
        return lambda: predict(model, images, batch)

    def attack(model):
        return lambda: fgsm(model, images, labels, STUDY_EPS)

    def train_step(model):
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

        def run():
            model.train()
            loss = F.cross_entropy(model(train_x), train_y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            model.eval()

        return run

    rows, results = [], {}
    for name in STUDY_MODELS:
        torch.manual_seed(0)
        model = build_model(name).eval()
        fns = {
            "fwd": forward(model),
            "fgsm": attack(model),
            "train": train_step(copy.deepcopy(model)),
        }
        if name.startswith("vone-"):
            ref = ReferenceVOneNet(model).eval()
            ref_train = ReferenceVOneNet(copy.deepcopy(model))
            fns.update(
                {
                    "ref fwd": forward(ref),
                    "ref fgsm": attack(ref),
                    "ref train": train_step(ref_train),
                }
            )
        t = interleaved(fns, repeats)
        results[name] = t
        row = [model_label(name)]
        for key, per in (("fwd", batch), ("fgsm", batch), ("train", train_batch)):
            cell = ms(t[key], per)
            if f"ref {key}" in t:
                cell += f" (study's block: {ms(t['ref ' + key], per)}; **{t['ref ' + key] / t[key]:.1f}x**)"
            row.append(cell)
        rows.append(row)
    report.table(["model", "forward ms/img", "FGSM ms/img", "training step ms/img"], rows)
    return results
