import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from vonedemo.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_train_then_attack_writes_a_grid(tmp_path, capsys):
    ckpt = tmp_path / "basic.pt"
    assert (
        main(
            [
                "train",
                "--model",
                "basic-cnn",
                "--epochs",
                "1",
                "--limit",
                "3000",
                "--out",
                str(ckpt),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    accuracy = float(out.split("test accuracy ")[1].split("%")[0])
    assert accuracy > 85.0  # 3,000 images, one epoch
    grid = tmp_path / "grid.png"
    assert (
        main(["attack", "--checkpoint", str(ckpt), "--eps", "0.35", "--n", "8", "--out", str(grid)])
        == 0
    )
    out = capsys.readouterr().out
    assert "gradient health" in out and "wrote" in out
    image = Image.open(grid)
    assert image.size[0] > 3 * 28 * 4 and image.mode == "RGB"
    assert (
        main(["evaluate", "--checkpoint", str(ckpt), "--eps", "0", "0.35", "--limit", "200"]) == 0
    )
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("fgsm eps=")]
    acc0, acc35 = (float(ln.split(": ")[1].split("%")[0]) for ln in lines)
    clean = float(out.split("clean accuracy: ")[1].split("%")[0])
    assert acc0 == clean and acc35 < clean


@pytest.mark.parametrize(
    "argv, message",
    [
        (["attack", "--checkpoint", "/nonexistent.pt", "--out", "x.png"], "no such checkpoint"),
        (["evaluate", "--model", "basic-cnn", "--checkpoint-dir"], None),
    ],
)
def test_bad_input_gives_one_clear_line(argv, message, capsys, monkeypatch, tmp_path):
    if message is None:
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        return
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and "\n" not in err


def test_missing_pretrained_says_how_to_regenerate(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("VONEDEMO_CHECKPOINTS", str(tmp_path))
    assert main(["evaluate", "--model", "basic-cnn", "--limit", "10"]) == 2
    assert "vonedemo train" in capsys.readouterr().err


def test_eps_out_of_range_is_an_argument_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["attack", "--model", "mlp", "--eps", "2", "--out", "g.png"])
    assert e.value.code == 2 and "eps" in capsys.readouterr().err


def test_module_entry_point_help():
    for cmd in ([], ["train"], ["attack"], ["evaluate"], ["finetune"]):
        result = subprocess.run(
            [sys.executable, "-m", "vonedemo", *cmd, "--help"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0 and "usage" in result.stdout


def _drawn_seven(path: Path) -> Path:
    from PIL import ImageDraw

    picture = Image.new("L", (280, 280), 255)  # dark ink on white paper, as a pen draws it
    draw = ImageDraw.Draw(picture)
    draw.line((60, 60, 220, 60), fill=0, width=18)
    draw.line((220, 60, 120, 250), fill=0, width=18)
    picture.save(path)
    return path


def test_predict_gives_every_model_s_answer_on_a_drawn_digit(tmp_path, capsys):
    import json

    seven = _drawn_seven(tmp_path / "seven.png")
    assert main(["predict", str(seven), "--json", "--models", "basic-cnn", "vone-mlp"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1
    answer = json.loads(lines[0])
    assert answer["file"] == str(seven) and set(answer["predictions"]) == {"basic-cnn", "vone-mlp"}
    for prediction in answer["predictions"].values():
        assert prediction["label"] == 7 and 0.5 < prediction["confidence"] <= 1.0


@pytest.mark.parametrize(
    ("kind", "message"),
    [("empty", "empty"), ("truncated", "truncated or damaged"), ("text", "not a picture")],
)
def test_predict_refuses_a_bad_file_with_one_error_line(tmp_path, capsys, kind, message):
    seven = _drawn_seven(tmp_path / "seven.png")
    whole = seven.read_bytes()
    bad = tmp_path / "bad.png"
    bad.write_bytes({"empty": b"", "truncated": whole[: len(whole) // 2], "text": b"hello"}[kind])
    assert main(["predict", str(seven), str(bad), "--models", "basic-cnn"]) == 2
    captured = capsys.readouterr()
    assert captured.out.startswith(f"{seven}: basic-cnn 7 (")  # the good file is still answered
    errors = captured.err.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith(f"error: {bad}: ") and message in errors[0]


def test_attack_turns_a_picture_of_your_own_into_the_target(tmp_path, capsys):
    seven = _drawn_seven(tmp_path / "seven.png")
    grid = tmp_path / "grid.png"
    argv = ["attack", "--model", "basic-cnn", "--image", str(seven), "--target", "3"]
    argv += ["--attack", "pgd", "--steps", "20", "--step-size", "0.05", "--out", str(grid)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "adversarial 0/1 right, 1 read as their target" in out and grid.is_file()
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"")
    assert main(["attack", "--model", "basic-cnn", "--image", str(bad), "--out", str(grid)]) == 2
    assert capsys.readouterr().err.startswith("error: The file is empty")


def test_evaluate_reports_a_targeted_success_rate(capsys):
    argv = ["evaluate", "--model", "basic-cnn", "--attack", "pgd", "--steps", "10"]
    argv += ["--step-size", "0.05", "--eps", "0.35", "--limit", "40", "--target", "runner-up"]
    assert main(argv) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("pgd eps=0.350"))
    reached = float(line.split(", ")[1].split("%")[0])
    assert reached >= 80.0 and "read as their target (runner-up)" in line
    with pytest.raises(SystemExit):
        main(["evaluate", "--model", "basic-cnn", "--target", "12"])
