"""Presenter mode: the lesson, step by step, in large type for the projector."""

from ui import presenter, widgets
from ui.i18n import t

presenter.setup()

with widgets.guard(t("presenter.what")):
    step = presenter.current_step()
    presenter.stepper(step)
    presenter.show(step)
