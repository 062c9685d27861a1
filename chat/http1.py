"""A lean HTTP/1.1 client transport for httpx2, on plain asyncio, for reading token streams.

:class:`LeanTransport` is an ``httpx2.AsyncBaseTransport``: give it to ``httpx2.AsyncClient``
(``transport=``) and everything above it (redirects, hooks, content decoding, ``aiter_lines``,
huggingface_hub) works as before. It exists because the standard transport (httpcore2 + h11 +
anyio) spends most of the CPU of reading an SSE stream per network read, and a token stream is
one network read per token: here a read is one ``data_received`` into a buffer and a few slices.

Contract:

* **Requests.** HTTP/1.1 to ``http://`` and ``https://`` URLs: the request line, the request's
  headers as httpx2 built them (``Host``, ``Content-Length`` ...) and its body, which is read
  whole first (``await request.aread()``; the app sends small JSON). A body announced as
  ``Transfer-Encoding: chunked`` is sent as one chunk.
* **Responses.** ``HTTP/1.1`` or ``HTTP/1.0`` status line and headers (CRLF line ends, no obsolete
  line folding; 64 KiB at most). Interim ``1xx`` responses (``100 Continue``, ``103``) are skipped;
  a ``101`` is a protocol error. Body framing: ``Transfer-Encoding: chunked`` (hex sizes, chunk
  extensions and trailers read and dropped), ``Content-Length``, or read until the server closes;
  none for ``HEAD``, ``204`` and ``304``. The response stream yields **whatever body bytes have
  arrived** as soon as they arrive (all complete chunks of one read together; part of a chunk
  if that is all there is): it never waits for more than what is there.
* **Keep-alive.** Per event loop, idle connections are kept per (scheme, host, port), at most
  ``limits.max_keepalive_connections`` in all, each closed ``limits.keepalive_expiry`` seconds
  after it went idle. A connection goes back only when its response body was read to its end,
  neither side said ``Connection: close``, the response was HTTP/1.1 with a framed body, and
  nothing followed the body. **Closing a response before its end (``aclose()``, or cancelling
  the task reading it) closes its socket**: that is what tells TGI to stop generating.
* **Retry.** A request sent on a reused connection that the server had closed (the connection
  ends before any byte of the response) is sent once more on a new connection. Never after a
  response byte arrived, and never for a new connection.
* **Timeouts** come from ``request.extensions["timeout"]`` as httpx2 puts them: ``connect``
  (TCP and TLS handshake), ``read`` (each wait for response bytes: headers and between body
  reads), ``write`` (only when the socket's send buffer is full). ``pool`` is unused: nothing
  waits for a connection.
* **Lines.** The response's ``aiter_lines`` (what huggingface_hub reads a stream with) splits at
  the line ends of HTTP and server-sent events only: ``\n``, ``\r\n``, ``\r``. httpx2's own
  splits like ``str.splitlines``, also at U+2028, U+2029, U+0085 and a few control characters;
  JSON may hold the first three raw, and TGI (serde_json) writes them so, so a token holding one
  broke its ``data:`` line in two and the reply failed. The bytes are split before decoding (as
  UTF-8, bad bytes replaced): one generator over the reads instead of four. A body with a
  ``Content-Encoding`` is decompressed first; a charset other than UTF-8 or ASCII takes httpx2's
  path. Responses that came through httpx2's own transport (below) split their lines so too.
* **Errors** are httpx2's own: ``ConnectError``, ``ConnectTimeout``, ``ReadTimeout``,
  ``WriteTimeout``, ``ReadError``, ``WriteError``, ``RemoteProtocolError`` (a malformed response,
  or a body that ends early), ``LocalProtocolError`` (a header with a line break).

Delegated to the standard ``httpx2.AsyncHTTPTransport`` (decided per request, before anything is
sent): URLs that the environment routes through a proxy (``HTTP_PROXY``, ``HTTPS_PROXY``,
``ALL_PROXY``, minus ``NO_PROXY``, read once when the transport is made, as httpx2's client
itself reads them, when ``trust_env``); requests with an ``Upgrade`` header; schemes other than
http and https. Not supported at all: HTTP/2 (never offered: no ALPN, no upgrade), a cap on the
number of connections (``limits.max_connections`` must be None), UNIX sockets, pipelining.
"""

from __future__ import annotations

import asyncio
import codecs
import re
import ssl
import weakref
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx2
from httpx2._exceptions import request_context as httpx2_request_context  # what aiter_raw wraps reads in
from httpx2._utils import URLPattern, get_environment_proxies  # what AsyncClient uses for the same job

__all__ = ["LeanTransport"]

_MAX_HEAD = 64 * 1024  # status line + headers
_MAX_LINE = 4096  # a chunk-size line or a trailer line
_HIGH_WATER = 256 * 1024  # stop reading the socket while this much is buffered and unread
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
_NO_BODY_STATUS = (204, 304)

# Body framing
_CHUNKED, _LENGTH, _UNTIL_CLOSE = 0, 1, 2
# Chunked-body parser states
_SIZE, _DATA, _DATA_END, _TRAILER = 0, 1, 2, 3

_Key = tuple[str, str, int]


class _Stale(Exception):
    """A reused connection ended before any byte of the response: safe to send again."""


class _Connection(asyncio.Protocol):
    """One socket and its receive buffer. The reader waits on ``_waiter``; the loop fills ``buffer``."""

    def __init__(self, loop: asyncio.AbstractEventLoop, key: _Key) -> None:
        self.loop = loop
        self.key = key
        self.buffer = bytearray()
        self.eof = False  # the server closed its side (or the connection is gone)
        self.error: BaseException | None = None  # why the connection was lost, if not cleanly
        self.lost = False
        self.reused = False
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._writing_paused = False
        self._drain: asyncio.Future[None] | None = None
        # Read timeout: one timer per connection, re-armed only when it fires (see wait).
        self._deadline = float("inf")
        self._timer: asyncio.TimerHandle | None = None
        self.idle_timer: asyncio.TimerHandle | None = None
        self.pool: _Pool | None = None  # set while the connection is idle in a pool

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports (what the app runs on) are not asyncio.Transport subclasses.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _HIGH_WATER and not self._reading_paused and self._transport is not None:
            self._reading_paused = True
            self._transport.pause_reading()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def eof_received(self) -> None:
        self.eof = True
        self._wake()
        if self.pool is not None:
            self.pool.discard(self)
        # returning None: the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = self.lost = True
        self.error = exc
        self._wake()
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.pool is not None:
            self.pool.discard(self)

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    # -- used by the transport ----------------------------------------------------------------------

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    @property
    def usable(self) -> bool:
        """Idle and still open: the server has not closed it nor sent anything unasked."""
        return not self.eof and not self.buffer and self._transport is not None and not self._transport.is_closing()

    async def wait(self, timeout: float | None) -> None:
        """Wait until more bytes arrive or the connection ends; ReadTimeout after ``timeout`` s.

        The timer is not replaced per wait (a token stream waits once per token): each wait only
        moves ``_deadline``, and the timer, when it fires early, re-arms itself for it.
        """
        if self.eof:
            return
        if self._reading_paused and self._transport is not None:
            self._reading_paused = False
            self._transport.resume_reading()
        loop = self.loop
        waiter = self._waiter = loop.create_future()
        if timeout is None:
            self._deadline = float("inf")
        else:
            deadline = self._deadline = loop.time() + timeout
            timer = self._timer
            if timer is None or timer.when() > deadline:
                if timer is not None:
                    timer.cancel()
                self._timer = loop.call_at(deadline, self._check_deadline)
        try:
            await waiter
        finally:
            self._waiter = None

    def _check_deadline(self) -> None:
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done() or self._deadline == float("inf"):
            return  # not waiting: the next wait arms a new timer
        if self.loop.time() >= self._deadline:
            waiter.set_exception(httpx2.ReadTimeout("no data from the server within the read timeout"))
        else:
            self._timer = self.loop.call_at(self._deadline, self._check_deadline)

    async def send(self, data: bytes, timeout: float | None) -> None:
        transport = self._transport
        if transport is None or transport.is_closing() or self.eof:
            raise (_Stale() if self.reused else httpx2.WriteError("the connection is closed"))
        transport.write(data)
        if not self._writing_paused:
            return
        self._drain = self.loop.create_future()
        try:
            async with asyncio.timeout(timeout):
                await self._drain
        except TimeoutError:
            raise httpx2.WriteTimeout("could not send the request within the write timeout") from None
        finally:
            self._drain = None
        if self.lost:
            raise httpx2.WriteError(f"the connection was lost while sending: {self.error!r}")

    def close(self) -> None:
        """Close the socket now (unsent data is dropped): for a response left before its end."""
        for timer in (self._timer, self.idle_timer):
            if timer is not None:
                timer.cancel()
        self._timer = self.idle_timer = None
        if self._transport is not None:
            self._transport.abort()


class _Pool:
    """The idle connections of one event loop, by (scheme, host, port); the newest is reused first."""

    def __init__(self, max_idle: int | None, expiry: float | None) -> None:
        self.idle: dict[_Key, list[_Connection]] = {}
        self.count = 0
        self.max_idle = max_idle
        self.expiry = expiry

    def take(self, key: _Key) -> _Connection | None:
        conns = self.idle.get(key)
        while conns:
            conn = conns.pop()
            self._forget(conn)
            if conn.usable:
                conn.reused = True
                return conn
            conn.close()
        return None

    def put(self, conn: _Connection) -> None:
        if not conn.usable or (self.max_idle is not None and self.count >= self.max_idle):
            conn.close()
            return
        conn.pool = self
        self.idle.setdefault(conn.key, []).append(conn)
        self.count += 1
        if self.expiry is not None:
            conn.idle_timer = conn.loop.call_later(self.expiry, self._expire, conn)

    def discard(self, conn: _Connection) -> None:
        """Drop an idle connection that the server closed or that expired."""
        conns = self.idle.get(conn.key)
        if conns is not None and conn in conns:
            conns.remove(conn)
            self._forget(conn)
        conn.close()

    def _expire(self, conn: _Connection) -> None:
        conn.idle_timer = None
        self.discard(conn)

    def _forget(self, conn: _Connection) -> None:
        self.count -= 1
        conn.pool = None
        if conn.idle_timer is not None:
            conn.idle_timer.cancel()
            conn.idle_timer = None

    def close_all(self) -> None:
        for conns in list(self.idle.values()):
            for conn in list(conns):
                self.discard(conn)


class _Body(httpx2.AsyncByteStream):
    """A response body read from its connection; the connection goes back to the pool at its end."""

    def __init__(
        self, conn: _Connection, pool: _Pool, framing: int, length: int, read_timeout: float | None, keep: bool
    ) -> None:
        self._conn: _Connection | None = conn
        self._pool = pool
        self._framing = framing
        self._length = length  # Content-Length framing: bytes still to come
        self._timeout = read_timeout
        self._keep = keep

    def __aiter__(self) -> AsyncIterator[bytes]:
        if self._framing == _CHUNKED:
            return self._chunked()
        return self._plain()

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:  # not read to its end: this socket must not carry another request
            conn.close()

    def _finish(self, conn: _Connection) -> None:
        self._conn = None
        if self._keep and not conn.buffer:
            self._pool.put(conn)
        else:
            conn.close()

    async def _chunked(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        buf = conn.buffer
        state, remaining = _SIZE, 0
        try:
            while True:
                pos, end = 0, len(buf)
                parts: list[bytearray] = []
                while pos < end:
                    if state == _DATA:
                        take = min(end - pos, remaining)
                        parts.append(buf[pos : pos + take])
                        pos += take
                        remaining -= take
                        if remaining:
                            break
                        state = _DATA_END
                    elif state == _DATA_END:
                        if end - pos < 2:
                            break
                        if buf[pos : pos + 2] != b"\r\n":
                            raise httpx2.RemoteProtocolError("malformed chunked body: no CRLF after a chunk's data")
                        pos += 2
                        state = _SIZE
                    else:  # _SIZE or _TRAILER: one line
                        eol = buf.find(b"\r\n", pos)
                        if eol < 0:
                            if end - pos > _MAX_LINE:
                                raise httpx2.RemoteProtocolError("malformed chunked body: line too long")
                            break
                        line = buf[pos:eol]
                        pos = eol + 2
                        if state == _TRAILER:
                            if not line:  # the empty line after the trailers: the body is complete
                                del buf[:pos]
                                self._finish(conn)
                                if parts:
                                    yield b"".join(parts)
                                return
                            continue
                        size = line.split(b";", 1)[0].strip(b" \t")
                        if _CHUNK_SIZE.fullmatch(size) is None:
                            raise httpx2.RemoteProtocolError(f"malformed chunked body: bad chunk size {bytes(line)!r}")
                        remaining = int(size, 16)
                        state = _DATA if remaining else _TRAILER
                del buf[:pos]
                if parts:
                    unparsed = len(buf)
                    yield b"".join(parts)
                    if len(buf) > unparsed:  # more arrived while the caller held the data
                        continue
                if conn.eof:  # the parser stopped for want of bytes that will not come
                    raise _early_end(conn, "incomplete chunked read")
                await conn.wait(self._timeout)
        finally:
            if self._conn is conn:  # left before the end, or failed: the socket must go
                self._conn = None
                conn.close()

    async def _plain(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        buf = conn.buffer
        until_close = self._framing == _UNTIL_CLOSE
        try:
            while True:
                if buf:
                    if until_close:
                        data = bytes(buf)
                        buf.clear()
                    else:
                        data = bytes(buf[: self._length])
                        del buf[: self._length]
                        self._length -= len(data)
                    if not until_close and self._length == 0:
                        self._finish(conn)
                        yield data
                        return
                    yield data
                    continue
                if conn.eof:
                    if until_close:
                        if conn.error is not None:
                            raise httpx2.ReadError(f"the connection was lost: {conn.error!r}")
                        self._finish(conn)
                        return
                    raise _early_end(conn, f"{self._length} more bytes expected (Content-Length)")
                await conn.wait(self._timeout)
        finally:
            if self._conn is conn:
                self._conn = None
                conn.close()


def _early_end(conn: _Connection, what: str) -> httpx2.TransportError:
    if conn.error is not None:
        return httpx2.ReadError(f"the connection was lost: {conn.error!r}")
    return httpx2.RemoteProtocolError(f"peer closed connection without sending complete message body: {what}")


class _Response(httpx2.Response):
    """A response whose lines end only where HTTP's do (see the module docstring)."""

    async def aiter_lines(self) -> AsyncIterator[str]:
        encoding = self.encoding or "utf-8"
        if codecs.lookup(encoding).name not in _LINE_SPLIT_ENCODINGS:
            async for text in super().aiter_lines():
                yield text
            return
        plain = "content-encoding" not in self.headers and not hasattr(self, "_content")
        body = self._own_body() if plain else None
        reads = body.__aiter__() if body is not None else self.aiter_raw() if plain else self.aiter_bytes()
        rest = b""
        try:
            with httpx2_request_context(request=self._request):
                async for data in reads:
                    if rest:
                        data, rest = rest + data, b""
                    if not data:
                        continue
                    lines = data.splitlines(keepends=True)  # bytes split at \n, \r\n and \r only
                    if not lines[-1].endswith(b"\n"):
                        rest = lines.pop()  # unfinished, or a "\r" whose "\n" may come next
                    for line in lines:
                        yield line.rstrip(b"\r\n").decode(encoding, "replace")
            if rest:
                yield rest.rstrip(b"\r\n").decode(encoding, "replace")
        finally:
            await cast(Any, reads).aclose()
            if body is not None:  # as aiter_raw ends: the response is closed (its socket kept or not)
                await self.aclose()

    def _own_body(self) -> _Body | None:
        """This transport's body under httpx2's wrapper, claimed for reading (as ``aiter_raw``
        claims it: once, not after a close), or None when the stream is someone else's.

        Read directly, a token is one hop from the socket to the lines instead of three
        (httpx2's ``BoundAsyncStream`` and ``aiter_raw`` with its chunker add nothing to a
        stream read whole)."""
        stream = self.stream
        body = getattr(stream, "_stream", stream)  # httpx2's BoundAsyncStream keeps it there
        if not isinstance(body, _Body):
            return None
        if self.is_stream_consumed:
            raise httpx2.StreamConsumed()
        if self.is_closed:
            raise httpx2.StreamClosed()
        self.is_stream_consumed = True
        return body


# Encodings in which a byte "\r" or "\n" is always that character (codecs' canonical names).
_LINE_SPLIT_ENCODINGS = frozenset({"utf-8", "ascii"})


class LeanTransport(httpx2.AsyncBaseTransport):
    """An HTTP/1.1 keep-alive transport on asyncio streams; see the module docstring."""

    def __init__(
        self,
        *,
        ssl_context: ssl.SSLContext | None = None,
        limits: httpx2.Limits | None = None,
        trust_env: bool = True,
    ) -> None:
        limits = limits or httpx2.Limits(max_connections=None)
        if limits.max_connections is not None:
            raise ValueError("LeanTransport does not cap connections: pass Limits(max_connections=None)")
        self._ssl = ssl_context
        self._limits = limits
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Pool] = weakref.WeakKeyDictionary()
        # As httpx2.AsyncClient(trust_env=True) would mount them: the first matching pattern wins;
        # a NO_PROXY pattern (None) means "direct".
        proxies = get_environment_proxies() if trust_env else {}
        self._routes = sorted(((URLPattern(k), v) for k, v in proxies.items()), key=lambda route: route[0])
        self._standard: dict[str | None, httpx2.AsyncHTTPTransport] = {}

    def _delegate(self, request: httpx2.Request) -> httpx2.AsyncHTTPTransport | None:
        """The standard transport for a request this one does not handle, else None."""
        url = request.url
        for pattern, proxy in self._routes:
            if pattern.matches(url):
                if proxy is not None:
                    return self._standard_for(proxy)
                break
        if url.scheme not in ("http", "https") or "upgrade" in request.headers:
            return self._standard_for(None)
        return None

    def _standard_for(self, proxy: str | None) -> httpx2.AsyncHTTPTransport:
        transport = self._standard.get(proxy)
        if transport is None:
            verify: ssl.SSLContext | bool = self._ssl if self._ssl is not None else True
            transport = self._standard[proxy] = httpx2.AsyncHTTPTransport(
                verify=verify, limits=self._limits, proxy=proxy
            )
        return transport

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        standard = self._delegate(request)
        if standard is not None:
            response = await standard.handle_async_request(request)
            # The same response, with its lines split as this transport's are (see "Lines").
            return _Response(
                status_code=response.status_code,
                headers=response.headers,
                stream=response.stream,
                extensions=response.extensions,
            )

        timeouts: dict[str, Any] = request.extensions.get("timeout", {})
        url = request.url
        https = url.scheme == "https"
        key = (url.scheme, url.raw_host.decode("ascii"), url.port or (443 if https else 80))
        message = _request_bytes(request, await request.aread())
        loop = asyncio.get_running_loop()
        pool = self._pools.get(loop)
        if pool is None:
            pool = self._pools[loop] = _Pool(self._limits.max_keepalive_connections, self._limits.keepalive_expiry)

        conn = pool.take(key)
        if conn is not None:
            try:
                return await self._exchange(conn, pool, request, message, timeouts)
            except _Stale:
                pass  # the server had closed it: once more on a new connection
        conn = await self._connect(loop, key, timeouts.get("connect"))
        return await self._exchange(conn, pool, request, message, timeouts)

    async def _connect(self, loop: asyncio.AbstractEventLoop, key: _Key, timeout: float | None) -> _Connection:
        scheme, host, port = key
        conn = _Connection(loop, key)
        tls = self._ssl if scheme == "https" else None
        if scheme == "https" and tls is None:
            tls = httpx2.create_ssl_context()
        try:
            async with asyncio.timeout(timeout):
                await loop.create_connection(
                    lambda: conn, host, port, ssl=tls, server_hostname=host if tls is not None else None
                )
        except TimeoutError:
            conn.close()
            raise httpx2.ConnectTimeout(f"could not connect to {host}:{port} within the connect timeout") from None
        except (OSError, ssl.SSLError) as exc:  # refused, unreachable, DNS, certificate
            raise httpx2.ConnectError(f"could not connect to {host}:{port}: {exc}") from exc
        return conn

    async def _exchange(
        self, conn: _Connection, pool: _Pool, request: httpx2.Request, message: bytes, timeouts: dict[str, Any]
    ) -> httpx2.Response:
        read_timeout = timeouts.get("read")
        try:
            await conn.send(message, timeouts.get("write"))
            head = await _read_head(conn, read_timeout)
            status, version, reason, headers = head
            framing, length, keep = _framing(request, status, version, headers)
        except BaseException:
            conn.close()
            raise
        body = _Body(conn, pool, framing, length, read_timeout, keep)
        if framing == _LENGTH and length == 0:
            body._finish(conn)
        return _Response(
            status_code=status,
            headers=headers,
            stream=body,
            extensions={"http_version": version, "reason_phrase": reason},
        )

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.items()), weakref.WeakKeyDictionary()
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, pool in pools:
            if loop is running:  # another loop's sockets can only be closed from that loop
                pool.close_all()
        standard, self._standard = list(self._standard.values()), {}
        for transport in standard:
            await transport.aclose()


def _request_bytes(request: httpx2.Request, body: bytes) -> bytes:
    raw = request.headers.raw
    lines = [b"%s %s HTTP/1.1" % (request.method.encode("ascii"), request.url.raw_path)]
    lines += [name + b": " + value for name, value in raw]
    head = b"\r\n".join(lines) + b"\r\n\r\n"
    if head.count(b"\n") != len(lines) + 1 or head.count(b"\r") != len(lines) + 1:
        raise httpx2.LocalProtocolError("a request header contains a line break")
    if any(name.lower() == b"transfer-encoding" for name, _ in raw):
        return head + (b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n")
    return head + body


async def _read_head(conn: _Connection, timeout: float | None) -> tuple[int, bytes, bytes, list[tuple[bytes, bytes]]]:
    """The status line and headers of the response, skipping interim 1xx responses."""
    buf = conn.buffer
    seen = 0  # how far the buffer has been searched for the blank line
    interim = False  # a 1xx response came: bytes of the response arrived, so never resend
    while True:
        end = buf.find(b"\r\n\r\n", max(0, seen - 3))
        if end < 0:
            if len(buf) > _MAX_HEAD:
                raise httpx2.RemoteProtocolError("the response headers are too long")
            if conn.eof:
                if not buf and conn.reused and not interim:
                    raise _Stale()
                if not buf and conn.error is not None:
                    raise httpx2.ReadError(f"the connection was lost: {conn.error!r}")
                raise httpx2.RemoteProtocolError("Server disconnected without sending a response.")
            seen = len(buf)
            await conn.wait(timeout)
            continue
        lines = bytes(buf[:end]).split(b"\r\n")
        del buf[: end + 4]
        seen = 0
        status, version, reason = _status_line(lines[0])
        headers = [_header(line) for line in lines[1:]]
        if status == 101:
            raise httpx2.RemoteProtocolError("unexpected 101 Switching Protocols: no upgrade was asked for")
        if status >= 200:
            return status, version, reason, headers
        interim = True


def _status_line(line: bytes) -> tuple[int, bytes, bytes]:
    version, _, rest = line.partition(b" ")
    code, _, reason = rest.partition(b" ")
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise httpx2.RemoteProtocolError(f"malformed or unsupported status line: {line[:100]!r}")
    return int(code), version, reason


def _header(line: bytes) -> tuple[bytes, bytes]:
    name, colon, value = line.partition(b":")
    if not colon or not name or name[0] in b" \t" or name[-1] in b" \t":
        raise httpx2.RemoteProtocolError(f"malformed response header: {line[:100]!r}")
    return name, value.strip(b" \t")


def _framing(
    request: httpx2.Request, status: int, version: bytes, headers: list[tuple[bytes, bytes]]
) -> tuple[int, int, bool]:
    """(framing, content length, whether the connection may be reused) per RFC 9112 §6.3."""
    keep = version == b"HTTP/1.1" and not _says_close(request.headers.raw)
    codings: list[bytes] = []
    lengths: set[bytes] = set()
    for name, value in headers:
        lname = name.lower()
        if lname == b"transfer-encoding":
            codings += [c.strip().lower() for c in value.split(b",") if c.strip()]
        elif lname == b"content-length":
            lengths.update(v.strip() for v in value.split(b","))
        elif lname == b"connection" and b"close" in (t.strip().lower() for t in value.split(b",")):
            keep = False
    if request.method == "HEAD" or status in _NO_BODY_STATUS:
        return _LENGTH, 0, keep
    if codings:
        if codings != [b"chunked"]:
            raise httpx2.RemoteProtocolError(f"unsupported Transfer-Encoding: {b', '.join(codings)!r}")
        return _CHUNKED, 0, keep and not lengths  # both framings: answer it, then drop the socket
    if lengths:
        if len(lengths) != 1 or not (value := next(iter(lengths))).isdigit():
            raise httpx2.RemoteProtocolError(f"malformed Content-Length: {sorted(lengths)!r}")
        return _LENGTH, int(value), keep
    return _UNTIL_CLOSE, 0, False


def _says_close(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(
        name.lower() == b"connection" and b"close" in (t.strip().lower() for t in value.split(b","))
        for name, value in headers
    )
