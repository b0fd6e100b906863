"""Predict, then reveal: the class votes on an attacked digit before the teacher shows the answer."""

from ui import quiz, widgets
from ui.i18n import t

widgets.page_setup(t("quiz.title"), "🗳️", t("quiz.intro"))

with widgets.guard(t("quiz.what")):
    if quiz.is_teacher():
        question = quiz.teacher_pick()  # what every student's screen shows
        quiz.teacher_view(question)
    else:
        quiz.student_view()
