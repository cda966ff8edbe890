"""What stands in front of every route: API keys, body limits, upload hygiene.

The body is read once by :class:`SecurityMiddleware`, bounded by
``VIPREDICT_MAX_BYTES`` whatever the Content-Length claims, then replayed to the
app. Queue writes need a key even when none is configured (then they are
refused). Upload routes must carry their file as a real multipart file part:
BentoML would otherwise fetch a URL given in its place, letting a request name
something for the server to read. Compressed uploads are inflated within the
same byte limit (:func:`decode_upload`).
"""

from __future__ import annotations

import hmac
import json
import re
import zlib
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request

from vipredict.config import Limits, Settings, get_settings
from vipredict.io.files import GZIP_MAGIC

#: Paths that stay open without an API key (orchestrators probe them unauthenticated).
PUBLIC_PATHS = frozenset(("/healthz", "/livez", "/readyz", "/metrics"))
#: Upload routes and their file field; the file must arrive as a real file part.
UPLOAD_FIELDS: Mapping[str, str] = {"/predict/vcf": "file"}
#: Routes that write the curation-queue database: an API key is required even when
#: ``VIPREDICT_API_KEYS`` is unset (then they are refused with 403).
WRITE_ROUTES = re.compile(r"^/queue(/[^/]+/decisions)?/?$")


class ServingError(Exception):
    """A whole-request refusal with its HTTP status (per-variant problems are not this)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> bytes:
        return json.dumps({"error": self.message}).encode()


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


def gunzip_bounded(data: bytes, max_bytes: int) -> bytes:
    """Inflate every gzip member (BGZF has many) without ever holding more than ``max_bytes``."""
    out = bytearray()
    rest = data
    while rest:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(rest, max_bytes - len(out) + 1)
        except zlib.error as error:
            raise ServingError(400, f"corrupt gzip upload: {error}") from error
        if len(out) > max_bytes:
            raise ServingError(413, f"upload inflates beyond VIPREDICT_MAX_BYTES={max_bytes}")
        if not inflater.eof:
            raise ServingError(400, "truncated gzip upload")
        rest = inflater.unused_data
    return bytes(out)


# --------------------------------------------------------------------------- ASGI


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class SecurityMiddleware:
    """API keys, body-size limits and upload hygiene in front of every route.

    Keys and limits come from the settings (``VIPREDICT_API_KEYS``,
    ``VIPREDICT_MAX_BYTES``), read when the app is built, not when this module is imported.
    """

    def __init__(
        self,
        app: Callable[..., Awaitable[None]],
        settings: Settings | None = None,
        upload_fields: Mapping[str, str] = UPLOAD_FIELDS,
    ) -> None:
        settings = settings or get_settings()
        self.app = app
        self.keys: frozenset[str] = settings.api_keys
        self.limits: Limits = settings.limits
        self.upload_fields = upload_fields

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PUBLIC_PATHS:
            await self.app(scope, receive, send)
            return
        try:
            self._authorise(scope)
            body = await self._read_body(scope, receive)
            replay = _replayer(body, receive)
            if scope["path"] in self.upload_fields and scope["method"] == "POST":
                await self._check_upload(scope, replay, self.upload_fields[scope["path"]])
                replay = _replayer(body, receive)
        except ServingError as error:
            await _send_error(send, error)
            return
        await self.app(scope, replay, send)

    def _authorise(self, scope: Scope) -> None:
        if not self.keys:
            if scope["method"] == "POST" and WRITE_ROUTES.match(scope["path"]):
                raise ServingError(
                    403,
                    "queue writes need an API key: start the service with "
                    "VIPREDICT_API_KEYS set and send X-API-Key",
                )
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-api-key", "")
        auth = headers.get("authorization", "")
        if not given and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not given or not any(hmac.compare_digest(given.encode(), k.encode()) for k in self.keys):
            raise ServingError(
                401, "missing or invalid API key (send X-API-Key or Authorization: Bearer)"
            )

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        limit = self.limits.max_bytes
        for name, value in scope["headers"]:
            if name.lower() == b"content-length" and value.isdigit() and int(value) > limit:
                raise ServingError(
                    413, f"request body of {int(value)} bytes exceeds VIPREDICT_MAX_BYTES={limit}"
                )
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise ServingError(413, f"request body exceeds VIPREDICT_MAX_BYTES={limit}")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    async def _check_upload(scope: Scope, receive: Receive, field_name: str) -> None:
        request = Request(scope, receive)
        if request.headers.get("content-type", "").split(";")[0].strip() != "multipart/form-data":
            raise ServingError(415, f"send the file as multipart/form-data field '{field_name}'")
        try:
            form = await request.form()
        except Exception as error:  # starlette raises several types for a broken multipart body
            raise ServingError(400, f"unreadable multipart body: {error}") from error
        try:
            if not isinstance(form.get(field_name), UploadFile):
                raise ServingError(
                    400,
                    f"'{field_name}' must be an uploaded file part (URLs and "
                    "server paths are not accepted)",
                )
        finally:
            await form.close()


def _replayer(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _send_error(send: Send, error: ServingError) -> None:
    body = error.body()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if error.status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="vipredict"'))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
