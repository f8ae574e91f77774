"""An HTTP reverse proxy in front of moto that answers chosen S3 and Glue calls with faults.

``FaultProxy`` listens on 127.0.0.1 and forwards every request to moto unchanged: method,
path and query, headers (``Host`` too, so signatures still match; only the hop-by-hop
``Connection`` and ``Keep-Alive`` stay between the client and the proxy) and body. Bodies
are streamed, never held whole: a ``Content-Length`` body is copied byte for byte, and a
``Transfer-Encoding: chunked`` body is copied with its chunk framing and trailers as sent,
which carries the ``aws-chunked`` encodings of the AWS SDKs (chunk signatures, trailing
checksums) to moto untouched. (Iceberg's S3FileIO, AWS SDK v2, sends its PutObjects as
aws-chunked with chunk signatures and a trailing checksum, framed by Content-Length, after
``Expect: 100-continue``; botocore over plain HTTP sends plain Content-Length bodies, with
``Expect: 100-continue`` for S3 uploads; s3a, reading, and Glue send small bodies or none.)
Client connections are HTTP/1.1 keep-alive, as the SDKs' connection pools expect; each
holds one keep-alive connection to moto.

What a request is (``classify``): its service (the SigV4 credential scope's, else ``glue``
for an ``X-Amz-Target: AWSGlue.<Operation>`` call, else ``s3``) and its operation: the Glue
operation, or the S3 API operation read from the method, the path (path-style addressing,
as every client of a 127.0.0.1 endpoint uses) and the sub-resource in the query
(``PutObject``, ``UploadPart``, ``CompleteMultipartUpload``, ``ListObjectsV2`` …).

Which requests fail (``Rule``): those that match a rule's service, operation, method and
resource (``object``, ``bucket``, ``service``), then every Nth of them (``every``), the
first K (``first``) or a seeded random fraction (``fraction``). Every rule counts the
requests it matches, whether or not another rule fails them; the first rule that fires
decides the fault. A retried request is a new request on the wire and counts again.

What the client gets (``Fault``): S3's ``503 SlowDown`` or ``500 InternalError`` with S3's
XML error body, Glue's ``ThrottlingException`` (HTTP 400, JSON body), a connection reset
(TCP RST, no response), or ``forward-then-drop``: the request goes to moto and takes
effect, then the client's connection is reset instead of answered, the lost response of a
commit that landed. Only the last reaches moto; it counts as forwarded and as a fault. The
SDKs retry it (a reset is retryable whatever the operation): a retried CreateTable meets
AlreadyExistsException; a retried UpdateTable is refused only by a server that checks its
VersionId as Glue does (moto 5.2's own UpdateTable ignores it and lands the retry again).

Counters (forwarded requests per operation, faults per kind and operation), the calls seen
and any error inside the proxy itself are thread-safe and readable while it runs; rules can
be replaced or cleared at any time. Only the standard library.
"""

from __future__ import annotations

import http.client
import json
import random
import select
import socket
import struct
import sys
import threading
import traceback
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, cast

Service = Literal["s3", "glue"]
Resource = Literal["object", "bucket", "service", ""]
Framing = Literal["none", "length", "chunked"]

# Hop-by-hop headers (RFC 9110, 7.6.1) that describe one connection, not the request.
# Transfer-Encoding is hop-by-hop too, but the proxy copies a chunked body with its
# framing, so the header travels with it.
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection"})
# How much of a body is copied at a time.
_BLOCK = 64 * 1024


class Fault(Enum):
    """What a failed request gets instead of moto's answer."""

    SLOW_DOWN = "slow-down"
    INTERNAL_ERROR = "internal-error"
    THROTTLING = "throttling"
    RESET = "reset"
    FORWARD_THEN_DROP = "forward-then-drop"


# The faults that are an answer in one service's protocol; the others fit any request.
_SERVICE_OF_FAULT: dict[Fault, Service] = {
    Fault.SLOW_DOWN: "s3",
    Fault.INTERNAL_ERROR: "s3",
    Fault.THROTTLING: "glue",
}


@dataclass(frozen=True)
class Call:
    """One request as the proxy saw it, before any fault."""

    service: str
    operation: str
    method: str
    resource: Resource
    path: str
    # How the request's body was framed on the wire, and its Content-Encoding (aws-chunked
    # for the SDKs' streaming uploads).
    framing: Framing
    content_encoding: str


@dataclass(frozen=True)
class Rule:
    """Fail the requests that match, with ``fault``: every Nth, the first K, or a fraction.

    Exactly one of ``every``, ``first`` and ``fraction`` is set (the constructors
    ``Rule.every_nth``, ``Rule.first_k`` and ``Rule.random_fraction`` say which). A
    match field left ``None`` matches anything.
    """

    fault: Fault
    service: Service
    operation: str | None = None
    method: str | None = None
    resource: Resource | None = None
    every: int | None = None
    first: int | None = None
    fraction: float | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        chosen = [self.every is not None, self.first is not None, self.fraction is not None]
        if sum(chosen) != 1:
            raise ValueError("a Rule needs exactly one of every=N, first=K or fraction=P")
        if self.every is not None and self.every < 1:
            raise ValueError(f"every={self.every}: fail every Nth request with N >= 1")
        if self.first is not None and self.first < 0:
            raise ValueError(f"first={self.first}: fail the first K requests with K >= 0")
        if self.fraction is not None and not 0.0 <= self.fraction <= 1.0:
            raise ValueError(f"fraction={self.fraction}: a probability, 0.0 to 1.0")
        wanted = _SERVICE_OF_FAULT.get(self.fault)
        if wanted is not None and wanted != self.service:
            raise ValueError(
                f"{self.fault.value} is a {wanted} answer; a {self.service} client would "
                f"not parse it: use service={wanted!r}, or RESET / FORWARD_THEN_DROP"
            )

    @classmethod
    def every_nth(
        cls,
        n: int,
        fault: Fault,
        service: Service,
        *,
        operation: str | None = None,
        method: str | None = None,
        resource: Resource | None = None,
    ) -> Rule:
        """Fail the Nth, 2Nth, 3Nth … matching request."""
        return cls(fault, service, operation, method, resource, every=n)

    @classmethod
    def first_k(
        cls,
        k: int,
        fault: Fault,
        service: Service,
        *,
        operation: str | None = None,
        method: str | None = None,
        resource: Resource | None = None,
    ) -> Rule:
        """Fail the first ``k`` matching requests, then none."""
        return cls(fault, service, operation, method, resource, first=k)

    @classmethod
    def random_fraction(
        cls,
        p: float,
        fault: Fault,
        service: Service,
        *,
        seed: int,
        operation: str | None = None,
        method: str | None = None,
        resource: Resource | None = None,
    ) -> Rule:
        """Fail each matching request with probability ``p``, drawn from ``Random(seed)``."""
        return cls(fault, service, operation, method, resource, fraction=p, seed=seed)

    def matches(self, call: Call) -> bool:
        return (
            call.service == self.service
            and (self.operation is None or call.operation == self.operation)
            and (self.method is None or call.method == self.method)
            and (self.resource is None or call.resource == self.resource)
        )


class _RuleState:
    """A rule's count of matching requests and its random generator (under the proxy lock)."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.matched = 0
        self.random = random.Random(rule.seed)

    def fires(self) -> bool:
        self.matched += 1
        rule = self.rule
        if rule.every is not None:
            return self.matched % rule.every == 0
        if rule.first is not None:
            return self.matched <= rule.first
        # One draw per matching request, so the sequence depends only on the seed and the
        # order of requests.
        return self.random.random() < cast(float, rule.fraction)


def classify(method: str, target: str, headers: Any) -> Call:
    """The service and operation of one request (``target`` is the path with its query)."""
    parsed = urllib.parse.urlsplit(target)
    query = urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
    amz_target = headers.get("X-Amz-Target") or ""
    service = _signed_service(headers.get("Authorization") or "", query)
    if not service:
        service = "glue" if amz_target.startswith("AWSGlue.") else "s3"
    framing: Framing = "none"
    if "chunked" in (headers.get("Transfer-Encoding") or "").lower():
        framing = "chunked"
    elif headers.get("Content-Length") is not None:
        framing = "length"
    encoding = headers.get("Content-Encoding") or ""
    if amz_target:
        # JSON protocols (Glue, Athena …): the operation is the target's last part.
        operation = amz_target.rsplit(".", 1)[-1]
        return Call(service, operation, method, "", parsed.path, framing, encoding)
    if service != "s3":
        return Call(service, method, method, "", parsed.path, framing, encoding)
    resource, operation = _s3_operation(method, parsed.path, query, headers)
    return Call("s3", operation, method, resource, parsed.path, framing, encoding)


def _signed_service(authorization: str, query: dict[str, list[str]]) -> str:
    """The service of a SigV4 credential scope (``AKID/date/region/service/aws4_request``)."""
    credential = ""
    if "Credential=" in authorization:
        credential = authorization.split("Credential=", 1)[1].split(",", 1)[0]
    elif "X-Amz-Credential" in query:  # a presigned URL
        credential = query["X-Amz-Credential"][0]
    parts = credential.strip().split("/")
    return parts[3] if len(parts) == 5 else ""


# S3 operations by (method, resource, sub-resource in the query); "" is no sub-resource.
_S3_OPERATIONS: dict[tuple[str, str, str], str] = {
    ("GET", "service", ""): "ListBuckets",
    ("GET", "bucket", ""): "ListObjects",
    ("GET", "bucket", "list-type"): "ListObjectsV2",
    ("GET", "bucket", "uploads"): "ListMultipartUploads",
    ("GET", "bucket", "versions"): "ListObjectVersions",
    ("GET", "bucket", "location"): "GetBucketLocation",
    ("HEAD", "bucket", ""): "HeadBucket",
    ("PUT", "bucket", ""): "CreateBucket",
    ("DELETE", "bucket", ""): "DeleteBucket",
    ("POST", "bucket", "delete"): "DeleteObjects",
    ("GET", "object", ""): "GetObject",
    ("GET", "object", "uploadId"): "ListParts",
    ("GET", "object", "tagging"): "GetObjectTagging",
    ("GET", "object", "attributes"): "GetObjectAttributes",
    ("HEAD", "object", ""): "HeadObject",
    ("PUT", "object", ""): "PutObject",
    ("PUT", "object", "uploadId"): "UploadPart",
    ("PUT", "object", "tagging"): "PutObjectTagging",
    ("DELETE", "object", ""): "DeleteObject",
    ("DELETE", "object", "uploadId"): "AbortMultipartUpload",
    ("DELETE", "object", "tagging"): "DeleteObjectTagging",
    ("POST", "object", "uploads"): "CreateMultipartUpload",
    ("POST", "object", "uploadId"): "CompleteMultipartUpload",
    ("POST", "object", "restore"): "RestoreObject",
}
# The sub-resources named above, most specific first (UploadPart has uploadId and
# partNumber), then the others S3 has, which no test has needed yet: those keep a plain
# name such as "GET bucket?acl". Other query parameters (prefix, marker …) are no
# sub-resource.
_S3_SUBRESOURCES = (
    "uploadId",
    "uploads",
    "list-type",
    "versions",
    "location",
    "delete",
    "tagging",
    "attributes",
    "restore",
    "accelerate",
    "acl",
    "analytics",
    "cors",
    "encryption",
    "intelligent-tiering",
    "inventory",
    "legal-hold",
    "lifecycle",
    "logging",
    "metrics",
    "notification",
    "object-lock",
    "ownershipControls",
    "policy",
    "policyStatus",
    "publicAccessBlock",
    "replication",
    "requestPayment",
    "retention",
    "select",
    "torrent",
    "versioning",
    "website",
)


def _s3_operation(
    method: str, path: str, query: dict[str, list[str]], headers: Any
) -> tuple[Resource, str]:
    bucket, _, key = path.lstrip("/").partition("/")
    resource: Resource = "object" if key else "bucket" if bucket else "service"
    sub = next((name for name in _S3_SUBRESOURCES if name in query), "")
    operation = _S3_OPERATIONS.get((method, resource, sub))
    if operation is None:
        operation = f"{method} {resource}" + (f"?{sub}" if sub else "")
    copied = headers.get("x-amz-copy-source") is not None
    if copied and operation in ("PutObject", "UploadPart"):
        operation = "CopyObject" if operation == "PutObject" else "UploadPartCopy"
    return resource, operation


class FaultProxy:
    """The proxy server; ``with FaultProxy(moto_endpoint) as proxy:`` runs it on a thread."""

    def __init__(self, upstream: str, rules: Iterable[Rule] = ()) -> None:
        parsed = urllib.parse.urlsplit(upstream)
        if parsed.scheme != "http" or not parsed.hostname or not parsed.port:
            raise ValueError(f"upstream {upstream!r}: give moto's http://host:port")
        self.upstream_host: str = parsed.hostname
        self.upstream_port: int = parsed.port
        self._lock = threading.Lock()
        self._rules = [_RuleState(rule) for rule in rules]
        self._forwarded: Counter[tuple[str, str]] = Counter()
        self._injected: Counter[tuple[Fault, str]] = Counter()
        self._calls: list[Call] = []
        self._errors: list[str] = []
        self._client_gone = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- running ---------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """``http://127.0.0.1:<port>``: the endpoint URL to give boto3, S3FileIO or s3a."""
        if self._server is None:
            raise RuntimeError("the fault proxy is not running: call start() first")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> FaultProxy:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.proxy = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- rules -----------------------------------------------------------------------------

    def set_rules(self, rules: Iterable[Rule]) -> None:
        """Replace every rule; the new ones count matching requests from zero."""
        states = [_RuleState(rule) for rule in rules]
        with self._lock:
            self._rules = states

    def add_rule(self, rule: Rule) -> None:
        with self._lock:
            self._rules.append(_RuleState(rule))

    def clear_rules(self) -> None:
        self.set_rules(())

    # -- what happened ---------------------------------------------------------------------

    def forwarded(self, operation: str | None = None, service: str | None = None) -> int:
        """Requests forwarded to moto (forward-then-drop ones included), optionally of one
        operation and/or service."""
        with self._lock:
            return sum(
                count
                for (call_service, call_operation), count in self._forwarded.items()
                if operation in (None, call_operation) and service in (None, call_service)
            )

    def injected(self, fault: Fault | None = None, operation: str | None = None) -> int:
        """Faults injected, optionally of one kind and/or on one operation."""
        with self._lock:
            return sum(
                count
                for (kind, call_operation), count in self._injected.items()
                if fault in (None, kind) and operation in (None, call_operation)
            )

    def injected_by_kind(self) -> dict[Fault, int]:
        with self._lock:
            totals: Counter[Fault] = Counter()
            for (kind, _), count in self._injected.items():
                totals[kind] += count
            return dict(totals)

    def calls(self) -> list[Call]:
        """Every request seen, in arrival order, faulted or not."""
        with self._lock:
            return list(self._calls)

    def errors(self) -> list[str]:
        """Errors inside the proxy (a traceback each): a test that expects none checks this."""
        with self._lock:
            return list(self._errors)

    def client_disconnects(self) -> int:
        """Client connections that hung up mid-request or mid-response."""
        with self._lock:
            return self._client_gone

    def reset_counts(self) -> None:
        """Zero the counters and forget the calls and errors (the rules keep their counts)."""
        with self._lock:
            self._forwarded.clear()
            self._injected.clear()
            self._calls.clear()
            self._errors.clear()
            self._client_gone = 0

    # -- used by the handler threads -------------------------------------------------------

    def _decide(self, call: Call) -> Fault | None:
        with self._lock:
            self._calls.append(call)
            fault = None
            for state in self._rules:
                if state.rule.matches(call) and state.fires() and fault is None:
                    fault = state.rule.fault
            if fault is not None:
                self._injected[fault, call.operation] += 1
            return fault

    def _count_forwarded(self, call: Call) -> None:
        with self._lock:
            self._forwarded[call.service, call.operation] += 1

    def _count_client_gone(self) -> None:
        with self._lock:
            self._client_gone += 1

    def _record_error(self, text: str) -> None:
        with self._lock:
            self._errors.append(text)


class _ClientGone(ConnectionError):
    """The client hung up mid-request or mid-response: its choice, not the proxy's error."""


class _Server(ThreadingHTTPServer):
    proxy: FaultProxy
    # Handler threads are daemons (ThreadingHTTPServer's default): stop() must not wait
    # for a client that keeps an idle keep-alive connection open.
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # An SDK that stops reading a body it no longer needs (a ranged read, a seek)
        # closes its connection: counted, not an error.
        if isinstance(sys.exc_info()[1], _ClientGone):
            self.proxy._count_client_gone()
        else:
            self.proxy._record_error(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    _upstream: http.client.HTTPConnection | None = None
    _reset = False

    # Every method goes through one path; BaseHTTPRequestHandler dispatches on do_<METHOD>.
    def _proxy(self) -> None:
        proxy = self.server.proxy
        call = classify(self.command, self.path, self.headers)
        fault = proxy._decide(call)
        if fault is Fault.RESET:
            self._reset_connection()
            return
        if fault in (Fault.SLOW_DOWN, Fault.INTERNAL_ERROR, Fault.THROTTLING):
            # Read the body first: unread, it would be taken for the next request on this
            # keep-alive connection.
            for _ in self._body():
                pass
            self._send_error(cast(Fault, fault))
            return
        response = self._forward(call)
        if fault is Fault.FORWARD_THEN_DROP:
            # Moto has applied the request; read its answer, then never send it.
            response.read()
            self._done_with_upstream(response)
            self._reset_connection()
            return
        self._relay(response)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = _proxy

    def _forward(self, call: Call) -> http.client.HTTPResponse:
        upstream = self._connection()
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                upstream.putheader(name, value)
        upstream.endheaders()
        for block in self._body():
            upstream.send(block)
        response = upstream.getresponse()
        self.server.proxy._count_forwarded(call)
        return response

    def _connection(self) -> http.client.HTTPConnection:
        """This client connection's keep-alive connection to moto, new if moto closed it."""
        upstream = self._upstream
        if upstream is not None and (upstream.sock is None or _dropped(upstream.sock)):
            upstream.close()
            upstream = None
        if upstream is None:
            proxy = self.server.proxy
            upstream = http.client.HTTPConnection(
                proxy.upstream_host, proxy.upstream_port, timeout=120
            )
            upstream.connect()
            self._upstream = upstream
        return upstream

    def _done_with_upstream(self, response: http.client.HTTPResponse) -> None:
        if response.will_close and self._upstream is not None:
            self._upstream.close()
            self._upstream = None

    def _body(self) -> Iterator[bytes]:
        """The request body as it came, in blocks: chunked with its framing, else by length."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            yield from self._chunked_body()
            return
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            block = self._read(min(remaining, _BLOCK))
            remaining -= len(block)
            yield block

    def _chunked_body(self) -> Iterator[bytes]:
        while True:
            size_line = self._read(_BLOCK, line=True)
            if not size_line.endswith(b"\n"):
                raise ValueError(f"bad chunk size line {size_line[:80]!r}")
            yield size_line
            # A chunk extension (";name=value") may follow the size.
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                break
            remaining = size + 2  # the data and its CRLF
            while remaining > 0:
                block = self._read(min(remaining, _BLOCK))
                remaining -= len(block)
                yield block
        # Trailer fields, then the empty line that ends the body.
        while True:
            line = self._read(_BLOCK, line=True)
            yield line
            if line in (b"\r\n", b"\n"):
                return

    def _read(self, limit: int, *, line: bool = False) -> bytes:
        """Up to ``limit`` bytes (or a line) of the request body; the client may be gone."""
        try:
            data = self.rfile.readline(limit) if line else self.rfile.read(limit)
        except OSError as err:
            raise _ClientGone(f"reading the body of {self.command} {self.path}") from err
        if not data:
            raise _ClientGone(f"the client closed inside the body of {self.command} {self.path}")
        return data

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
        except OSError as err:
            raise _ClientGone(f"answering {self.command} {self.path}") from err

    def _relay(self, response: http.client.HTTPResponse) -> None:
        """Moto's response to the client: status, headers and body, streamed."""
        self.send_response_only(response.status, response.reason)
        no_body = self.command == "HEAD" or response.status in (204, 304) or response.status < 200
        close_delimited = False
        for name, value in response.getheaders():
            if name.lower() in _HOP_BY_HOP or name.lower() == "transfer-encoding":
                continue
            self.send_header(name, value)
        if not no_body:
            if response.chunked:
                self.send_header("Transfer-Encoding", "chunked")
            elif response.length is None:
                # Moto ended the body by closing; so does the proxy, after it.
                close_delimited = True
                self.send_header("Connection", "close")
        try:
            self.end_headers()
        except OSError as err:
            raise _ClientGone(f"answering {self.command} {self.path}") from err
        if not no_body:
            while block := response.read1(_BLOCK):
                if response.chunked:
                    self._write(b"%x\r\n%s\r\n" % (len(block), block))
                else:
                    self._write(block)
            if response.chunked:
                self._write(b"0\r\n\r\n")
        response.read()
        self._done_with_upstream(response)
        if close_delimited:
            self.close_connection = True

    def _send_error(self, fault: Fault) -> None:
        request_id = uuid.uuid4().hex[:16].upper()
        if fault is Fault.THROTTLING:
            status = 400
            body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
            headers = {
                "Content-Type": "application/x-amz-json-1.1",
                "x-amzn-ErrorType": "ThrottlingException",
                "x-amzn-RequestId": request_id,
            }
        else:
            status, code, message = (
                (503, "SlowDown", "Please reduce your request rate.")
                if fault is Fault.SLOW_DOWN
                else (500, "InternalError", "We encountered an internal error. Please try again.")
            )
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>\n'
                f"<Error><Code>{code}</Code><Message>{message}</Message>"
                f"<RequestId>{request_id}</RequestId><HostId>fault-proxy</HostId></Error>"
            )
            headers = {
                "Content-Type": "application/xml",
                "x-amz-request-id": request_id,
                "x-amz-id-2": "fault-proxy",
            }
        payload = b"" if self.command == "HEAD" else body.encode()
        self.send_response_only(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        try:
            self.end_headers()
        except OSError as err:
            raise _ClientGone(f"answering {self.command} {self.path}") from err
        self._write(payload)

    def _reset_connection(self) -> None:
        # The socket is closed in finish(), after the handler's own files: closing it here
        # would leave it open while rfile and wfile still refer to it.
        self._reset = True
        self.close_connection = True

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            if self._upstream is not None:
                self._upstream.close()
                self._upstream = None
            if self._reset:
                # SO_LINGER 0: close() sends RST, not FIN, and drops anything unsent.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.connection.close()

    def log_message(self, fmt: str, *args: Any) -> None:
        # One line per request on stderr would drown a test's output.
        pass


def _dropped(sock: socket.socket) -> bool:
    """Whether moto closed an idle connection: readable with nothing asked means EOF."""
    readable, _, _ = select.select([sock], [], [], 0)
    return bool(readable)
