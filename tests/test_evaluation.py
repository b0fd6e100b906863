import os
import subprocess
import sys

import pytest
import torch
from conftest import ROOT, tiny_model

from vonedemo.attacks import fgsm
from vonedemo.checkpoints import load_pretrained
from vonedemo.evaluation import accuracy, eps_sweep, evaluate_attack, predict
from vonedemo.vone import noise_mode


@pytest.fixture(scope="module")
def small(test_data):
    return test_data.subset(48)


@pytest.mark.parametrize("name", ["basic-cnn", "mlp"])
def test_clean_accuracy_from_the_fgsm_pass_equals_a_separate_clean_pass(name, small):
    model, _ = load_pretrained(name)  # trained: clean and attacked accuracy far apart
    result = evaluate_attack(model, small, "fgsm", 0.35, batch_size=20)  # 3 batches, last one short
    assert result.clean_accuracy == pytest.approx(accuracy(model, small, batch_size=20))
    assert result.clean_accuracy > result.accuracy + 0.5
    assert len(result.correct) == len(small)


def test_fgsm_hands_out_the_logits_of_its_gradient_pass(digits):
    images, labels = digits
    model = tiny_model("basic-cnn").eval()
    for eps in (0.0, 0.3):  # eps 0 takes its own path (no gradient) and must still report
        seen = []
        fgsm(model, images, labels, eps, on_clean_logits=seen.append)
        assert len(seen) == 1 and not seen[0].requires_grad
        torch.testing.assert_close(seen[0], predict(model, images))


def test_clean_accuracy_of_a_noisy_model_is_one_noise_draw_of_the_clean_pass(small):
    model = tiny_model("vone-basic-cnn").eval()
    torch.manual_seed(0)
    result = evaluate_attack(model, small, "fgsm", 0.35, batch_size=16)
    # Replaying the random stream: per batch, a clean pass (the attack's gradient pass) and
    # the pass on the adversarial images. The first one's hits are the reported accuracy.
    torch.manual_seed(0)
    hits = 0
    with torch.no_grad():
        for images, labels in small.batches(16):
            hits += int((model(images).argmax(1) == labels).sum())
            model(images)  # the adversarial pass's noise draw
    assert result.clean_accuracy == hits / len(small)
    with noise_mode("off"):  # without noise the two passes are the same computation
        off = evaluate_attack(model, small, "fgsm", 0.35, batch_size=16)
        assert off.clean_accuracy == pytest.approx(accuracy(model, small))


@pytest.mark.parametrize(
    ("attack", "options"),
    [
        ("pgd", {"steps": 1, "step_size": 0.1}),
        ("fgsm", {"noise": "off"}),
        ("fgsm", {"noise": "seeded"}),
    ],
)
def test_no_clean_accuracy_where_the_attack_never_saw_the_model_as_it_is(attack, options, small):
    # PGD starts from a random point; an overridden noise mode is not the model's own clean pass.
    model = tiny_model("basic-cnn").eval()
    assert (
        evaluate_attack(model, small, attack, 0.1, attack_options=options, limit=8).clean_accuracy
        is None
    )


def test_eps_sweep_rows_follow_the_eps_values(small):
    model = tiny_model("basic-cnn").eval()
    rows = eps_sweep(model, small, [0.0, 0.3], limit=16)
    assert [r["eps"] for r in rows] == [0.0, 0.3]
    assert rows[0]["accuracy"] == pytest.approx(accuracy(model, small, limit=16))
    assert rows[0]["health"]["moved_fraction"] == 0.0


def _tuned_in_fresh_process(env_extra: dict) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    env.update(env_extra)
    code = "from vonedemo.runtime import tune_allocator, allocator_state as s; print(tune_allocator(), tune_allocator(), s())"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_allocator_tuning_is_applied_once_and_can_be_declined():
    assert _tuned_in_fresh_process({}).startswith("True True glibc mmap threshold")
    assert _tuned_in_fresh_process({"VONEDEMO_ALLOCATOR": "default"}) == "False False default"
    # the user's own glibc settings win
    assert _tuned_in_fresh_process({"MALLOC_MMAP_THRESHOLD_": "65536"}) == "False False default"


def test_a_targeted_evaluation_counts_the_images_that_reached_their_target(test_data):
    from vonedemo import create_model

    model = create_model("basic-cnn", pretrained=True)
    options = {"steps": 10, "step_size": 0.05}
    fixed = evaluate_attack(
        model, test_data, "pgd", 0.35, limit=40, attack_options=options, target=3
    )
    assert fixed.target_reached >= 0.7 and fixed.accuracy <= 0.3
    easiest = evaluate_attack(
        model, test_data, "pgd", 0.1, limit=40, attack_options=options, target="runner-up"
    )
    hardest = evaluate_attack(
        model, test_data, "pgd", 0.1, limit=40, attack_options=options, target=3
    )
    assert easiest.target_reached > hardest.target_reached  # the runner-up is the nearer class
    assert evaluate_attack(model, test_data, "fgsm", 0.1, limit=40).target_reached is None
    with pytest.raises(ValueError, match="runner-up"):
        evaluate_attack(model, test_data, "fgsm", 0.1, limit=4, target=11)
