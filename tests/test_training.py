import pytest
import torch
from conftest import tiny_model

from vonedemo.evaluation import accuracy, adversarial_accuracy
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
    assert [s.done for s in steps] == [1, 2] and steps[-1].total == 2
    assert {s.stage for s in steps} == {"train"} and steps[0].metrics["epoch"] == 1
    assert (
        len(epochs) == 1
        and epochs[0].stage == "epoch"
        and (epochs[0].done, epochs[0].total) == (1, 1)
    )
    # The events carry the history's figures.
    assert [s.metrics["loss"] for s in steps] == [s.loss for s in history.steps]
    assert [s.step for s in history.steps] == [1, 2]
    final = history.epochs[0]
    assert epochs[0].metrics["test_accuracy"] == final.test_accuracy
    torch.manual_seed(0)  # the test score is the model's accuracy on those images
    assert final.test_accuracy == accuracy(model, data, limit=1000)
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
    test = test_data.subset(64)
    result = adversarial_finetune(
        model,
        test_data.subset(128),
        test_data,
        FinetuneConfig(rounds=2, train_limit=128, eval_limit=64),
        on_round=rounds.append,
    )
    assert [(r.stage, r.done, r.total) for r in rounds] == [("round", i, 2) for i in range(3)]
    assert [r.round for r in result.rounds] == [0, 1, 2]
    assert rounds[0].metrics["train_loss"] is None and rounds[1].metrics["train_loss"] > 0
    # Round 0 scores the model as it came; the last round, the tuned copy that is returned
    # (a deterministic model: the scores do not depend on the random stream).
    first, last = result.rounds[0], result.rounds[-1]
    assert first.clean_accuracy == accuracy(model, test)
    assert first.adversarial_accuracy == adversarial_accuracy(model, test, "fgsm", 0.35)
    assert last.clean_accuracy == accuracy(result.model, test)
    assert last.adversarial_accuracy == adversarial_accuracy(result.model, test, "fgsm", 0.35)
    assert [r.metrics["clean_accuracy"] for r in rounds] == [
        r.clean_accuracy for r in result.rounds
    ]
    assert result.model is not model
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    assert any(not torch.equal(v, before[k]) for k, v in result.model.state_dict().items())
    assert len(result.curves()["clean"]) == 3


def test_finetuning_crafts_each_batch_from_the_copy_being_trained(test_data, monkeypatch):
    """The study's fine-tuning attacks the current weights: FGSM images crafted from the
    model passed in would train against a fixed, stale attack."""
    from vonedemo import training

    model = tiny_model("basic-cnn").eval()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    crafted_on = []  # (model attacked, its weights still the original's?) per training step
    real = training.create_attack

    def spying(name, **options):
        attack = real(name, **options)

        def spy(target, images, labels, eps, **kwargs):
            same = all(torch.equal(v, original[k]) for k, v in target.state_dict().items())
            crafted_on.append((target, same))
            return attack(target, images, labels, eps, **kwargs)

        return spy

    monkeypatch.setattr(training, "create_attack", spying)
    config = FinetuneConfig(rounds=1, train_limit=96, eval_limit=32, batch_size=32)
    result = adversarial_finetune(model, test_data.subset(96), test_data, config)
    assert len(crafted_on) == 3  # one crafting per training step
    assert all(target is result.model for target, _ in crafted_on)
    # Step 1 attacks the untouched copy; every later step, the weights the last step made.
    assert [same for _, same in crafted_on] == [True, False, False]


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


class _Killed(Exception):
    pass


@pytest.mark.parametrize("name", ["basic-cnn", "vone-basic-cnn"])
def test_a_killed_finetuning_run_resumes_to_the_same_curve(tmp_path, name):
    from vonedemo.data import load_mnist

    train_set, test_set = load_mnist("train"), load_mnist("test")
    config = FinetuneConfig(rounds=3, train_limit=64, eval_limit=40, batch_size=32)
    model = tiny_model(name)
    whole = adversarial_finetune(model, train_set, test_set, config).curves()

    state = tmp_path / "run.pt"

    def kill_after_round_1(progress):
        if progress.done == 1:
            raise _Killed  # as if the process died right after round 1 was saved

    with pytest.raises(_Killed):
        adversarial_finetune(
            model, train_set, test_set, config, on_round=kill_after_round_1, state_file=state
        )
    seen = []
    resumed = adversarial_finetune(
        model, train_set, test_set, config, state_file=state, on_round=seen.append
    )
    assert resumed.curves() == whole  # the same curve as a run that never stopped
    assert [p.done for p in seen] == [0, 1, 2, 3]  # earlier rounds reported again, from the file
    assert [r.round for r in resumed.rounds] == [0, 1, 2, 3]
    again = adversarial_finetune(model, train_set, test_set, config, state_file=state)
    assert again.curves() == whole  # a finished run resumes to its end at once
    # A finished run keeps its weights and curve, not the optimizer it no longer needs.
    saved = torch.load(state, weights_only=True)
    assert "optimizer" not in saved and len(saved["rounds"]) == 4
    assert torch.equal(
        next(iter(saved["model"].values())), next(iter(resumed.model.state_dict().values()))
    )


def test_a_finished_runs_state_is_trimmed_and_an_unfinished_one_without_optimizer_refused(
    tmp_path, test_data
):
    from vonedemo.data import load_mnist
    from vonedemo.training import trim_finished_state

    state = tmp_path / "run.pt"
    config = FinetuneConfig(rounds=2, train_limit=32, eval_limit=20, batch_size=32)
    model = tiny_model("basic-cnn")

    def kill_after_round_1(progress):
        if progress.done == 1:
            raise _Killed

    with pytest.raises(_Killed):
        adversarial_finetune(
            model,
            load_mnist("train"),
            test_data,
            config,
            on_round=kill_after_round_1,
            state_file=state,
        )
    assert not trim_finished_state(state)  # unfinished: it still needs its optimizer
    unfinished = torch.load(state, weights_only=True)
    assert "optimizer" in unfinished
    # A state saved before finished runs dropped it: trimmed once, then left alone.
    finished = {**unfinished, "rounds": unfinished["rounds"] * 2}
    torch.save(finished, state)
    assert trim_finished_state(state) and not trim_finished_state(state)
    assert "optimizer" not in torch.load(state, weights_only=True)
    del unfinished["optimizer"]
    torch.save(unfinished, state)
    with pytest.raises(ValueError, match="without its optimizer"):
        adversarial_finetune(model, load_mnist("train"), test_data, config, state_file=state)


def test_a_state_file_of_other_settings_or_junk_is_refused(tmp_path, test_data):
    from vonedemo.data import load_mnist

    state = tmp_path / "run.pt"
    model = tiny_model("basic-cnn")
    small = FinetuneConfig(rounds=1, train_limit=32, eval_limit=20, batch_size=32)
    adversarial_finetune(model, load_mnist("train"), test_data, small, state_file=state)
    other = FinetuneConfig(rounds=2, train_limit=32, eval_limit=20, batch_size=32)
    with pytest.raises(ValueError, match="other settings"):
        adversarial_finetune(model, load_mnist("train"), test_data, other, state_file=state)
    state.write_bytes(b"not a state")
    with pytest.raises(ValueError, match="not a readable fine-tuning state"):
        adversarial_finetune(model, load_mnist("train"), test_data, small, state_file=state)
