"""Lesson links: every page's state round-trips through its URL (set the widgets, read the URL,
open a new session on it: the same widgets and the same picture or table), and a forged or stale
link falls back to the defaults with a short notice — never a traceback, never its markup."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from streamlit.testing.v1 import AppTest
from test_app import (  # noqa: F401  (app_env is a fixture)
    COMPARE,
    EXPLORER,
    FINETUNE,
    HOME,
    TIMEOUT,
    TRAIN,
    VONE,
    app_env,
    assert_clean,
    seven_png,
    texts,
)

from ui import links
from ui.i18n import catalog

pytestmark = pytest.mark.usefixtures("app_env")  # tiny models, every folder in tmp_path
AUDIT = "pages/6_Is_it_real.py"
DIGIT = "pages/7_Your_digit.py"


def open_with(page: str | None, query: dict[str, str]) -> AppTest:
    """A new session on ``page`` opened from a link with ``query``."""
    at = AppTest.from_file(str(HOME), default_timeout=TIMEOUT)
    for name, value in query.items():
        at.query_params[name] = value
    if page:
        at.switch_page(page)
    at.run()
    assert_clean(at)
    return at


def step(widget) -> AppTest:
    at = widget.run()
    assert_clean(at)
    return at


def url_of(at: AppTest) -> dict[str, str]:
    """The URL's settings, as the page's own copy-link block shows them."""
    query = {k: at.query_params[k] for k in at.query_params}
    shown = dict(parse_qsl(urlsplit(at.code[-1].value).query))
    assert shown == query  # the link on the page is the URL
    return query


def notices(at: AppTest) -> list[str]:
    """The link's notices (a page may warn of other things too)."""
    start = catalog("en")["links.fallback"].split("(")[0]
    return [w.value for w in at.warning if w.value.startswith(start)]


def values(at: AppTest, keys: list[str]) -> dict:
    return {k: at.session_state[k] for k in keys}


def frames(at: AppTest) -> list:
    return [df.value.to_dict("list") for df in at.dataframe]


def images(at: AppTest) -> list:
    return [i.proto.imgs[0].url for i in at.image]


def round_trip(at: AppTest, page: str | None, keys: list[str]) -> AppTest:
    """Open the URL ``at`` shows in a new session; it must show the same state."""
    again = open_with(page, url_of(at))
    assert values(again, keys) == values(at, keys)
    assert notices(again) == []
    return again


# --- every page round-trips --------------------------------------------------------------------
def test_home_round_trips():
    at = open_with(None, {})
    at = step(at.button(key="home_next").click())
    at = step(at.button(key="home_next").click())
    assert url_of(at)["digit"] == "2"
    again = round_trip(at, None, ["home_index"])
    assert texts(again) == texts(at)


def test_explorer_round_trips():
    at = open_with(EXPLORER, {})
    at = step(at.selectbox(key="ae_model").set_value("pretrained:vone-basic-cnn"))
    at = step(at.radio(key="ae_attack").set_value("pgd"))
    at = step(at.slider(key="ae_pgd_steps").set_value(3))
    at = step(at.slider(key="ae_eps").set_value(0.12))
    at = step(at.radio(key="ae_gradient").set_value("repaired"))
    at = step(at.slider(key="ae_eot").set_value(2))
    at = step(at.selectbox(key="ae_target").set_value("3"))
    at = step(at.radio(key="ae_noise").set_value("seeded"))
    at = step(at.select_slider(key="ae_n").set_value(8))
    at = step(at.number_input(key="ae_seed").set_value(7))
    at = step(at.select_slider(key="ae_sample").set_value(50))
    at = step(at.selectbox(key="ae_digit").set_value(5))
    query = url_of(at)
    assert query["eps"] == "0.12" and query["model"] == "pretrained:vone-basic-cnn"
    keys = [p.key for p in links.EXPLORER.params]
    again = round_trip(at, EXPLORER, keys)
    assert frames(again) == frames(at) and images(again) == images(at)
    assert texts(again) == texts(at)


def test_train_round_trips():
    at = open_with(TRAIN, {})
    at = step(at.selectbox(key="tr_model").set_value("mlp"))
    at = step(at.slider(key="tr_epochs").set_value(3))
    at = step(at.select_slider(key="tr_lr").set_value(3e-4))
    at = step(at.select_slider(key="tr_batch").set_value(32))
    at = step(at.select_slider(key="tr_size").set_value(500))
    again = round_trip(at, TRAIN, [p.key for p in links.TRAIN.params])
    assert [c.value for c in again.caption] == [c.value for c in at.caption]


def test_finetune_round_trips():
    at = open_with(FINETUNE, {})
    at = step(at.selectbox(key="ft_model").set_value("pretrained:mlp"))
    at = step(at.slider(key="ft_eps").set_value(0.2))
    at = step(at.slider(key="ft_rounds").set_value(3))
    at = step(at.radio(key="ft_gradient").set_value("repaired"))
    at = step(at.select_slider(key="ft_lr").set_value(3e-5))
    at = step(at.select_slider(key="ft_train").set_value(500))
    at = step(at.select_slider(key="ft_eval").set_value(100))
    round_trip(at, FINETUNE, [p.key for p in links.FINETUNE.params])


def test_compare_round_trips():
    at = open_with(COMPARE, {})
    at = step(at.select_slider(key="cmp_limit").set_value(50))
    again = round_trip(at, COMPARE, ["cmp_limit"])
    assert frames(again) == frames(at)


def test_vone_block_round_trips():
    at = open_with(VONE, {})
    at = step(at.selectbox(key="v1_sort").set_value("ori"))
    at = step(at.toggle(key="v1_desc").set_value(True))
    at = step(at.radio(key="v1_kind").set_value("complex"))
    at = step(at.radio(key="v1_part").set_value("q1"))
    at = step(at.select_slider(key="v1_count").set_value(32))
    at = step(at.number_input(key="v1_index").set_value(5))
    channel = int(at.selectbox(key="v1_channel").options[2].split()[1])  # "ch 8 (…)"
    at = step(at.selectbox(key="v1_channel").set_value(channel))
    at = step(at.slider(key="v1_noise_n").set_value(3))
    at = step(at.slider(key="v1_eps").set_value(0.2))
    at = step(at.radio(key="v1_gradient").set_value("repaired"))
    again = round_trip(at, VONE, [p.key for p in links.VONE.params])
    assert frames(again) == frames(at) and images(again) == images(at)


def test_audit_round_trips():
    at = open_with(AUDIT, {})
    at = step(at.selectbox(key="real_model").set_value("pretrained:vone-basic-cnn"))
    at = step(at.select_slider(key="real_limit").set_value(20))
    round_trip(at, AUDIT, ["real_model", "real_limit"])


def _with_digit(at: AppTest) -> AppTest:
    return step(at.file_uploader(key="yd_file").set_value(("7.png", seven_png(), "image/png")))


def test_your_digit_round_trips():
    at = _with_digit(open_with(DIGIT, {}))
    at = step(at.selectbox(key="yd_model").set_value("pretrained:mlp"))
    at = step(at.radio(key="yd_attack").set_value("fgsm"))
    at = step(at.radio(key="yd_gradient").set_value("raw"))
    at = step(at.selectbox(key="yd_target").set_value("runner-up"))
    at = step(at.slider(key="yd_eps").set_value(0.3))
    query = url_of(at)
    again = _with_digit(open_with(DIGIT, query))  # a link carries the settings, not the picture
    keys = [p.key for p in links.DIGIT.params]
    assert values(again, keys) == values(at, keys)
    assert frames(again) == frames(at) and images(again) == images(at)


def test_a_new_link_in_the_same_session_is_read():
    """A tab that already shows the page opens another link: its settings win, once; moving a
    widget afterwards is not undone by the URL."""
    at = open_with(EXPLORER, {})
    at = step(at.slider(key="ae_eps").set_value(0.3))
    at.query_params["eps"], at.query_params["seed"] = "0.05", "9"
    at = step(at)
    assert (at.session_state["ae_eps"], at.session_state["ae_seed"]) == (0.05, 9)
    at = step(at.slider(key="ae_eps").set_value(0.4))
    assert at.session_state["ae_eps"] == 0.4 and url_of(at)["eps"] == "0.4"


def test_a_late_echo_of_the_sessions_own_url_does_not_undo_a_move():
    """Quick slider moves: a rerun can carry a URL the session wrote a few runs before (the browser
    had not yet taken the newer one). That echo must not pull the slider back."""
    at = open_with(EXPLORER, {})
    at = step(at.slider(key="ae_eps").set_value(0.3))
    at = step(at.slider(key="ae_eps").set_value(0.2))
    at.query_params["eps"] = "0.3"  # the URL of two runs ago, arriving late
    at = step(at.slider(key="ae_eps").set_value(0.1))
    assert at.session_state["ae_eps"] == 0.1 and url_of(at)["eps"] == "0.1"
    assert notices(at) == []


# --- forged and stale links --------------------------------------------------------------------
FORGED = {
    "model": "pretrained:no-such-model",
    "eps": "0.9",
    "seed": "99999999999999999999",
    "attack": "<script>alert(1)</script>",
    "gradient": "**bold**",
    "noise": "<img src=x onerror=alert(1)>",
    "digit": "abc",
    "eot": "-1",
    "n": "16<b>",
}


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("model", "pretrained:no-such-model"),  # unknown (or deleted: stale) model
        ("model", "app:../../etc/passwd"),
        ("eps", "0.9"),
        ("eps", "-0.1"),
        ("eps", "nan"),
        ("eps", "inf"),
        ("eps", "1e400"),
        ("eps", "0.1; drop"),
        ("seed", "99999999999999999999"),
        ("seed", "1e3"),
        ("seed", "-5"),
        ("seed", "seven"),
        ("seed", " 7"),
        ("attack", "<script>alert(1)</script>"),
        ("target", "11"),
        ("n", "17"),
        ("digit", "32"),
    ],
)
def test_a_forged_value_is_refused(param, value):
    read, refused = links.read(links.EXPLORER, {param: value})
    assert read == {} and refused == [param]


def test_valid_values_are_read_typed():
    query = {"eps": "0.1", "seed": "42", "n": "8", "target": "runner-up", "lr": "x"}
    read, refused = links.read(links.EXPLORER, query | {"lang": "ko"})
    assert read == {"ae_eps": 0.1, "ae_seed": 42, "ae_n": 8, "ae_target": "runner-up"}
    assert refused == []  # "lr" is not the explorer's: ignored
    assert links.read(links.VONE, {"desc": "1"})[0] == {"v1_desc": True}
    assert links.read(links.TRAIN, {"lr": "0.0003"})[0] == {"tr_lr": 3e-4}


def test_a_forged_link_shows_the_defaults_with_a_notice():
    at = open_with(EXPLORER, FORGED)
    clean = open_with(EXPLORER, {})
    keys = [p.key for p in links.EXPLORER.params]
    assert values(at, keys) == values(clean, keys)
    assert len(notices(at)) == 1
    notice = notices(at)[0]
    assert all(name in notice for name in FORGED)
    assert all(value not in notice for value in FORGED.values())
    shown = "\n".join(texts(at).splitlines() + [w.value for w in at.warning])
    assert "<script>" not in shown and "onerror" not in shown and "**bold**" not in shown
    # The URL is mended: it now names the defaults, so the copied link is a good one.
    assert url_of(at)["eps"] == "0.35" and url_of(at)["model"] == "pretrained:basic-cnn"


@pytest.mark.parametrize(
    ("page", "query"),
    [
        (None, {"digit": "-3"}),
        (TRAIN, {"model": "resnet", "epochs": "1000", "lr": "1"}),
        (FINETUNE, {"model": "app:gone.pt", "rounds": "0", "eps": "0.51"}),
        (COMPARE, {"limit": "1000000"}),
        (VONE, {"source": "<b>x</b>", "digit": "100000", "desc": "yes", "count": "0"}),
        (AUDIT, {"model": "app:mine.pt", "limit": "5000"}),
        (DIGIT, {"model": "pretrained:nope", "steps": "61", "target": "ten"}),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_every_page_survives_a_forged_link(page, query):
    at = open_with(page, query)
    assert len(notices(at)) == 1 and all(name in notices(at)[0] for name in query)
