"""HTTP endpoints behind an exporter-toolkit web.yml: TLS and bcrypt basic auth, checked by
a real client and by a real Prometheus scrape."""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path

import bcrypt
import pytest

from tests.conftest import need_external
from tests.net import web_server
from tests.security.certs import Pki, make_pki
from tests.waiting import wait_until
from tradewire.consumers.cli import main
from tradewire.consumers.embedded import EmbeddedNats
from tradewire.consumers.metrics import MetricsConfig, MetricsService
from tradewire.consumers.runtime import ConfigError, Health, HealthServer, load_web_config

PASSWORD = "s3cret-scrape-pw"


def _hash(password: str, prefix: bytes = b"$2b$") -> str:
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4))
    return (prefix + hashed[4:]).decode()


def _web_yml(directory: Path, pki: Pki, users: dict[str, str] | None = None) -> Path:
    users = {"prometheus": _hash(PASSWORD)} if users is None else users
    path = directory / "web.yml"
    path.write_text(
        "tls_server_config:\n"
        f"  cert_file: {pki.server_cert.name}\n"  # relative to web.yml, as in the toolkit
        f"  key_file: {pki.server_key.name}\n"
        "basic_auth_users:\n"
        + "".join(f"  {u}: '{h}'\n" for u, h in users.items())
        + "http_server_config:\n  headers:\n    X-Frame-Options: deny\n"
    )
    return path


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


@pytest.fixture
async def server(pki: Pki) -> AsyncIterator[HealthServer]:
    async def metrics(headers: dict[str, str]) -> tuple[int, str, bytes]:
        return 200, "text/plain", b"up_and_running 1\n"

    web = load_web_config(_web_yml(pki.ca.parent, pki))
    health = Health(ready=True, reason="consuming")
    http = await HealthServer(health, extra={"/metrics": metrics}, web=web).start()
    yield http
    await http.close()


def _get(
    url: str, ca: Path | None, user: str = "", password: str = ""
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url)
    if user:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
    try:
        with urllib.request.urlopen(request, timeout=5, context=ctx) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


async def test_tls_and_basic_auth(server: HealthServer, pki: Pki) -> None:
    base = f"https://127.0.0.1:{server.port}"
    code, headers, body = await asyncio.to_thread(
        _get, base + "/metrics", pki.ca, "prometheus", PASSWORD
    )
    assert (code, body) == (200, b"up_and_running 1\n")
    assert headers["X-Frame-Options"] == "deny"
    for user, password in (("", ""), ("prometheus", "wrong"), ("nobody", PASSWORD)):
        code, headers, body = await asyncio.to_thread(
            _get, base + "/metrics", pki.ca, user, password
        )
        assert code == 401 and body == b'{"error": "unauthorized"}'
        assert headers["WWW-Authenticate"].startswith("Basic")
    code, _, _ = await asyncio.to_thread(_get, base + "/health", pki.ca)
    assert code == 401  # everything but the probes
    for probe in ("/live", "/ready"):
        code, _, _ = await asyncio.to_thread(_get, base + probe, pki.ca)
        assert code == 200
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        await asyncio.to_thread(_get, base + "/live", pki.other_ca)


async def test_htpasswd_style_hashes_are_accepted(pki: Pki) -> None:
    """htpasswd -B writes $2y$ hashes; the toolkit's docs use them."""
    web = load_web_config(_web_yml(pki.ca.parent, pki, {"p": _hash("pw", b"$2y$")}))
    token = base64.b64encode(b"p:pw").decode()
    assert await web.authorized(f"Basic {token}")
    assert await web.authorized(f"Basic {token}")  # remembered: no second bcrypt
    assert not await web.authorized("Basic " + base64.b64encode(b"p:px").decode())
    assert not await web.authorized("Bearer abc")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("basic_auth_users:\n  u: plaintext\n", "not a bcrypt hash"),
        ("tls_server_config:\n  cert_file: x.crt\n  cipher_suites: [x]\n", "cipher_suites"),
        ("tls_server_config:\n  cert_file: x.crt\n", "key_file are required"),
        ("tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n", "nope"),
        ("nonsense: 1\n", "nonsense"),
    ],
)
def test_a_bad_web_config_names_what_is_wrong(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "web.yml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_web_config(path)


def test_serve_with_a_bad_web_config_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "web.yml"
    path.write_text("basic_auth_users:\n  u: plaintext\n")
    code = main(["serve", "metrics", "--nats-url", "nats://127.0.0.1:1", "--web-config", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "not a bcrypt hash" in err and err.count("\n") == 1


@pytest.mark.nats
async def test_prometheus_scrapes_metrics_with_basic_auth_over_tls(
    nats_server: EmbeddedNats, pki: Pki, tmp_path: Path
) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        need_external("prometheus", "install Debian's prometheus package")
    assert binary is not None
    web = _web_yml(pki.ca.parent, pki)
    service = MetricsService(
        MetricsConfig(nats_url=nats_server.url, http_port=0, web_config=str(web))
    )
    task = await service.start(20)
    assert service.http is not None
    password_file = tmp_path / "scrape-password"
    password_file.write_text(PASSWORD)
    target = f"['127.0.0.1:{service.http.port}']"
    tls = f"    tls_config: {{ca_file: {pki.ca}}}\n"
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, scrape_timeout: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: authed\n    scheme: https\n"
        + tls
        + f"    basic_auth: {{username: prometheus, password_file: {password_file}}}\n"
        f"    static_configs: [{{targets: {target}}}]\n"
        "  - job_name: anonymous\n    scheme: https\n"
        + tls
        + f"    static_configs: [{{targets: {target}}}]\n"
    )
    try:
        with web_server(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}"],
            tmp_path / "prometheus.log",
        ) as url:

            def targets() -> dict[str, dict[str, object]]:
                with urllib.request.urlopen(f"{url}/api/v1/targets", timeout=5) as r:
                    active = json.loads(r.read())["data"]["activeTargets"]
                return {t["labels"]["job"]: t for t in active if t["health"] != "unknown"}

            seen: dict[str, dict[str, object]] = {}

            async def both_scraped() -> bool:
                seen.update(await asyncio.to_thread(targets))
                return len(seen) == 2

            await wait_until(both_scraped, timeout=45, what="both jobs scraped")

            def query(promql: str) -> list[object]:
                q = urllib.parse.urlencode({"query": promql})
                with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=5) as r:
                    result: list[object] = json.loads(r.read())["data"]["result"]
                    return result

            await wait_until(
                lambda: asyncio.to_thread(query, 'tradewire_pipeline_ready{job="authed"} == 1'),
                timeout=30,
                what="the service's own metrics in Prometheus",
            )
    finally:
        service.stop()
        assert await task == 0
    assert seen["authed"]["health"] == "up"
    assert seen["anonymous"]["health"] == "down"
    assert "401" in str(seen["anonymous"]["lastError"])
