"""A toxiproxy server for the fault tier: TCP proxies on 127.0.0.1 whose links the tests poison.

The server is the pinned binary that ``scripts/toxiproxy.sh install`` builds (``binary``).
``Toxiproxy`` runs it on a free port, creates proxies (``create_proxy``: a listen address
on 127.0.0.1, an upstream ``host:port``) and adds and removes toxics through its HTTP API,
as toxiproxy v2.5.0's README documents it (``POST /proxies``, ``POST
/proxies/{proxy}/toxics``, ``DELETE /proxies/{proxy}/toxics/{toxic}``, ``GET /version``).

A toxic is built by one of the functions named after its type (``latency``,
``bandwidth``, ``reset_peer``, ``timeout``, ``slicer``, ``limit_data``, ``slow_close``),
each taking that toxic's attributes in toxiproxy's units, then the common fields:
``stream`` (``downstream``, the default, poisons what the upstream sends back; ``upstream``
what the client sends) and ``toxicity`` (the probability that a new connection gets it).
``Toxiproxy.toxic`` adds one for the length of a ``with`` block.

Only the standard library: the Airflow tier's virtualenv must be able to import this too.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from tests.lakes import REPO, free_port

Stream = Literal["upstream", "downstream"]

# What `scripts/toxiproxy.sh install` builds; the server answers GET /version with it.
VERSION = "2.5.0"


class ToxiproxyError(RuntimeError):
    """The toxiproxy server did not start, or its API refused a request (message says why)."""


def binary() -> Path:
    """The toxiproxy server binary, built by ``scripts/toxiproxy.sh install`` if needed.

    The first build takes about 20 s (Go and the Go module proxy); later calls only check
    the version the binary reports.
    """
    script = REPO / "scripts" / "toxiproxy.sh"
    done = subprocess.run([str(script), "install"], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ToxiproxyError(
            f"{script} install failed (exit {done.returncode}): {done.stderr.strip()}; "
            "it needs Go 1.17+ and the Go module proxy (or GOPROXY)"
        )
    return Path(done.stdout.strip().splitlines()[-1])


@dataclass(frozen=True)
class ToxicSpec:
    """A toxic to add: its type, attributes, stream, toxicity and name (toxiproxy's fields)."""

    type: str
    attributes: Mapping[str, int] = field(default_factory=dict)
    stream: Stream = "downstream"
    toxicity: float = 1.0
    # toxiproxy's default name is "<type>_<stream>"; one of each per proxy unless named.
    name: str | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.toxicity <= 1.0:
            raise ValueError(f"toxicity {self.toxicity} is a probability: use 0.0 to 1.0")

    @property
    def toxic_name(self) -> str:
        return self.name or f"{self.type}_{self.stream}"

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.toxic_name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": self.toxicity,
            "attributes": dict(self.attributes),
        }


def latency(
    latency_ms: int,
    jitter_ms: int = 0,
    *,
    stream: Stream = "downstream",
    toxicity: float = 1.0,
    name: str | None = None,
) -> ToxicSpec:
    """Delay all data by ``latency_ms`` ± ``jitter_ms`` milliseconds."""
    attributes = {"latency": latency_ms, "jitter": jitter_ms}
    return ToxicSpec("latency", attributes, stream, toxicity, name)


def bandwidth(
    rate_kb_per_s: int,
    *,
    stream: Stream = "downstream",
    toxicity: float = 1.0,
    name: str | None = None,
) -> ToxicSpec:
    """Limit the link to ``rate_kb_per_s`` kilobytes per second."""
    return ToxicSpec("bandwidth", {"rate": rate_kb_per_s}, stream, toxicity, name)


def reset_peer(
    timeout_ms: int = 0,
    *,
    stream: Stream = "downstream",
    toxicity: float = 1.0,
    name: str | None = None,
) -> ToxicSpec:
    """Reset the connection (TCP RST) when data arrives, after ``timeout_ms`` (0: at once)."""
    return ToxicSpec("reset_peer", {"timeout": timeout_ms}, stream, toxicity, name)


def timeout(
    timeout_ms: int,
    *,
    stream: Stream = "downstream",
    toxicity: float = 1.0,
    name: str | None = None,
) -> ToxicSpec:
    """Pass no data and close after ``timeout_ms``; with 0, hold it until the toxic goes."""
    return ToxicSpec("timeout", {"timeout": timeout_ms}, stream, toxicity, name)


def slicer(
    average_size: int,
    size_variation: int = 0,
    delay_us: int = 0,
    *,
    stream: Stream = "downstream",
    toxicity: float = 1.0,
    name: str | None = None,
) -> ToxicSpec:
    """Slice data into ``average_size`` ± ``size_variation`` byte packets ``delay_us`` apart.

    The delay is in microseconds, unlike every other toxiproxy time.
    """
    attributes = {
        "average_size": average_size,
        "size_variation": size_variation,
        "delay": delay_us,
    }
    return ToxicSpec("slicer", attributes, stream, toxicity, name)


def limit_data(
    limit_bytes: int,
    *,
    stream: Stream = "downstream",
    toxicity: float = 1.0,
    name: str | None = None,
) -> ToxicSpec:
    """Close the connection once ``limit_bytes`` bytes have passed."""
    return ToxicSpec("limit_data", {"bytes": limit_bytes}, stream, toxicity, name)


def slow_close(
    delay_ms: int,
    *,
    stream: Stream = "downstream",
    toxicity: float = 1.0,
    name: str | None = None,
) -> ToxicSpec:
    """Delay closing the connection by ``delay_ms``."""
    return ToxicSpec("slow_close", {"delay": delay_ms}, stream, toxicity, name)


@dataclass(frozen=True)
class Proxy:
    """A proxy as the server reports it: ``listen`` is the address it actually bound."""

    name: str
    listen: str
    upstream: str
    enabled: bool

    @property
    def port(self) -> int:
        return int(self.listen.rsplit(":", 1)[1])

    @property
    def endpoint(self) -> str:
        """The proxy as an ``http://`` URL, for clients of an HTTP upstream such as moto."""
        return f"http://{self.listen}"


class Toxiproxy:
    """One toxiproxy server process, its API on 127.0.0.1; a context manager that stops it."""

    def __init__(self, server_binary: Path, log_file: Path) -> None:
        self._binary = server_binary
        self._log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None
        self._api = ""
        # The API on 127.0.0.1 is never reached through an HTTP(S)_PROXY of the environment.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    @property
    def api(self) -> str:
        """The HTTP API's base URL, ``http://127.0.0.1:<port>``."""
        if not self._api:
            raise ToxiproxyError("toxiproxy is not running: call start() first")
        return self._api

    def start(self, timeout_s: float = 30.0) -> Toxiproxy:
        """Run the server on a free port and wait until ``GET /version`` answers."""
        port = free_port()
        with self._log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [str(self._binary), "-host", "127.0.0.1", "-port", str(port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._api = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                version = self._request("GET", "/version").decode()
                break
            except (OSError, ToxiproxyError):
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise ToxiproxyError(
                        f"toxiproxy did not start on 127.0.0.1:{port}; see {self._log_file}"
                    ) from None
                time.sleep(0.05)
        if version.strip() != VERSION:
            self.stop()
            raise ToxiproxyError(
                f"{self._binary} is toxiproxy {version!r}, not {VERSION}; "
                "run scripts/toxiproxy.sh install"
            )
        return self

    def stop(self) -> None:
        """Stop the server (SIGTERM, which it exits on, then SIGKILL after 10 s)."""
        process, self._process, self._api = self._process, None, ""
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def __enter__(self) -> Toxiproxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def create_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> Proxy:
        """A new proxy from ``listen`` to ``upstream`` (``host:port``).

        With port 0 (the default) the server binds a free port itself, with no race between
        choosing it and binding it; the returned ``Proxy.listen`` says which.
        """
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        return _proxy(self._json("POST", "/proxies", body))

    def get_proxy(self, name: str) -> Proxy:
        return _proxy(self._json("GET", f"/proxies/{name}"))

    def set_enabled(self, name: str, enabled: bool) -> Proxy:
        """Take a proxy down (``False``: connections refused, open ones dropped) or up."""
        return _proxy(self._json("POST", f"/proxies/{name}", {"enabled": enabled}))

    def delete_proxy(self, name: str) -> None:
        self._request("DELETE", f"/proxies/{name}")

    def add_toxic(self, proxy: str, spec: ToxicSpec) -> dict[str, Any]:
        """Add ``spec`` to ``proxy``; returns the toxic as the server stored it."""
        created = self._json("POST", f"/proxies/{proxy}/toxics", spec.as_json())
        if not isinstance(created, dict):
            raise ToxiproxyError(f"toxiproxy answered a new toxic with {created!r}")
        return created

    def toxics(self, proxy: str) -> list[dict[str, Any]]:
        """The toxics active on ``proxy``, as the server reports them."""
        listed = self._json("GET", f"/proxies/{proxy}/toxics")
        if not isinstance(listed, list):
            raise ToxiproxyError(f"toxiproxy listed the toxics of {proxy} as {listed!r}")
        return listed

    def remove_toxic(self, proxy: str, toxic_name: str) -> None:
        self._request("DELETE", f"/proxies/{proxy}/toxics/{toxic_name}")

    def clear_toxics(self, proxy: str) -> None:
        """Remove every toxic of ``proxy`` (``reset`` would do it for all proxies)."""
        for toxic in self.toxics(proxy):
            self.remove_toxic(proxy, str(toxic["name"]))

    def reset(self) -> None:
        """Enable every proxy and remove every toxic (``POST /reset``)."""
        self._request("POST", "/reset")

    @contextmanager
    def toxic(self, proxy: str, spec: ToxicSpec) -> Iterator[dict[str, Any]]:
        """``spec`` on ``proxy`` for the length of the block, removed however it ends."""
        created = self.add_toxic(proxy, spec)
        try:
            yield created
        finally:
            self.remove_toxic(proxy, spec.toxic_name)

    def _json(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        return json.loads(self._request(method, path, body))

    def _request(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> bytes:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.api}{path}", data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self._opener.open(request, timeout=10) as response:
                answer: bytes = response.read()
                return answer
        except urllib.error.HTTPError as err:
            # The API's errors are JSON: {"error": "...", "status": N}.
            detail = err.read().decode(errors="replace").strip()
            raise ToxiproxyError(f"toxiproxy {method} {path}: HTTP {err.code}: {detail}") from err


def _proxy(answer: Any) -> Proxy:
    if not isinstance(answer, dict):
        raise ToxiproxyError(f"toxiproxy answered with {answer!r}, not a proxy")
    return Proxy(
        name=str(answer["name"]),
        listen=str(answer["listen"]),
        upstream=str(answer["upstream"]),
        enabled=bool(answer["enabled"]),
    )
