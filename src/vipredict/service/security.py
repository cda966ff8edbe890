"""What stands in front of every route: API keys, bounded bodies, upload hygiene, answer headers.

The body is read once by :class:`SecurityMiddleware`, bounded per route (uploads
and queues by ``VIPREDICT_MAX_BYTES``, ``/predict`` by what ``VIPREDICT_MAX_VARIANTS``
variants can take, every other route by :data:`SMALL_BODY_BYTES`) whatever the
Content-Length claims, then replayed to the app. A JSON body with a ``variants``
array is counted off the event loop before anything parses it into models.

With ``VIPREDICT_API_KEYS`` set, everything but the health probes needs a key,
``/metrics``, ``/docs.json`` and the Swagger page included, and the key names the
curator of any decision; with none set, the service is for loopback only (it
refuses to bind elsewhere: :func:`exposure_refusal`), reads are open and writes
refused. Requests that arrive on a loopback address must name a loopback Host,
so a DNS-rebinding page cannot read a curator's local service.

Upload routes must carry exactly one file part, as file content: BentoML fetches
any URL given in its place, and resolves every part of that name. Compressed
uploads are inflated within the same byte limit in linear time
(:func:`gunzip_bounded`). Every answer, errors and 401s included, carries
``nosniff`` and a Content-Security-Policy (:func:`security_headers`).

The curators' page (``/ui``, :mod:`vipredict.service.ui`) follows the same rules. A
browser cannot add a header to a link, so the key a curator types into the page's
sign-in form is kept in a cookie (:data:`KEY_COOKIE`: HttpOnly, SameSite=Strict, path
``/ui``, never in a URL) that is accepted on ``/ui`` paths only; a page ``POST`` must
come from the page's own origin (``Origin``/``Sec-Fetch-Site``), and refusals on ``/ui``
are HTML pages rather than JSON.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import json
import re
import urllib.parse
import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

import anyio.to_thread
from starlette.datastructures import UploadFile
from starlette.requests import Request, cookie_parser

from vipredict import deadline
from vipredict.config import Limits, Settings, get_settings
from vipredict.io.files import GZIP_MAGIC

#: Paths that stay open without an API key (orchestrators probe them unauthenticated).
HEALTH_PATHS = frozenset(("/healthz", "/livez", "/readyz"))
#: Upload routes and their file field; the file must arrive as one real file part.
UPLOAD_FIELDS: Mapping[str, str] = {"/predict/vcf": "file"}
#: Routes that write the curation-queue database: an API key is required even when
#: ``VIPREDICT_API_KEYS`` is unset (then they are refused with 403).
WRITE_ROUTES = re.compile(r"^/queue(/[^/]+/(decisions|reviews))?/?$")
#: The curators' page: every path under it, its assets (open: they hold no queue data),
#: its sign-in and sign-out (open: they carry the key or drop it) and its upload.
UI_PREFIX = "/ui"
UI_STATIC_PREFIX = "/ui/static/"
UI_LOGIN = "/ui/login"
UI_LOGOUT = "/ui/logout"
UI_UPLOAD = "/ui/upload"
#: The cookie that carries the page's key (accepted on ``/ui`` paths only).
KEY_COOKIE = "vipredict_key"
#: Routes whose body may carry VCF text, bounded by ``VIPREDICT_MAX_BYTES`` alone.
TEXT_BODY_ROUTES = frozenset(("/queue", UI_UPLOAD, *UPLOAD_FIELDS))
#: JSON routes whose body holds a ``variants`` array: counted before anything parses it.
VARIANT_ROUTES = frozenset(("/predict", "/queue"))
#: ``/predict`` body bytes per allowed variant: a key is ~40 bytes, its five parts ~70,
#: so 10,000 variants fit in ~3 MB. Variants sent with their own annotations (~0.5 kB,
#: ~1.8 kB with two gnomAD datasets) go in smaller requests.
JSON_BYTES_PER_VARIANT = 300
#: Room for the envelope and whitespace on top of the per-variant bytes.
JSON_SLACK_BYTES = 64 * 1024
#: JSON objects and arrays per allowed variant (one with every inline field has 29):
#: a flood of ``{}`` is refused by a count of bytes, before any parser allocates it.
JSON_CONTAINERS_PER_VARIANT = 32
#: Body bound of every other route (a decision's note is at most 4,000 characters).
SMALL_BODY_BYTES = 64 * 1024
#: Bodies above this many bytes hold one of :data:`MAX_LARGE_BODIES` slots while in flight.
LARGE_BODY_BYTES = 1024 * 1024
#: Large bodies in flight at once; one more is answered 503 (their copies multiply memory).
MAX_LARGE_BODIES = 2
#: BentoML's request timeout; work still running past it stops (:mod:`.deadline`).
REQUEST_TIMEOUT_S = 300
#: Host names a request arriving on a loopback address may name (any port).
LOOPBACK_NAMES = frozenset(("localhost", "127.0.0.1", "[::1]"))
#: Where the middleware leaves the authenticated curator id in the ASGI scope.
CURATOR_SCOPE_KEY = "vipredict.curator"
#: Whether the service has API keys at all (the page offers a sign-in only then).
KEYED_SCOPE_KEY = "vipredict.keyed"
#: Content-Security-Policy of JSON and text answers: nothing may load, nothing may frame it.
CSP_DATA = "default-src 'none'; frame-ancestors 'none'"
#: The audit report: inline styles and its embedded (data:) PNG plots, no script.
CSP_AUDIT = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
#: BentoML's Swagger page: its own scripts and styles only (its inline tag manager stays off).
CSP_UI = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
#: The curators' page: its own script and style files only (no inline script or style),
#: inline SVG drawn by the server, forms posting back to itself.
CSP_WORKBENCH = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


class ServingError(Exception):
    """A whole-request refusal with its HTTP status (per-variant problems are not this)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> bytes:
        return json.dumps({"error": self.message}).encode()


def too_many_variants(counted: str, limits: Limits) -> ServingError:
    """The 413 past ``VIPREDICT_MAX_VARIANTS`` (the one wording of that refusal);
    ``counted`` says how many were seen ("12001 variants", "more than 10,000 variants")."""
    return ServingError(
        413, f"{counted} in one request; the limit is VIPREDICT_MAX_VARIANTS={limits.max_variants}"
    )


def check_count(n: int, limits: Limits) -> None:
    """413 past ``VIPREDICT_MAX_VARIANTS`` for a request whose variants are all counted."""
    if n > limits.max_variants:
        raise too_many_variants(f"{n} variants", limits)


def is_ui(path: str) -> bool:
    """True for the curators' page and everything under it."""
    return path == UI_PREFIX or path.startswith(UI_PREFIX + "/")


def _ui_open(path: str) -> bool:
    """Page paths that need no key: its assets, its sign-in and its sign-out."""
    return path.startswith(UI_STATIC_PREFIX) or path in (UI_LOGIN, UI_LOGOUT)


def html_refusal(status: int, message: str) -> bytes:
    """The plain HTML page of a refusal on ``/ui`` (the page's own renderer is preferred)."""
    text = html.escape(message)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{status}</title>'
        f'<link rel="stylesheet" href="{UI_STATIC_PREFIX}ui.css"></head><body><main>'
        f"<h1>Refused ({status})</h1><p>{text}</p>"
        f'<p><a href="{UI_PREFIX}">Back to the queues</a></p></main></body></html>'
    ).encode()


# --------------------------------------------------------------------------- exposure


def is_loopback(host: str) -> bool:
    """True for a loopback address or ``localhost`` (``0.0.0.0`` and ``::`` are every interface)."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_refusal(hosts: Iterable[str], settings: Settings) -> str | None:
    """Why the service must not listen on ``hosts``, or None when it may.

    Without API keys every read (queues with patient variants and notes) is open, so
    the service listens on loopback only.
    """
    exposed = sorted({h for h in hosts if not is_loopback(h)})
    if not exposed or settings.api_keys:
        return None
    return (
        f"refusing to listen on {', '.join(exposed)} without API keys: every read would be "
        "open to the network. Set VIPREDICT_API_KEYS (curator:KEY,...) or bind 127.0.0.1"
    )


def listening_hosts() -> list[str]:
    """The addresses this process listens on (a BentoML worker inherits its socket)."""
    import psutil  # a BentoML dependency

    return [
        c.laddr.ip
        for c in psutil.Process().net_connections(kind="inet")
        if c.status == psutil.CONN_LISTEN and c.laddr
    ]


def loopback_host_header(value: str | None) -> bool:
    """True when a Host header names this machine's loopback (any port, or none)."""
    if not value:
        return False
    host = value.strip().lower()
    if host.startswith("["):
        name, _, rest = host.partition("]")
        name, port = name + "]", rest.removeprefix(":")
        if rest and not rest.startswith(":"):
            return False
    else:
        name, _, port = host.partition(":")
    return name in LOOPBACK_NAMES and (port == "" or port.isdigit())


# --------------------------------------------------------------------------- bodies


def body_cap(path: str, limits: Limits) -> tuple[int, str]:
    """The most body bytes ``path`` accepts, and the setting that says so."""
    bytes_setting = f"VIPREDICT_MAX_BYTES={limits.max_bytes}"
    if path in TEXT_BODY_ROUTES:
        return limits.max_bytes, bytes_setting
    if path == "/predict":
        cap = limits.max_variants * JSON_BYTES_PER_VARIANT + JSON_SLACK_BYTES
        setting = (
            f"{JSON_BYTES_PER_VARIANT} bytes per variant of "
            f"VIPREDICT_MAX_VARIANTS={limits.max_variants}"
        )
    else:
        cap, setting = SMALL_BODY_BYTES, f"{SMALL_BODY_BYTES} bytes for {path}"
    return (limits.max_bytes, bytes_setting) if limits.max_bytes < cap else (cap, setting)


def check_variants_body(body: bytes, limits: Limits) -> None:
    """Refuse a JSON body whose ``variants`` would exceed the limit, before models are built.

    Run off the event loop when large (:func:`_checked_off_loop`). Objects and arrays
    are first counted as bytes (a ``{}`` costs a parser ~70 bytes of memory and
    pydantic ~18 us), then the plain JSON is read and the array counted; a body the
    JSON reader refuses (too deep, an integer of thousands of digits) never reaches
    pydantic.
    """
    if not body.strip():
        return
    containers = body.count(b"{") + body.count(b"[")
    allowed = limits.max_variants * JSON_CONTAINERS_PER_VARIANT + 16
    if containers > allowed:
        raise ServingError(
            413,
            f"request holds {containers} JSON objects/arrays; VIPREDICT_MAX_VARIANTS="
            f"{limits.max_variants} variants need at most {allowed}",
        )
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise ServingError(400, f"request body is not readable JSON: {error}") from None
    if isinstance(data, dict) and isinstance(data.get("variants"), list):
        check_count(len(data["variants"]), limits)


#: A variants body up to this size is checked on the event loop (tens of microseconds);
#: a larger one in a thread, so that one big request never stalls the others.
INLINE_CHECK_BYTES = 16 << 10


async def _checked_off_loop(body: bytes, limits: Limits) -> None:
    """:func:`check_variants_body`, in a thread only when the body is large.

    A single-variant request's check costs microseconds, less than the hop to a
    worker thread and back, which pipelines sending one variant at a time pay on
    every request.
    """
    if len(body) <= INLINE_CHECK_BYTES:
        check_variants_body(body, limits)
    else:
        await anyio.to_thread.run_sync(check_variants_body, body, limits)


# --------------------------------------------------------------------------- uploads


def decode_upload(data: bytes, max_bytes: int) -> str:
    """Plain or gzip/BGZF text, refused when empty, binary, corrupt or too large once inflated."""
    if not data.strip():
        raise ServingError(400, "empty upload")
    if data[:2] == GZIP_MAGIC:
        data = gunzip_bounded(data, max_bytes)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ServingError(400, "upload is neither UTF-8 text nor gzip") from error
    if "\x00" in text:
        raise ServingError(400, "upload is binary, not a VCF")
    return text


#: Gzip members allowed beyond one per :data:`MIN_MEMBER_OUTPUT` inflated bytes. BGZF
#: blocks inflate to up to 64 KiB, concatenated gzip files have a member per part.
MEMBER_SLACK = 64
MIN_MEMBER_OUTPUT = 4096
#: Members that inflate to nothing (BGZF ends with one); a flood of them is refused.
MAX_EMPTY_MEMBERS = 16
#: First slice of input handed to each member's inflater; doubled while the member lasts.
FIRST_SLICE = 64
LAST_SLICE = 1024 * 1024


def gunzip_bounded(data: bytes, max_bytes: int) -> bytes:
    """Inflate every gzip member (BGZF has many) without ever holding more than ``max_bytes``.

    Linear in the input: zlib copies the input left after a member into
    ``unused_data``, so each member is handed a slice that doubles while the member
    lasts (never the whole rest of the upload), and the position moves by what the
    member consumed. Members are bounded (see :data:`MEMBER_SLACK`,
    :data:`MAX_EMPTY_MEMBERS`) and the request's deadline is checked per member.
    """
    out = bytearray()
    view = memoryview(data)
    offset = members = empty = 0
    while offset < len(view):
        deadline.check()
        members += 1
        if members > MEMBER_SLACK + len(out) // MIN_MEMBER_OUTPUT:
            raise ServingError(
                413,
                f"gzip upload has more than {members - 1} members for {len(out)} inflated "
                f"bytes (allowed: {MEMBER_SLACK} + one per {MIN_MEMBER_OUTPUT} bytes)",
            )
        start = len(out)
        offset = _inflate_member(view, offset, out, max_bytes)
        if len(out) == start:
            empty += 1
            if empty > MAX_EMPTY_MEMBERS:
                raise ServingError(
                    413, f"gzip upload has more than {MAX_EMPTY_MEMBERS} empty members"
                )
    return bytes(out)


def _inflate_member(view: memoryview, offset: int, out: bytearray, max_bytes: int) -> int:
    """Inflate the member at ``offset`` into ``out``; the offset just past it."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    size = FIRST_SLICE
    while True:
        piece = view[offset : offset + size]
        if not piece:
            raise ServingError(400, "truncated gzip upload")
        try:
            out += inflater.decompress(piece, max_bytes - len(out) + 1)
        except zlib.error as error:
            raise ServingError(400, f"corrupt gzip upload: {error}") from error
        if len(out) > max_bytes:
            raise ServingError(413, f"upload inflates beyond VIPREDICT_MAX_BYTES={max_bytes}")
        if inflater.eof:
            return offset + len(piece) - len(inflater.unused_data)
        offset += len(piece)
        size = min(size * 2, LAST_SLICE)


# --------------------------------------------------------------------------- ASGI


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class SecurityMiddleware:
    """Keys, Host check, per-route body bounds, upload hygiene, deadline and headers.

    Keys and limits come from the settings (``VIPREDICT_API_KEYS``,
    ``VIPREDICT_MAX_BYTES``, ``VIPREDICT_MAX_VARIANTS``), read when the app is built,
    not when this module is imported.
    """

    def __init__(
        self,
        app: Callable[..., Awaitable[None]],
        settings: Settings | None = None,
        upload_fields: Mapping[str, str] = UPLOAD_FIELDS,
        timeout_s: float = REQUEST_TIMEOUT_S,
        html_error: Callable[[int, str], bytes] = html_refusal,
    ) -> None:
        settings = settings or get_settings()
        self.app = app
        self.curators: dict[bytes, str] = {
            key.encode(): settings.curator_of(key) for key in settings.api_keys
        }
        self.limits: Limits = settings.limits
        self.upload_fields = upload_fields
        self.timeout_s = timeout_s
        self.html_error = html_error
        self.large_bodies = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = with_security_headers(scope, send)
        holds_slot = False
        try:
            self._check_host(scope)
            if scope["path"] in HEALTH_PATHS:
                await self.app(scope, receive, send)
                return
            if is_ui(scope["path"]):
                _check_same_origin(scope)
            scope[KEYED_SCOPE_KEY] = bool(self.curators)
            scope[CURATOR_SCOPE_KEY] = self._authorise(scope)
            holds_slot = self._large_body_slot(scope)
            body, holds_slot = await self._read_body(scope, receive, holds_slot)
            if scope["method"] == "POST" and scope["path"] == UI_LOGIN:
                scope[CURATOR_SCOPE_KEY] = self._sign_in(body)
            if scope["method"] == "POST" and scope["path"] in VARIANT_ROUTES:
                await _checked_off_loop(body, self.limits)
            if scope["path"] in self.upload_fields and scope["method"] == "POST":
                await self._check_upload(
                    scope, _replayer(body, receive), self.upload_fields[scope["path"]]
                )
            with deadline.within(self.timeout_s):
                await self.app(scope, _replayer(body, receive), send)
        except ServingError as error:
            page = self.html_error(error.status, error.message) if is_ui(scope["path"]) else None
            await send_error(send, error, page)
        finally:
            if holds_slot:
                self.large_bodies -= 1

    @staticmethod
    def _check_host(scope: Scope) -> None:
        """A request that reached a loopback address must name a loopback Host (DNS rebinding)."""
        server = scope.get("server")
        if not server or not is_loopback(str(server[0])):
            return
        host = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"host"), None)
        if not loopback_host_header(host):
            raise ServingError(
                421,
                "this service answers on loopback to Host localhost, 127.0.0.1 or [::1] only "
                "(a reverse proxy on this machine must pass one of them)",
            )

    def _authorise(self, scope: Scope) -> str | None:
        """The curator id of the request's key; None when no keys are configured.

        On ``/ui`` paths the page's cookie counts as the key when no header is sent;
        every page ``POST`` but the sign-in and sign-out writes (an upload, a decision).
        """
        path, method = scope["path"], scope["method"]
        if is_ui(path) and _ui_open(path):
            return None
        if not self.curators:
            if method == "POST" and (WRITE_ROUTES.match(path) or is_ui(path)):
                raise ServingError(
                    403,
                    "queue writes need an API key: start the service with "
                    "VIPREDICT_API_KEYS set and send X-API-Key",
                )
            return None
        headers = {k.decode("latin-1").lower(): v for k, v in scope["headers"]}
        given = headers.get("x-api-key", b"")
        auth = headers.get("authorization", b"")
        if not given and auth.lower().startswith(b"bearer "):
            given = auth[7:].strip()
        if not given and is_ui(path):
            cookies = cookie_parser(headers.get("cookie", b"").decode("latin-1"))
            given = cookies.get(KEY_COOKIE, "").encode("latin-1", "replace")
        found = self._curator_of_key(given)
        if found is None:
            if is_ui(path):
                raise ServingError(401, "sign in with your API key to use this page")
            raise ServingError(
                401, "missing or invalid API key (send X-API-Key or Authorization: Bearer)"
            )
        return found

    def _curator_of_key(self, given: bytes) -> str | None:
        found = None
        for key, curator in self.curators.items():  # every key compared: no early exit
            if hmac.compare_digest(given, key) and given:
                found = curator
        return found

    def _sign_in(self, body: bytes) -> str:
        """The curator of the ``api_key`` field of the page's sign-in form (401 if none)."""
        if not self.curators:
            raise ServingError(
                403,
                "this service has no API keys: reading is open, and uploads and decisions are "
                "refused (start it with VIPREDICT_API_KEYS=curator:KEY to record decisions)",
            )
        fields = urllib.parse.parse_qs(body.decode("latin-1"), max_num_fields=8)
        given = (fields.get("api_key") or [""])[0].strip().encode("latin-1", "replace")
        found = self._curator_of_key(given)
        if found is None:
            raise ServingError(401, "that API key is not one of this service's keys")
        return found

    def _large_body_slot(self, scope: Scope) -> bool:
        """Take a large-body slot when Content-Length announces one; 503 when none is free."""
        length = _content_length(scope)
        if length is None or length <= LARGE_BODY_BYTES:
            return False
        return self._take_slot()

    def _take_slot(self) -> bool:
        if self.large_bodies >= MAX_LARGE_BODIES:
            raise ServingError(
                503, f"{MAX_LARGE_BODIES} large requests are in progress: retry shortly"
            )
        self.large_bodies += 1
        return True

    async def _read_body(
        self, scope: Scope, receive: Receive, holds_slot: bool
    ) -> tuple[bytes, bool]:
        """The whole body within the route's bound (and whether a large-body slot is held)."""
        limit, setting = body_cap(scope["path"], self.limits)
        length = _content_length(scope)
        if length is not None and length > limit:
            raise ServingError(
                413, f"request body of {length} bytes exceeds {limit} bytes ({setting})"
            )
        chunks, size = [], 0
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise ServingError(413, f"request body exceeds {limit} bytes ({setting})")
                if size > LARGE_BODY_BYTES and not holds_slot:
                    holds_slot = self._take_slot()
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
        except ServingError:
            if holds_slot:  # the caller's finally releases only what it was told about
                self.large_bodies -= 1
            raise
        return b"".join(chunks), holds_slot

    @staticmethod
    async def _check_upload(scope: Scope, receive: Receive, field_name: str) -> None:
        """Exactly one ``field_name`` part, and it is file content: never a URL or a path."""
        request = Request(scope, receive)
        if request.headers.get("content-type", "").split(";")[0].strip() != "multipart/form-data":
            raise ServingError(415, f"send the file as multipart/form-data field '{field_name}'")
        try:
            form = await request.form()
        except Exception as error:  # starlette raises several types for a broken multipart body
            raise ServingError(400, f"unreadable multipart body: {error}") from error
        try:
            parts = form.getlist(field_name)
            if len(parts) != 1:
                raise ServingError(
                    400, f"send exactly one '{field_name}' part (this request has {len(parts)})"
                )
            if not isinstance(parts[0], UploadFile) or not parts[0].filename:
                raise ServingError(
                    400,
                    f"'{field_name}' must be an uploaded file part with a filename (URLs and "
                    "server paths are not accepted)",
                )
        finally:
            await form.close()


def _check_same_origin(scope: Scope) -> None:
    """A page ``POST`` must come from the page itself (the cookie is SameSite=Strict too)."""
    if scope["method"] != "POST":
        return
    headers = {k.lower(): v for k, v in scope["headers"]}
    site = headers.get(b"sec-fetch-site", b"same-origin")
    origin = headers.get(b"origin")
    host = headers.get(b"host", b"").decode("latin-1").lower()
    foreign = site not in (b"same-origin", b"none")
    if origin is not None:
        netloc = urllib.parse.urlsplit(origin.decode("latin-1")).netloc.lower()
        foreign = foreign or netloc != host
    if foreign:
        raise ServingError(403, "this page accepts forms from its own address only")


def curator_of(scope: Scope) -> str | None:
    """The curator id the middleware authenticated for this request (None without keys)."""
    return scope.get(CURATOR_SCOPE_KEY)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name.lower() == b"content-length" and value.isdigit():
            return int(value)
    return None


def _replayer(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def security_headers(path: str, content_type: bytes) -> list[tuple[bytes, bytes]]:
    """``nosniff`` and the Content-Security-Policy of an answer to ``path`` of that type."""
    if content_type.split(b";")[0].strip().lower() != b"text/html":
        policy = CSP_DATA
    elif is_ui(path):
        policy = CSP_WORKBENCH
    else:
        policy = CSP_AUDIT if path == "/audit" else CSP_UI
    return [
        (b"x-content-type-options", b"nosniff"),
        (b"content-security-policy", policy.encode()),
    ]


def with_security_headers(scope: Scope, send: Send) -> Send:
    """``send`` that adds :func:`security_headers` to the response start (replacing any)."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = [
                (k, v)
                for k, v in message.get("headers", [])
                if k.lower() not in (b"x-content-type-options", b"content-security-policy")
            ]
            content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
            headers += security_headers(scope["path"], content_type)
            message = {**message, "headers": headers}
        await send(message)

    return sending


async def send_error(send: Send, error: ServingError, page: bytes | None = None) -> None:
    """A refusal as its JSON answer, or as ``page`` (HTML) when given; the caller's ``send``
    adds the security headers."""
    body = error.body() if page is None else page
    kind = b"application/json" if page is None else b"text/html; charset=utf-8"
    headers = [(b"content-type", kind), (b"content-length", str(len(body)).encode())]
    if error.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="vipredict"'))
    if error.status == 503:
        headers.append((b"retry-after", b"1"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
