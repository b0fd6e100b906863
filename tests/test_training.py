import pytest
import torch
from conftest import tiny_model

from vonedemo.training import FinetuneConfig, TrainConfig, adversarial_finetune, train


def test_two_step_train_fires_callbacks_and_learns(test_data):
    model = tiny_model("basic-cnn")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    steps, epochs = [], []
    data = test_data.subset(128)
    history = train(
        model,
        data,
        TrainConfig(epochs=1, batch_size=64),
        test_data=data,
        on_step=steps.append,
        on_epoch=epochs.append,
    )
    assert [s.step for s in steps] == [1, 2] and steps[-1].total_steps == 2
    assert len(epochs) == 1 and epochs[0].test_accuracy is not None
    assert history.steps == steps and history.epochs == epochs
    assert any(not torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert all(p.grad is None for p in model.parameters())


def test_training_is_seeded_and_deterministic(test_data):
    data = test_data.subset(192)
    runs = []
    for _ in range(2):
        model = tiny_model("vone-basic-cnn")
        train(model, data, TrainConfig(epochs=1, seed=3, eval_limit=None))
        runs.append(model.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])


def test_should_stop_ends_early(test_data):
    model = tiny_model("mlp")
    history = train(model, test_data.subset(640), TrainConfig(epochs=3), should_stop=lambda: True)
    assert history.stopped_early and len(history.steps) == 1


def test_adversarial_finetune_works_on_a_copy_and_reports_rounds(test_data):
    model = tiny_model("basic-cnn")
    model.eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rounds = []
    result = adversarial_finetune(
        model,
        test_data.subset(128),
        test_data.subset(64),
        FinetuneConfig(rounds=2, train_limit=128, eval_limit=64),
        on_round=rounds.append,
    )
    assert [r.round for r in rounds] == [0, 1, 2]
    assert rounds[0].train_loss is None and rounds[1].train_loss is not None
    assert all(0 <= r.clean_accuracy <= 1 and 0 <= r.adversarial_accuracy <= 1 for r in rounds)
    assert result.model is not model
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert any(not torch.equal(v, before[k]) for k, v in result.model.state_dict().items())
    assert len(result.curves()["clean"]) == 3


@pytest.mark.parametrize("bad", [{"epochs": 0}, {"lr": 0.0}, {"batch_size": -1}])
def test_bad_train_config(bad):
    with pytest.raises(ValueError):
        TrainConfig(**bad)


def test_bad_finetune_config():
    with pytest.raises(ValueError, match="eps"):
        FinetuneConfig(eps=2.0)


def test_adversarial_warmup_ramps_eps_from_zero(test_data, monkeypatch):
    """With a warm-up the first batches are attacked at a small eps, growing to adv_eps."""
    from vonedemo import training

    seen: list[float] = []
    real = training._adversarial_batch

    def spy(model, images, labels, config, step, ramp=1.0):
        adv = real(model, images, labels, config, step, ramp)
        seen.append(float((adv - images).abs().max()))
        return adv

    monkeypatch.setattr(training, "_adversarial_batch", spy)
    data = test_data.subset(64)
    config = TrainConfig(
        epochs=2,
        batch_size=16,
        adversarial="pgd",
        adv_eps=0.3,
        adv_steps=2,
        adv_step_size=0.2,
        adv_warmup_epochs=1,
    )
    train(tiny_model("basic-cnn"), data, config)
    assert len(seen) == 8
    assert seen[0] <= 0.3 / 4 + 1e-6  # step 1 of 4 warm-up steps
    assert seen[:4] == sorted(seen[:4]) and all(abs(s - 0.3) < 1e-6 for s in seen[3:])
    with pytest.raises(ValueError, match="adv_warmup_epochs"):
        TrainConfig(adv_warmup_epochs=-1)
