"""One chart style: the app's figures and the files reproduce writes draw a model alike."""

from ui import charts
from vonedemo import plots, style
from vonedemo.models import model_label


def test_the_app_and_the_result_files_draw_each_model_alike():
    points = [{"eps": 0.0, "accuracy": 98.0}, {"eps": 0.35, "accuracy": 10.0}]
    names = ["basic-cnn", "vone-basic-cnn", "mlp"]
    app = charts.eps_figure({model_label(n): points for n in names})
    files = plots.eps_curves_figure({n: points for n in names})
    app_lines = {t.name: (t.line.dash, t.line.color) for t in app.data}
    file_lines = {t.name: (t.line.dash, t.line.color) for t in files.data}
    assert app_lines == file_lines
    assert app_lines["Basic-CNN"] == ("solid", app_lines["VOne-CNN"][1])  # twins share a colour
    assert app_lines["VOne-CNN"][0] == "dot"
    assert app_lines["Linear-Regression"][1] != app_lines["Basic-CNN"][1]


def test_the_studys_curves_are_dashed_everywhere_and_legends_sit_beside():
    study = {"clean": [99.0, 95.0], "adversarial": [8.0, 60.0]}
    app = charts.finetune_figure([{"round": 0, "clean": 98.0, "adversarial": 7.0}], 1, study, "x")
    files = plots.finetune_figure(
        {"basic-cnn": {"clean": [98.0], "adversarial": [7.0]}}, {"basic-cnn": study}
    )
    for figure in (app, files):
        dashes = {t.name: t.line.dash for t in figure.data}
        assert all(d == style.STUDY_DASH for n, d in dashes.items() if "study" in n), dashes
        assert all(d != style.STUDY_DASH for n, d in dashes.items() if "study" not in n), dashes
        assert figure.layout.legend.x > 1  # right of the plot: clear of the title, axis titles
