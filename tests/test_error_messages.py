"""Errors name the fix: connection-level failures, remote-Airflow refusals and conf values, over real HTTP.

Every connection-level failure (refused, DNS, TLS, timeouts) must name the Airflow
connection, the URL and the likely fix, the same way from the worker's transport
(``requests``) and the triggerer's (``aiohttp``); TLS failures are never retried.
The servers here are the sandbox and, for certificates, a TLS server made by the
test with a self-signed certificate; both bind 127.0.0.1 and stop by themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from airflow_provider_pipelines.errors import (
    AmbiguousError,
    AuthError,
    ConfigurationError,
    NotSentError,
    TlsError,
)
from airflow_provider_pipelines.hooks.dataform import DataformHook
from airflow_provider_pipelines.hooks.dataops import DataOpsHook
from airflow_provider_pipelines.hooks.profitbase import ProfitbaseHook
from airflow_provider_pipelines.hooks.remote_airflow import RemoteAirflowHook
from airflow_provider_pipelines.http import close_shared_sessions
from airflow_provider_pipelines.runs import RunState

REF = {"project_id": "1234", "run_id": "77"}
FAST = {"timeout": 2, "max_attempts": 2, "backoff": 0.01, "backoff_max": 0.01}
UNRESOLVABLE = "pipelines-sandbox-nowhere.invalid"  # RFC 6761: never resolves


def define(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(fields))


def read(hook: DataformHook, transport: str):
    """Read run REF through the worker's transport (sync) or the triggerer's (async)."""
    if transport == "sync":
        return hook.get_run(REF)

    async def read_async():
        try:
            return await hook.aget_run(REF)
        finally:
            await close_shared_sessions()

    return asyncio.run(read_async())


def retries_logged(caplog: pytest.LogCaptureFixture) -> int:
    return sum("retrying in" in r.getMessage() for r in caplog.records)


# -- servers made by the tests ---------------------------------------------------------------------


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def full_backlog_port() -> Iterator[int]:
    """A port whose listen queue is full: a new connection is never accepted (a connect timeout)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    for _ in range(3):
        filler = socket.socket()
        filler.setblocking(False)
        with contextlib.suppress(BlockingIOError):  # the connect goes on in the kernel's queue
            filler.connect(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for s in [*fillers, server]:
        s.close()


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no one vouches for, and its key (made with ``cryptography``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


class _RunningRun(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"id": "77", "status": "RUNNING"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class TlsServer(ThreadingHTTPServer):
    """HTTPS on 127.0.0.1 with a self-signed certificate; counts the connections it was offered."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _RunningRun)
        self.context = context
        self.connections = 0

    def get_request(self):  # type: ignore[no-untyped-def]
        sock, addr = self.socket.accept()
        self.connections += 1
        sock.settimeout(5)
        try:
            return self.context.wrap_socket(sock, server_side=True), addr
        except (ssl.SSLError, OSError):
            sock.close()
            raise

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that refuses the certificate is what these tests expect


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    cert, key = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = TlsServer(context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    stopper = threading.Timer(300, server.shutdown)  # stops by itself, whatever the test does
    stopper.start()
    yield server
    stopper.cancel()
    server.shutdown()
    server.server_close()


# -- connection-level failures, both transports ------------------------------------------------------


@pytest.mark.parametrize("transport", ["sync", "async"])
def test_refused_names_the_connection_the_url_and_the_fix(monkeypatch, caplog, transport):
    port = closed_port()
    define(
        monkeypatch,
        "failing",
        conn_type="dataform_web",
        host=f"http://127.0.0.1:{port}/df",
        password="unit-test-token",
        extra=FAST,
    )
    with pytest.raises(NotSentError) as info:
        read(DataformHook("failing"), transport)
    message = str(info.value)
    assert info.value.failure == "refused"
    assert f"could not connect to http://127.0.0.1:{port}/df/v1/project/1234/run/77" in message
    assert f"connection refused (nothing listens on 127.0.0.1:{port})" in message
    assert "Check the host and port of Airflow connection 'failing'" in message
    assert retries_logged(caplog) == 1  # refused is retried: nothing reached the server


@pytest.mark.parametrize("transport", ["sync", "async"])
def test_an_unresolvable_host_says_dns(monkeypatch, transport):
    define(
        monkeypatch,
        "failing",
        conn_type="dataform_web",
        host=f"http://{UNRESOLVABLE}",
        password="unit-test-token",
        extra=FAST,
    )
    with pytest.raises(NotSentError) as info:
        read(DataformHook("failing"), transport)
    message = str(info.value)
    assert info.value.failure == "dns"
    assert f"could not connect to http://{UNRESOLVABLE}/v1/project/1234/run/77" in message
    assert f"DNS lookup of {UNRESOLVABLE!r} failed" in message and "refused" not in message
    assert "Check the host name in Airflow connection 'failing'" in message


@pytest.mark.parametrize("transport", ["sync", "async"])
@pytest.mark.parametrize("scheme", ["https://", ""])
def test_https_to_a_plain_http_port_is_a_tls_error_not_retried(
    sandbox, monkeypatch, caplog, transport, scheme
):
    host = f"{scheme}127.0.0.1:{sandbox.port}/dataform"
    define(
        monkeypatch,
        "failing",
        conn_type="dataform_web",
        host=host,
        password="unit-test-token",
        extra={**FAST, "max_attempts": 5},
    )
    with pytest.raises(TlsError) as info:
        read(DataformHook("failing"), transport)
    message = str(info.value)
    assert info.value.failure == "tls"
    assert f"could not connect to https://127.0.0.1:{sandbox.port}/dataform/v1/project/1234/run/77" in message
    assert f"the TLS handshake with 127.0.0.1:{sandbox.port} failed" in message
    assert f"Does 127.0.0.1:{sandbox.port} speak https? If it serves plain http, write http://" in message
    assert "Is its certificate trusted" in message and "verify_ssl" in message
    assert "Airflow connection 'failing'" in message and "Not retried" in message
    # only a host given without a scheme says that https:// was assumed
    assert ("has no scheme, so https:// was assumed" in message) is (scheme == "")
    assert retries_logged(caplog) == 0


@pytest.mark.parametrize("transport", ["sync", "async"])
def test_an_untrusted_certificate_is_a_tls_error_tried_once(monkeypatch, caplog, tls_server, transport):
    host = f"https://127.0.0.1:{tls_server.server_address[1]}"
    define(
        monkeypatch,
        "failing",
        conn_type="dataform_web",
        host=host,
        password="unit-test-token",
        extra={**FAST, "max_attempts": 5},
    )
    with pytest.raises(TlsError) as info:
        read(DataformHook("failing"), transport)
    message = str(info.value)
    assert "the certificate was not accepted" in message and "verify_ssl" in message
    assert "Airflow connection 'failing'" in message and host in message
    assert tls_server.connections == 1 and retries_logged(caplog) == 0


@pytest.mark.parametrize("transport", ["sync", "async"])
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_ssl_false_the_fix_the_message_names_reaches_that_server(monkeypatch, tls_server, transport):
    host = f"https://127.0.0.1:{tls_server.server_address[1]}"
    extra = {**FAST, "verify_ssl": False}
    define(
        monkeypatch,
        "selfsigned",
        conn_type="dataform_web",
        host=host,
        password="unit-test-token",
        extra=extra,
    )
    assert read(DataformHook("selfsigned"), transport).state is RunState.RUNNING


@pytest.mark.parametrize("transport", ["sync", "async"])
def test_a_connect_timeout_names_the_connection_and_the_fix(monkeypatch, full_backlog_port, transport):
    extra = {"timeout": 1, "max_attempts": 1}
    define(
        monkeypatch,
        "failing",
        conn_type="dataform_web",
        host=f"http://127.0.0.1:{full_backlog_port}",
        password="unit-test-token",
        extra=extra,
    )
    with pytest.raises(NotSentError) as info:
        read(DataformHook("failing"), transport)
    message = str(info.value)
    assert info.value.failure == "connect_timeout"
    assert f"could not connect to http://127.0.0.1:{full_backlog_port}/v1/project/1234/run/77" in message
    assert "no connection within 0.9s" in message
    assert "Check the host and port of Airflow connection 'failing'" in message and "firewall" in message


@pytest.mark.parametrize("transport", ["sync", "async"])
def test_a_read_timeout_names_the_connection_and_its_timeout_extra(sandbox, client, monkeypatch, transport):
    client.fault("delay", "/run/77$", seconds=3)
    extra = {"timeout": 1, "max_attempts": 1}
    define(
        monkeypatch,
        "slow",
        conn_type="dataform_web",
        host=sandbox.vendor_url("dataform"),
        password="unit-test-token",
        extra=extra,
    )
    with pytest.raises(AmbiguousError) as info:
        read(DataformHook("slow"), transport)
    message = str(info.value)
    assert info.value.failure == "read_timeout"
    assert f"no response from {sandbox.vendor_url('dataform')}/v1/project/1234/run/77 within 1s" in message
    assert "raise the extra timeout of Airflow connection 'slow'" in message


# -- airflow connections test / the Test button: the same reasons, one try ---------------------------

HOOKS = {
    "dataform_web": DataformHook,
    "profitbase_invision": ProfitbaseHook,
    "dataops_live": DataOpsHook,
    "remote_airflow": RemoteAirflowHook,
}


@pytest.mark.parametrize("conn_type", sorted(HOOKS))
@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("refused", "connection refused (nothing listens on"),
        ("dns", f"DNS lookup of {UNRESOLVABLE!r} failed"),
        ("no scheme", "has no scheme, so https:// was assumed. Does 127.0.0.1:"),
    ],
)
def test_connection_test_gives_the_reason_and_fix_at_the_first_try(
    sandbox, monkeypatch, caplog, conn_type, case, fragment
):
    host = {
        "refused": f"http://127.0.0.1:{closed_port()}",
        "dns": f"http://{UNRESOLVABLE}",
        "no scheme": f"127.0.0.1:{sandbox.port}",
    }[case]
    define(
        monkeypatch,
        "ui_conn",
        conn_type=conn_type,
        host=host,
        password="secret-token",
        extra={"max_attempts": 5},
    )
    ok, message = HOOKS[conn_type]("ui_conn").test_connection()
    assert not ok
    assert fragment in message and "Airflow connection 'ui_conn'" in message
    assert "secret-token" not in message
    assert retries_logged(caplog) == 0  # a connection test answers at once, not after five tries


# -- a remote Airflow's 401 and 403: a refused token, or a user without a permission -----------------


def _airflow_token(sandbox) -> str:
    import urllib.request

    request = urllib.request.Request(
        sandbox.vendor_url("remote_airflow") + "/auth/token",
        data=json.dumps({"username": "admin", "password": "sandbox-airflow-password"}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(json.loads(answer.read())["access_token"])


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        (
            "invalid token",
            "refused the token of Airflow connection 'remote' as invalid ('Invalid JWT token')",
        ),
        ("expired token", "refused the token of Airflow connection 'remote' as expired ('Token Expired')"),
        ("no credentials", "got no credentials from Airflow connection 'remote' ('Not authenticated')"),
        ("airflow 2 login", "refused the login 'admin' and password of Airflow connection 'remote'"),
        (
            "no permission",
            "accepted the credentials of Airflow connection 'remote', but their user may not trigger DAG "
            "'etl' ('Forbidden')",
        ),
    ],
)
def test_a_refused_trigger_tells_a_refused_token_from_a_missing_permission(
    sandbox, client, monkeypatch, case, expected
):
    base = sandbox.vendor_url("remote_airflow")
    fields: dict[str, object] = {"host": base, "password": "sandbox-astro-deployment-token"}
    if case == "invalid token":
        fields["password"] = "a-token-from-elsewhere"
    elif case == "expired token":
        fields["password"] = _airflow_token(sandbox)
        client.vendor_admin("remote_airflow", "expire_tokens")
    elif case == "no credentials":
        fields = {"host": base, "extra": {"auth_type": "none", "max_attempts": 1}}
    elif case == "airflow 2 login":
        fields = {"host": base + "/v1gen", "login": "admin", "password": "not-the-password"}
    else:
        client.fault("status", "/dagRuns$", method="POST", status=403, body='{"detail": "Forbidden"}')
    define(monkeypatch, "remote", conn_type="remote_airflow", **{"extra": {"max_attempts": 1}, **fields})
    with pytest.raises(AuthError) as info:
        RemoteAirflowHook("remote").trigger_dag_run("etl", dag_run_id="r1")
    message = str(info.value)
    assert expected in message
    # a refused token is not a permission problem, and a permission problem does not blame the token
    assert ("may not trigger" in message) is (case == "no permission")
    assert "not-the-password" not in message and "a-token-from-elsewhere" not in message


def test_the_triggerer_says_a_token_was_refused_too(sandbox, client, monkeypatch):
    define(
        monkeypatch,
        "remote",
        conn_type="remote_airflow",
        host=sandbox.vendor_url("remote_airflow"),
        password="a-token-from-elsewhere",
        extra={"max_attempts": 1},
    )
    hook = RemoteAirflowHook("remote")

    async def read_async():
        try:
            return await hook.aget_run({"api": "v2", "dag_id": "etl", "dag_run_id": "r1"})
        finally:
            await close_shared_sessions()

    with pytest.raises(AuthError, match="refused the token of Airflow connection 'remote' as invalid"):
        asyncio.run(read_async())


# -- a conf value that is not JSON names its key --------------------------------------------------------


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        (
            {"day": datetime.datetime(2026, 1, 31)},
            "conf['day'] is of type datetime.datetime: pass it as text",
        ),
        ({"day": datetime.date(2026, 1, 31)}, "conf['day'] is of type datetime.date"),
        ({"rows": [1, {"ids": {1, 2}}]}, "conf['rows'][1]['ids'] is of type set: pass a list instead"),
        ({"ratio": float("nan")}, "conf['ratio'] is nan (JSON has no NaN or infinity)"),
        ({"raw": b"x"}, "conf['raw'] is of type bytes"),
    ],
)
def test_a_conf_value_that_is_not_json_is_named_before_any_request(conf, expected):
    from airflow_provider_pipelines.operators.remote_airflow import TriggerRemoteDagRunOperator

    with pytest.raises(ConfigurationError) as info:
        TriggerRemoteDagRunOperator(task_id="t", dag_id="etl", conf=conf)
    assert expected in str(info.value)


@pytest.fixture(autouse=True)
def _provider_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="airflow_provider_pipelines")
