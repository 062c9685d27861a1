"""chat.http1.LeanTransport against a real local socket server that writes exact bytes.

Each test scripts the server's side of the conversation (a handler per accepted connection);
nothing sleeps to wait: the two sides step each other with events and futures, with timeouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import gzip
import ipaddress
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx2
import pytest

from chat.http1 import LeanTransport

# pytest-asyncio 1.5 deprecates overriding this fixture for a conftest hook that would apply to
# the whole suite; here only this module runs on both loops.
pytestmark = pytest.mark.filterwarnings('ignore:Overriding the "event_loop_policy" fixture:DeprecationWarning')


@pytest.fixture(params=["asyncio", "uvloop"])
def event_loop_policy(request: pytest.FixtureRequest) -> asyncio.AbstractEventLoopPolicy:
    """Every test on both loops: the app serves on uvloop, whose transports are its own classes."""
    if request.param == "uvloop":
        import uvloop

        policy: asyncio.AbstractEventLoopPolicy = uvloop.EventLoopPolicy()
        return policy
    return asyncio.DefaultEventLoopPolicy()


WAIT = 5.0  # seconds: the most any one step may take before the test fails
TIMEOUT = httpx2.Timeout(connect=2.0, read=WAIT, write=WAIT, pool=2.0)

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


class Server:
    """A scripted HTTP server: ``handler(reader, writer, n)`` serves the n-th accepted connection
    (from 1). ``accepts`` counts connections; ``closed[n]`` resolves when the client has closed
    connection n (the server read EOF or a reset), as long as its handler calls :meth:`until_closed`.
    """

    def __init__(self, handler: Handler, *, tls: ssl.SSLContext | None = None) -> None:
        self.handler = handler
        self.tls = tls
        self.accepts = 0
        self.closed: dict[int, asyncio.Future[None]] = {}
        self.requests: list[bytes] = []  # each request's head, as received
        self._writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        scheme = "https" if self.tls else "http"
        self.url = f"{scheme}://{'localhost' if self.tls else '127.0.0.1'}:{self.port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()

    def closed_future(self, n: int) -> asyncio.Future[None]:
        return self.closed.setdefault(n, asyncio.get_running_loop().create_future())

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepts += 1
        n = self.accepts
        self._writers.append(writer)
        self.closed_future(n)
        try:
            await self.handler(reader, writer, n)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        """One request's head (and its Content-Length body); b"" if the client closed instead."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            return b""
        self.requests.append(head)
        for line in head.split(b"\r\n"):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                await reader.readexactly(int(value))
        return head

    async def until_closed(self, reader: asyncio.StreamReader, n: int) -> None:
        """Read until the client closes the connection, then resolve ``closed[n]``."""
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass
        self.closed[n].set_result(None)


def client(**kwargs: object) -> httpx2.AsyncClient:
    transport = LeanTransport(**kwargs)  # type: ignore[arg-type]
    return httpx2.AsyncClient(transport=transport, timeout=TIMEOUT)


async def body_of(c: httpx2.AsyncClient, url: str) -> bytes:
    async with c.stream("GET", url) as response:
        return await response.aread()


OK_CHUNKED = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


# ---- body framing --------------------------------------------------------------------------------


async def test_chunked_body_with_extensions_and_trailer() -> None:
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(OK_CHUNKED + b"5;name=value\r\nhello\r\n6 ; x\r\n world\r\n0\r\nX-Checksum: 1\r\n\r\n")
        await server.until_closed(reader, n)

    async with Server(handler) as server, client() as c:
        response = await c.get(server.url + "/x")
        assert (response.status_code, response.content) == (200, b"hello world")
        assert response.headers["content-type"] == "text/event-stream"
        assert response.http_version == "HTTP/1.1" and response.reason_phrase == "OK"


async def test_content_length_body() -> None:
    async def handler(reader, writer, n):
        request = await server.read_request(reader)
        assert request.startswith(b"POST /v1/chat HTTP/1.1\r\n")
        writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 11\r\n\r\nhello")
        await writer.drain()
        writer.write(b" world")
        await server.until_closed(reader, n)

    async with Server(handler) as server, client() as c:
        response = await c.post(server.url + "/v1/chat", json={"stream": True})
        assert (response.status_code, response.content) == (201, b"hello world")


async def test_request_bytes() -> None:
    seen: asyncio.Future[tuple[bytes, bytes]] = asyncio.get_running_loop().create_future()

    async def handler(reader, writer, n):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(v) for k, _, v in (h.partition(b": ") for h in head.split(b"\r\n")) if k == b"Content-Length")
        seen.set_result((head, await reader.readexactly(length)))
        writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        await server.until_closed(reader, n)

    async with Server(handler) as server, client() as c:
        response = await c.post(server.url + "/p?q=1", json={"a": [1, 2]}, headers={"X-Id": "7"})
        assert (response.status_code, response.content) == (204, b"")
        head, body = await asyncio.wait_for(seen, WAIT)
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /p?q=1 HTTP/1.1"
    assert f"Host: 127.0.0.1:{server.port}".encode() in lines
    assert b"X-Id: 7" in lines
    assert body == b'{"a":[1,2]}'


async def test_read_until_close_body() -> None:
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n\r\nall of")
        await writer.drain()
        writer.write(b" it")
        writer.close()

    async with Server(handler) as server, client() as c:
        assert await body_of(c, server.url) == b"all of it"
        assert await body_of(c, server.url) == b"all of it"
        assert server.accepts == 2  # a body that ends with the connection cannot leave it reusable


async def test_interim_responses_are_skipped() -> None:
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await server.until_closed(reader, n)

    async with Server(handler) as server, client() as c:
        response = await c.get(server.url)
        assert (response.status_code, response.content) == (200, b"ok")


async def test_tokens_pass_as_soon_as_they_arrive() -> None:
    """A chunk split over reads is delivered piece by piece; chunks in one read, together."""
    steps = [asyncio.Event() for _ in range(3)]

    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(OK_CHUNKED + b"5\r\nhel")  # the first chunk's size line and part of its data
        await asyncio.wait_for(steps[0].wait(), WAIT)
        writer.write(b"lo\r")  # its end, and half of the CRLF after it
        await asyncio.wait_for(steps[1].wait(), WAIT)
        writer.write(b"\n" + chunk(b"data: 1\n\n") + chunk(b"data: 2\n\n"))  # two chunks in one write
        await asyncio.wait_for(steps[2].wait(), WAIT)
        writer.write(b"0\r\n\r\n")
        await server.until_closed(reader, n)

    async with Server(handler) as server, client() as c, c.stream("GET", server.url) as response:
        pieces = response.aiter_raw()
        assert await asyncio.wait_for(anext(pieces), WAIT) == b"hel"  # not waiting for the rest
        steps[0].set()
        assert await asyncio.wait_for(anext(pieces), WAIT) == b"lo"
        steps[1].set()
        assert await asyncio.wait_for(anext(pieces), WAIT) == b"data: 1\n\ndata: 2\n\n"
        steps[2].set()
        assert [p async for p in pieces] == []


async def test_sse_lines_arrive_one_by_one() -> None:
    """Through aiter_lines, as huggingface_hub reads: each event before the server writes the next."""
    next_token = asyncio.Event()

    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(OK_CHUNKED)
        for i in range(5):
            writer.write(chunk(b'data: {"i":%d}\n\n' % i))
            await asyncio.wait_for(next_token.wait(), WAIT)
            next_token.clear()
        writer.write(chunk(b"data: [DONE]\n\n") + b"0\r\n\r\n")
        await server.until_closed(reader, n)

    async with Server(handler) as server, client() as c, c.stream("POST", server.url, json={}) as response:
        lines = [line async for line in _lockstep(response.aiter_lines(), next_token)]
    assert [line for line in lines if line] == [f'data: {{"i":{i}}}' for i in range(5)] + ["data: [DONE]"]


@pytest.mark.parametrize("split", range(1, 40))
async def test_lines_end_only_at_cr_lf_and_crlf_wherever_the_reads_split(split: int) -> None:
    """U+2028 and U+0085 stay inside their line (raw in JSON); a CRLF, a character or a line cut
    between two reads reads the same as sent whole."""
    body = 'data: {"t":"a\u2028b\x85c"}\r\n\r\ndata: é\rlast'.encode()

    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(OK_CHUNKED + chunk(body[:split]))
        await writer.drain()
        await asyncio.sleep(0.01)  # wait-ok: two network reads, not one
        writer.write(chunk(body[split:]) + b"0\r\n\r\n")
        await server.until_closed(reader, n)

    async with Server(handler) as server, client() as c, c.stream("POST", server.url, json={}) as response:
        lines = [line async for line in response.aiter_lines()]
    assert lines == ['data: {"t":"a\u2028b\x85c"}', "", "data: é", "last"]


async def test_lines_of_a_compressed_body_are_decompressed_first() -> None:
    body = gzip.compress(b"data: 1\n\ndata: \xe2\x80\xa8 2\n\n")

    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await server.until_closed(reader, n)

    async with Server(handler) as server, client() as c, c.stream("GET", server.url) as response:
        lines = [line async for line in response.aiter_lines()]
    assert lines == ["data: 1", "", "data: \u2028 2", ""]


async def _lockstep(lines: AsyncIterator[str], next_token: asyncio.Event) -> AsyncIterator[str]:
    async for line in lines:
        if line:
            next_token.set()  # the server writes the next event only once this one arrived
        yield line


# ---- keep-alive -----------------------------------------------------------------------------------


async def _serve_keepalive(server: Server, reader, writer, n, *, extra: bytes = b"") -> None:
    while await server.read_request(reader):
        writer.write(
            b"HTTP/1.1 200 OK\r\n" + extra + b"Transfer-Encoding: chunked\r\n\r\n" + chunk(b"hi") + b"0\r\n\r\n"
        )
    server.closed[n].set_result(None)


async def test_keepalive_reuses_the_connection() -> None:
    async with Server(lambda r, w, n: _serve_keepalive(server, r, w, n)) as server, client() as c:
        for _ in range(3):
            assert await body_of(c, server.url) == b"hi"
        assert server.accepts == 1


async def test_no_reuse_after_connection_close() -> None:
    async with Server(lambda r, w, n: _serve_keepalive(server, r, w, n, extra=b"Connection: close\r\n")) as server:
        async with client() as c:
            assert await body_of(c, server.url) == b"hi"
            await asyncio.wait_for(server.closed[1], WAIT)  # the client closed it, not the server
            assert await body_of(c, server.url) == b"hi"
        assert server.accepts == 2


async def test_no_reuse_when_the_request_says_close() -> None:
    async with Server(lambda r, w, n: _serve_keepalive(server, r, w, n)) as server, client() as c:
        for _ in range(2):
            response = await c.get(server.url, headers={"Connection": "close"})
            assert response.content == b"hi"
        assert server.accepts == 2


async def test_early_close_closes_the_socket_and_is_not_reused() -> None:
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(OK_CHUNKED + chunk(b"data: 1\n\n"))  # ... and more would follow
        await server.until_closed(reader, n)

    async with Server(handler) as server, client() as c:
        async with c.stream("GET", server.url) as response:
            assert await anext(response.aiter_raw()) == b"data: 1\n\n"
        # leaving the block closes the response before its end: the server sees the socket close
        await asyncio.wait_for(server.closed[1], WAIT)
        async with c.stream("GET", server.url) as response:
            assert await anext(response.aiter_raw()) == b"data: 1\n\n"
        assert server.accepts == 2


async def test_cancelling_the_reader_closes_the_socket() -> None:
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(OK_CHUNKED + chunk(b"data: 1\n\n"))  # then nothing: the client waits
        await server.until_closed(reader, n)

    first = asyncio.Event()

    async def read_all(c: httpx2.AsyncClient) -> None:
        async with c.stream("GET", server.url) as response:
            async for _ in response.aiter_raw():
                first.set()

    async with Server(handler) as server, client() as c:
        task = asyncio.create_task(read_all(c))
        await asyncio.wait_for(first.wait(), WAIT)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.wait_for(server.closed[1], WAIT)


async def test_idle_connection_closed_by_the_server_is_not_used() -> None:
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
        if n == 1:
            await writer.drain()
            writer.close()  # an idle timeout on the server's side, as uvicorn's after 5 s
            server.closed[n].set_result(None)
        else:
            await server.until_closed(reader, n)

    async with Server(handler) as server, client() as c:
        assert await body_of(c, server.url) == b"hi"
        await asyncio.wait_for(server.closed[1], WAIT)
        # The client drops the connection when the server's FIN arrives, or, if the request
        # goes out first, sends it again on a new one: either way it must succeed.
        assert await body_of(c, server.url) == b"hi"
        assert server.accepts == 2


async def test_reused_connection_closed_before_the_response_is_retried_once() -> None:
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
        if n == 1:
            await server.read_request(reader)  # the second request arrives, and the server closes
            return
        await server.until_closed(reader, n)

    async with Server(handler) as server, client() as c:
        assert await body_of(c, server.url + "/1") == b"hi"
        assert await body_of(c, server.url + "/2") == b"hi"
        assert server.accepts == 2
        assert [r.split(b" ")[1] for r in server.requests] == [b"/1", b"/2", b"/2"]


async def test_no_resend_after_a_response_byte() -> None:
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 20")  # and then the server goes away

    async with Server(handler) as server, client() as c:
        assert await body_of(c, server.url) == b"hi"
        with pytest.raises(httpx2.RemoteProtocolError):
            await c.get(server.url)
        assert server.accepts == 1


async def test_a_new_connection_closed_before_the_response_is_not_retried() -> None:
    async def handler(reader, writer, n):
        await server.read_request(reader)

    async with Server(handler) as server, client() as c:
        with pytest.raises(httpx2.RemoteProtocolError, match="without sending a response"):
            await c.get(server.url)
        assert server.accepts == 1


async def test_idle_connections_expire() -> None:
    async with Server(lambda r, w, n: _serve_keepalive(server, r, w, n)) as server:
        limits = httpx2.Limits(max_connections=None, keepalive_expiry=0.05)
        async with client(limits=limits) as c:
            assert await body_of(c, server.url) == b"hi"
            await asyncio.wait_for(server.closed[1], WAIT)  # the client closed it, unasked
            assert await body_of(c, server.url) == b"hi"
        assert server.accepts == 2


async def test_max_connections_is_refused() -> None:
    with pytest.raises(ValueError, match="max_connections"):
        LeanTransport(limits=httpx2.Limits(max_connections=10))


# ---- failures ------------------------------------------------------------------------------------


async def test_read_timeout() -> None:
    release = asyncio.Event()

    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(OK_CHUNKED + chunk(b"data: 1\n\n"))
        await release.wait()  # then nothing

    async with Server(handler) as server, client() as c:
        timeout = httpx2.Timeout(2.0, read=0.2)
        async with c.stream("GET", server.url, timeout=timeout) as response:
            pieces = response.aiter_raw()
            assert await anext(pieces) == b"data: 1\n\n"
            with pytest.raises(httpx2.ReadTimeout):
                await asyncio.wait_for(anext(pieces), WAIT)
        release.set()


async def test_read_timeout_waiting_for_the_headers() -> None:
    release = asyncio.Event()

    async def handler(reader, writer, n):
        await server.read_request(reader)
        await release.wait()

    async with Server(handler) as server, client() as c:
        with pytest.raises(httpx2.ReadTimeout):
            await asyncio.wait_for(c.get(server.url, timeout=httpx2.Timeout(2.0, read=0.2)), WAIT)
        release.set()


async def test_connect_refused() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: connections are refused
        async with client() as c:
            with pytest.raises(httpx2.ConnectError):
                await c.get(f"http://127.0.0.1:{port}/")


@pytest.mark.parametrize(
    "response",
    [
        b"HTTP/2 200\r\n\r\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        b"ICY 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n folded\r\n\r\nhi",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nhi",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        OK_CHUNKED + b"zz\r\nhello\r\n0\r\n\r\n",
        OK_CHUNKED + b"0x5\r\nhello\r\n0\r\n\r\n",
        OK_CHUNKED + b"5\r\nhelloXX0\r\n\r\n",
        OK_CHUNKED + b"5\r\nhel",  # then the server closes: incomplete chunked read
        b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",  # then the server closes
    ],
)
async def test_malformed_responses(response: bytes) -> None:
    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(response)
        await writer.drain()

    async with Server(handler) as server, client() as c:
        with pytest.raises(httpx2.RemoteProtocolError):
            await c.get(server.url)


async def test_header_with_a_line_break_is_refused() -> None:
    async with client() as c:
        with pytest.raises(httpx2.LocalProtocolError):
            await c.get("http://127.0.0.1:1/", headers={"X-Evil": "a\r\nX-Injected: 1"})


# ---- what goes to httpx2's own transport ------------------------------------------------------------


async def test_proxy_from_the_environment_uses_the_standard_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    body = 'data: {"t":"a\u2028b"}\n\nproxied'.encode()

    async def handler(reader, writer, n):
        await server.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await server.until_closed(reader, n)

    async with Server(handler) as server:
        monkeypatch.setenv("HTTP_PROXY", server.url)
        monkeypatch.setenv("NO_PROXY", "direct.invalid")
        transport = LeanTransport()
        assert transport._delegate(httpx2.Request("GET", "http://direct.invalid/")) is None
        async with (
            httpx2.AsyncClient(transport=transport, timeout=TIMEOUT) as c,
            c.stream("GET", "http://llm.invalid:8080/v1/models") as response,
        ):
            lines = [line async for line in response.aiter_lines()]
        # A line ends only at an HTTP/SSE line end, through the proxy too (httpx2 alone splits
        # at U+2028, breaking TGI's raw JSON in two).
        assert lines == ['data: {"t":"a\u2028b"}', "", "proxied"]
        # The absolute-form request line is what a client says to a proxy: httpx2's transport said it.
        assert server.requests[0].startswith(b"GET http://llm.invalid:8080/v1/models HTTP/1.1\r\n")


async def test_proxy_environment_ignored_without_trust_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    assert LeanTransport(trust_env=False)._delegate(httpx2.Request("GET", "http://llm.invalid/")) is None
    assert LeanTransport()._delegate(httpx2.Request("GET", "http://llm.invalid/")) is not None


# ---- TLS -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting it): a self-signed certificate for localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder: Path = tmp_path_factory.mktemp("tls")
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_file, key_file)
    client_ctx = ssl.create_default_context(cafile=str(cert_file))
    return server_ctx, client_ctx


async def test_https_with_keepalive(tls_pair: tuple[ssl.SSLContext, ssl.SSLContext]) -> None:
    server_ctx, client_ctx = tls_pair
    async with Server(lambda r, w, n: _serve_keepalive(server, r, w, n), tls=server_ctx) as server:
        async with client(ssl_context=client_ctx) as c:
            assert await body_of(c, server.url) == b"hi"
            assert await body_of(c, server.url) == b"hi"
        assert server.accepts == 1


async def test_https_certificate_not_trusted_is_a_connect_error(
    tls_pair: tuple[ssl.SSLContext, ssl.SSLContext],
) -> None:
    server_ctx, _ = tls_pair
    keepalive: Handler = lambda r, w, n: _serve_keepalive(server, r, w, n)  # noqa: E731
    async with Server(keepalive, tls=server_ctx) as server, client(ssl_context=ssl.create_default_context()) as c:
        with pytest.raises(httpx2.ConnectError):
            await c.get(server.url)
