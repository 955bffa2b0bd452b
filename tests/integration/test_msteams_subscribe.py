"""`teampulse msteams-subscribe` against a local server that answers as Entra ID and Graph do,
and validates the notification URLs against the real `teampulse ingest` as Graph would."""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from typer.testing import CliRunner

from teampulse.cli import cli
from tests.integration.connector_stack import AS_OF, CLIENT_STATE, ConnectorStack

pytestmark = pytest.mark.integration

TENANT = "contoso-tenant"
CLIENT_ID = "app-client-id"
CLIENT_SECRET = "app-client-secret"
RESOURCE = "teams/fbe2bf47/channels/19:general@thread.tacv2/messages"
ACCESS_TOKEN = "graph-access-token"


@dataclass
class FakeGraph:
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str, Any]] = field(default_factory=list)  # method, path, body
    validated: list[str] = field(default_factory=list)  # URLs that echoed the token
    # Entra tenants the app is consented to, by the access token Entra ID gives for each
    entra_tenants: dict[str, str] = field(default_factory=lambda: {ACCESS_TOKEN: TENANT})
    owners: dict[str, str] = field(default_factory=dict)  # subscription id -> Entra tenant

    def token_for(self, entra: str) -> str | None:
        return next((t for t, e in self.entra_tenants.items() if e == entra), None)

    def validate(self, url: str) -> bool:
        """Graph POSTs ?validationToken=... and expects it back as text/plain."""
        token = f"Validation: Testing client application reachability {uuid.uuid4()}"
        request = urllib.request.Request(
            f"{url}?validationToken={urllib.parse.quote(token)}",
            data=b"",
            headers={"Content-Type": "text/plain"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            echoed = answer.read().decode() == token
            plain = answer.headers["Content-Type"].startswith("text/plain")
        if echoed and plain:
            self.validated.append(url)
        return echoed and plain


def handler_for(graph: FakeGraph) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _authorised(self) -> str | None:
            """The Entra tenant of the request's access token (a subscription lives in it)."""
            authorization = self.headers.get("Authorization", "")
            entra = graph.entra_tenants.get(authorization.removeprefix("Bearer "))
            if entra is None:
                self._answer(401, {"error": {"code": "InvalidAuthenticationToken"}})
            return entra

        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self._body()
            if self.path.endswith("/oauth2/v2.0/token"):
                form = urllib.parse.parse_qs(body.decode())
                graph.requests.append(("POST", self.path, form))
                token = graph.token_for(self.path.split("/")[1])
                if token is None:
                    self._answer(400, {"error": "invalid_tenant"})
                    return
                if form.get("client_secret") != [CLIENT_SECRET]:
                    self._answer(401, {"error": "invalid_client"})
                    return
                self._answer(200, {"token_type": "Bearer", "access_token": token})
                return
            if self.path == "/v1.0/subscriptions" and (entra := self._authorised()):
                asked = json.loads(body)
                graph.requests.append(("POST", self.path, asked))
                urls = (asked["notificationUrl"], asked["lifecycleNotificationUrl"])
                if not all(graph.validate(url) for url in urls):
                    self._answer(400, {"error": {"code": "ValidationError"}})
                    return
                created = {**asked, "id": str(uuid.uuid4())}
                graph.subscriptions[created["id"]] = created
                graph.owners[created["id"]] = entra
                self._answer(201, created)

        def do_GET(self) -> None:  # noqa: N802
            if self.path == "/v1.0/subscriptions" and (entra := self._authorised()):
                graph.requests.append(("GET", self.path, None))
                mine = [s for i, s in graph.subscriptions.items() if graph.owners[i] == entra]
                self._answer(200, {"value": mine})

        def do_PATCH(self) -> None:  # noqa: N802
            asked = json.loads(self._body())
            if self.path.startswith("/v1.0/subscriptions/") and (entra := self._authorised()):
                graph.requests.append(("PATCH", self.path, asked))
                known = graph.subscriptions.get(self.path.rsplit("/", 1)[1])
                if known is None or graph.owners[known["id"]] != entra:
                    self._answer(404, {"error": {"code": "ResourceNotFound"}})
                    return
                known.update(asked)
                self._answer(200, known)

    return Handler


@pytest.fixture
def graph() -> Iterator[tuple[FakeGraph, str]]:
    fake = FakeGraph()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(fake))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "teampulse notifications")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "notifications.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path, cert.public_bytes(serialization.Encoding.DER)


@pytest.fixture
def subscribe_env(
    monkeypatch: pytest.MonkeyPatch,
    graph: tuple[FakeGraph, str],
    certificate: tuple[Path, bytes],
    connector_stack: ConnectorStack,
) -> None:
    _, url = graph
    values = {
        "MSTEAMS_RESOURCE": RESOURCE,
        "MSTEAMS_PUBLIC_URL": connector_stack.ingest_url,
        "MSTEAMS_CLIENT_STATE": CLIENT_STATE,
        "MSTEAMS_TENANT_ID": TENANT,
        "MSTEAMS_CLIENT_ID": CLIENT_ID,
        "MSTEAMS_CLIENT_SECRET": CLIENT_SECRET,
        "MSTEAMS_CERTIFICATE_FILE": str(certificate[0]),
        "MSTEAMS_GRAPH_URL": f"{url}/v1.0",
        "MSTEAMS_LOGIN_URL": url,
        "CLOCK": AS_OF,
    }
    for name, value in values.items():
        monkeypatch.setenv(f"TEAMPULSE_{name}", value)


def run() -> Any:
    return CliRunner().invoke(cli, ["msteams-subscribe"])


@pytest.mark.usefixtures("subscribe_env")
def test_the_first_run_creates_an_encrypted_subscription_graph_could_validate(
    graph, certificate, connector_stack
):
    fake, _ = graph
    result = run()
    assert result.exit_code == 0, result.output
    [(_, _, asked)] = [r for r in fake.requests if r[:2] == ("POST", "/v1.0/subscriptions")]
    assert asked == {
        "changeType": "created,updated,deleted",
        "notificationUrl": f"{connector_stack.ingest_url}/msteams/notifications",
        "lifecycleNotificationUrl": f"{connector_stack.ingest_url}/msteams/lifecycle",
        "resource": RESOURCE,
        "includeResourceData": True,
        "encryptionCertificate": base64.b64encode(certificate[1]).decode(),
        "encryptionCertificateId": "teampulse",
        "expirationDateTime": "2026-03-03T00:55:00.000Z",
        "clientState": CLIENT_STATE,
    }
    assert len(fake.validated) == 2  # both URLs echoed Graph's validation token
    assert result.output.startswith("created subscription ")


@pytest.mark.usefixtures("subscribe_env")
def test_a_second_run_renews_the_same_subscription(graph):
    fake, _ = graph
    assert run().exit_code == 0
    [subscription_id] = fake.subscriptions
    result = run()
    assert result.exit_code == 0, result.output
    patches = [r for r in fake.requests if r[0] == "PATCH"]
    creates = [r for r in fake.requests if r[:2] == ("POST", "/v1.0/subscriptions")]
    assert patches == [
        (
            "PATCH",
            f"/v1.0/subscriptions/{subscription_id}",
            {"expirationDateTime": "2026-03-03T00:55:00.000Z"},
        )
    ]
    assert len(creates) == 1
    assert result.output.startswith(f"renewed subscription {subscription_id}")


@pytest.mark.usefixtures("subscribe_env")
def test_a_removed_subscription_is_created_again(graph):
    fake, _ = graph
    assert run().exit_code == 0
    fake.subscriptions.clear()  # Graph removed it (expired, or subscriptionRemoved)
    assert run().exit_code == 0
    assert len([r for r in fake.requests if r[:2] == ("POST", "/v1.0/subscriptions")]) == 2


@pytest.mark.usefixtures("subscribe_env")
def test_a_wrong_client_secret_fails_with_what_entra_id_said(monkeypatch, graph):
    monkeypatch.setenv("TEAMPULSE_MSTEAMS_CLIENT_SECRET", "wrong")
    result = run()
    assert result.exit_code != 0
    assert "token request: HTTP 401" in str(result.exception) + result.output


def test_missing_settings_are_named(monkeypatch):
    monkeypatch.delenv("TEAMPULSE_MSTEAMS_RESOURCE", raising=False)
    result = run()
    assert result.exit_code != 0
    assert "TEAMPULSE_MSTEAMS_RESOURCE" in str(result.exception) + result.output


TENANTS_OF_ENTRA = {
    "tenants": {
        "acme": {
            "pseudonym_secret": "acme-pseudonym-key-0001",
            "msteams": {"entra_tenants": {"entra-acme": "acme-client-state"}},
        },
        "globex": {
            "pseudonym_secret": "globex-pseudonym-key-02",
            "msteams": {
                "entra_tenants": {
                    "entra-globex-1": "globex-state-1",
                    "entra-globex-2": "globex-state-2",
                }
            },
        },
        "initech": {
            "pseudonym_secret": "initech-pseudonym-key-3",
            "msteams": {"entra_tenants": {"entra-initech": "initech-state"}},
            "suspended": True,
        },
    }
}


@pytest.fixture
def tenants_of_entra(monkeypatch, graph, tmp_path: Path) -> FakeGraph:
    fake, _ = graph
    fake.entra_tenants = {
        f"token-{e}": e for e in ("entra-acme", "entra-globex-1", "entra-globex-2")
    }
    path = tmp_path / "tenants.yaml"
    path.write_text(json.dumps(TENANTS_OF_ENTRA))
    monkeypatch.setenv("TEAMPULSE_TENANTS_FILE", str(path))
    monkeypatch.delenv("TEAMPULSE_MSTEAMS_TENANT_ID")
    monkeypatch.delenv("TEAMPULSE_MSTEAMS_CLIENT_STATE")
    return fake


@pytest.mark.usefixtures("subscribe_env")
def test_with_tenants_each_entra_tenant_gets_its_own_subscription_with_its_client_state(
    tenants_of_entra: FakeGraph,
):
    fake = tenants_of_entra
    result = run()
    assert result.exit_code == 0, result.output
    made = {fake.owners[i]: s["clientState"] for i, s in fake.subscriptions.items()}
    assert made == {  # initech is suspended: its subscription is left to expire
        "entra-acme": "acme-client-state",
        "entra-globex-1": "globex-state-1",
        "entra-globex-2": "globex-state-2",
    }
    lines = result.output.splitlines()
    assert [line.split(": ")[0] for line in lines] == [
        "tenant=acme entra=entra-acme",
        "tenant=globex entra=entra-globex-1",
        "tenant=globex entra=entra-globex-2",
    ]
    assert all(": created subscription " in line for line in lines)
    # a second run renews each in its own Entra tenant
    assert run().exit_code == 0
    assert len([r for r in fake.requests if r[0] == "PATCH"]) == 3
    assert len(fake.subscriptions) == 3


@pytest.mark.usefixtures("subscribe_env")
def test_an_entra_tenant_that_fails_is_named_and_the_others_are_subscribed(
    tenants_of_entra: FakeGraph,
):
    fake = tenants_of_entra
    del fake.entra_tenants["token-entra-globex-2"]  # the app is not consented to there
    result = run()
    assert result.exit_code != 0
    assert {fake.owners[i] for i in fake.subscriptions} == {"entra-acme", "entra-globex-1"}
    problem = str(result.exception)
    assert problem.startswith("tenant=globex entra=entra-globex-2: token request: HTTP 400")
