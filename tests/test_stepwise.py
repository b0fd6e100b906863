"""PGD step by step: the recorded iterates are PGD's own, and their curves tell the story."""

import numpy as np
import pytest
import torch
from conftest import tiny_model

from vonedemo import create_model
from vonedemo.attacks import pgd
from vonedemo.stepwise import pgd_steps


@pytest.mark.parametrize("name", ["basic-cnn", "vone-basic-cnn"])
@pytest.mark.parametrize("target", [None, 3])
def test_the_last_step_is_pgds_own_result(name, target, digits):
    model = tiny_model(name)
    image, label = digits[0][:1], digits[1][:1]
    options = {"steps": 4, "step_size": 0.05, "gradient": "repaired"}
    trace = pgd_steps(model, image, int(label), 0.2, **options, target=target)
    aims = None if target is None else torch.tensor([target])
    expected = pgd(
        model, image, label, 0.2, **options, random_start=False, noise="seeded", target=aims
    )
    assert len(trace) == 5 and trace[0].index == 0
    assert np.array_equal(trace[0].image, image[0, 0].numpy())
    assert np.allclose(trace[-1].image, expected[0, 0].numpy(), atol=1e-6)
    for step in trace:
        assert np.abs(step.perturbation).max() <= 0.2 + 1e-6
        assert step.image.min() >= 0 and step.image.max() <= 1


def test_targeted_steps_climb_the_target_and_leave_the_label(test_data):
    model = create_model("basic-cnn", pretrained=True)
    image, label = test_data.images[:1], int(test_data.labels[0])
    target = (label + 1) % 10
    trace = pgd_steps(model, image, label, 0.35, 20, 0.05, target=target)
    assert trace[0].prediction == label and trace[-1].prediction == target
    assert trace[-1].target_probability > 0.5 > trace[0].target_probability
    assert trace[-1].label_probability < trace[0].label_probability
    assert trace[-1].loss < trace[0].loss  # a targeted attack descends the target's loss
