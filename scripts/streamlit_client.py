"""A client of Streamlit's own websocket protocol: one simulated browser tab on one page.

It speaks what the browser speaks on ``/_stcore/stream`` — binary ``BackMsg`` reruns carrying the
widget states, ``ForwardMsg`` answers — and downloads each ``st.image`` from ``/media/...`` as a
browser would, so a script can measure what a user waits for without a headless browser per
user. It only ever connects to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field

from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Element_pb2 import Element
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect

LOOPBACK = "127.0.0.1"  # the only host this client ever connects to
RESPONSE_TIMEOUT_S = 30.0  # a response slower than this is an error
DRIVEN_WIDGETS = ("slider", "selectbox")  # the widget kinds whose ids this client learns


class ResponseTimeout(RuntimeError):
    """No complete response within RESPONSE_TIMEOUT_S."""


@dataclass(frozen=True)
class Page:
    """Which page of a multipage app a session opens, and how a run proves it showed it."""

    url_name: str  # the page's URL path, e.g. "Attack_explorer" for pages/1_Attack_explorer.py
    proof_key: str  # key of a widget that only this page renders
    proof_label: str  # how error messages name that widget


@dataclass
class RunResult:
    sent: float
    grid_s: float | None  # until the last image was downloaded
    run_s: float  # until script_finished and every image
    images: int
    errors: list[str] = field(default_factory=list)


async def fetch_media(port: int, path: str) -> float:
    """GET one ``/media/...`` file over HTTP/1.1 like a browser; returns when it is complete.
    A tiny asyncio client: no new dependency, no thread per download. A ``data:`` URL (the
    picture travels inside the message) has nothing left to fetch."""
    if path.startswith("data:image/"):
        return time.monotonic()
    if not path.startswith("/"):
        raise ValueError(f"unexpected media URL {path!r}")  # absolute URLs could leave 127.0.0.1
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nConnection: close\r\n\r\n".encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        body = await reader.read()  # Connection: close, so the body ends at EOF
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)
    }
    if status != 200:
        raise OSError(f"GET {path}: HTTP {status}")
    if "content-length" in headers and int(headers["content-length"]) != len(body):
        raise OSError(f"GET {path}: {len(body)} of {headers['content-length']} bytes")
    return time.monotonic()


class PageSession:
    """One browser tab on ``page``: holds its widget states and resends them on every rerun."""

    def __init__(self, index: int, port: int, page: Page) -> None:
        self.index = index
        self.port = port
        self.page = page
        self.ws: ClientConnection | None = None
        self.page_script_hash = ""  # learnt from the navigation message; the first run asks by name
        self.widgets: dict[str, WidgetState] = {}  # what this "browser" holds, resent every rerun
        self.widget_ids: dict[str, str] = {}  # widget key -> Streamlit widget id
        self.options: dict[str, list[str]] = {}  # selectbox key -> the labels it offers

    async def connect(self) -> None:
        url = f"ws://{LOOPBACK}:{self.port}/_stcore/stream"
        # The browser offers the subprotocol "streamlit" (then an XSRF token and a session id to
        # resume, both absent here) and sends its Origin; max_size: plot messages can be large.
        self.ws = await asyncio.wait_for(
            connect(
                url,
                subprotocols=["streamlit"],
                origin=f"http://{LOOPBACK}:{self.port}",
                max_size=64 * 2**20,
                open_timeout=RESPONSE_TIMEOUT_S,
            ),
            RESPONSE_TIMEOUT_S,
        )

    async def close(self) -> None:
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)
            self.ws = None

    def set_slider(self, key: str, value: float) -> None:
        self.widgets[key] = WidgetState(id=self.widget_ids[key])
        self.widgets[key].double_array_value.data.append(value)

    def set_selectbox(self, key: str, label: str) -> None:
        # A selectbox's widget value is the label it shows (format_func applied), not the key.
        self.widgets[key] = WidgetState(id=self.widget_ids[key], string_value=label)

    def _rerun_msg(self) -> bytes:
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = ""
        state.page_script_hash = self.page_script_hash
        state.page_name = "" if self.page_script_hash else self.page.url_name
        # No cached_message_hashes: the server then sends every element in full instead of
        # references to a ForwardMsg cache this client does not keep.
        state.widget_states.widgets.extend(self.widgets.values())
        return msg.SerializeToString()

    def _note_widget(self, element: Element) -> str | None:
        """Remember the ids (and a selectbox's options) of the widgets this client can drive;
        returns the widget's key."""
        kind = element.WhichOneof("type")
        if kind not in DRIVEN_WIDGETS:
            return None
        proto = getattr(element, kind)
        key = proto.id.rsplit("-", 1)[-1]  # widget ids end with "-<user key>"
        self.widget_ids[key] = proto.id
        if kind == "selectbox":
            self.options[key] = list(proto.options)
        return key

    async def run_page(self) -> RunResult:
        """Send one rerun with the current widget states and wait for its complete response."""
        assert self.ws is not None
        sent = time.monotonic()
        deadline = sent + RESPONSE_TIMEOUT_S
        await self.ws.send(self._rerun_msg())
        started = False
        rendered_proof = False  # proof that this run showed self.page
        run_id = ""
        fetches: list[asyncio.Task[float]] = []
        errors: list[str] = []
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ResponseTimeout
                try:
                    raw = await asyncio.wait_for(self.ws.recv(), remaining)
                except TimeoutError as e:
                    raise ResponseTimeout from e
                msg = ForwardMsg()
                msg.ParseFromString(raw)
                kind = msg.WhichOneof("type")
                if kind == "new_session":
                    started = True  # anything before this belonged to an earlier run
                    run_id = msg.metadata.run.script_run_id
                elif not started:
                    continue
                elif kind == "navigation":
                    # new_session names the main script; the page actually shown is here. The
                    # browser sends this hash back on every rerun to stay on the page.
                    pages = {p.url_pathname: p.page_script_hash for p in msg.navigation.app_pages}
                    self.page_script_hash = pages.get(self.page.url_name, "")
                    if msg.navigation.page_script_hash != self.page_script_hash:
                        errors.append(f"the app did not open the {self.page.url_name} page")
                elif kind == "ref_hash":
                    errors.append(
                        "the server sent a cached-message reference this client never cached"
                    )
                elif kind == "page_not_found":
                    errors.append(f"page not found: {msg.page_not_found.page_name!r}")
                elif kind == "delta" and msg.delta.WhichOneof("type") == "new_element":
                    element = msg.delta.new_element
                    etype = element.WhichOneof("type")
                    if etype == "imgs":
                        fetches += [
                            asyncio.create_task(fetch_media(self.port, img.url))
                            for img in element.imgs.imgs
                        ]
                    elif etype == "exception":
                        errors.append(
                            f"exception shown: {element.exception.type}: {element.exception.message[:200]}"
                        )
                    elif etype == "alert" and element.alert.format == Alert.ERROR:
                        errors.append(f"error shown: {element.alert.body[:200]}")
                    else:
                        rendered_proof |= self._note_widget(element) == self.page.proof_key
                elif kind == "script_finished":
                    finished_id = msg.metadata.run.script_run_id
                    if run_id and finished_id and finished_id != run_id:
                        continue  # the end of some other run
                    status = msg.script_finished
                    if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                        errors.append("the page failed to compile")
                    elif status == ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                        errors.append("the run was interrupted by another rerun")
                    elif not rendered_proof:
                        errors.append(f"the run did not render {self.page.proof_label}")
                    break
            done: list[float] = []
            if fetches:
                remaining = max(deadline - time.monotonic(), 0.001)
                try:
                    results = await asyncio.wait_for(
                        asyncio.gather(*fetches, return_exceptions=True), remaining
                    )
                except TimeoutError as e:
                    raise ResponseTimeout from e
                for r in results:
                    if isinstance(r, BaseException):
                        errors.append(f"image download failed: {r}")
                    else:
                        done.append(r)
        finally:
            for task in fetches:
                task.cancel()
        grid = max(done) - sent if done else None
        return RunResult(sent, grid, time.monotonic() - sent, len(done), errors)
