"""``python -m scripts.serve``: replicas behind Debian's nginx, sticky by a cookie the proxy sets.

Without nginx the tests that need it skip (they fail under CI=true, which installs it). The browser test at the
end drives two visitors on two replicas through the proxy.
"""

from __future__ import annotations

import base64
import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from scripts import browser as bs
from scripts import serve

START_S = 120  # two Streamlit servers importing on a busy 2-core machine
STOPPED_WITHIN_S = 10


# --- the configuration and the arguments (no processes) -----------------------------------------------------


def test_nginx_conf_names_every_replica_with_backups_and_routes_by_cookie(tmp_path):
    conf = serve.nginx_conf(9000, 3, workdir=tmp_path)
    assert "listen 127.0.0.1:9000;" in conf
    fresh = re.search(r"upstream fresh \{(.*?)\}", conf, re.S).group(1)
    assert re.findall(r"server (\S+);", fresh) == ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"]
    r2 = re.search(r"upstream r2 \{(.*?)\}", conf, re.S).group(1)
    assert re.findall(r"server (\S+?)( backup)?;", r2) == [
        ("127.0.0.1:9002", ""),
        ("127.0.0.1:9001", " backup"),
        ("127.0.0.1:9003", " backup"),
    ]
    by_cookie = re.search(r"map \$cookie_lrd_replica \$lrd_upstream \{(.*?)\}", conf, re.S).group(1)
    assert re.findall(r"(\S+) (\S+);", by_cookie) == [("default", "fresh"), ("r1", "r1"), ("r2", "r2"), ("r3", "r3")]
    served = re.search(r"map \$upstream_addr \$lrd_replica \{(.*?)\}", conf, re.S).group(1)
    assert '"~127\\.0\\.0\\.1:9003$" r3;' in served  # the last address tried is the one that answered
    for line in (
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_read_timeout 1d;",
        "add_header X-Replica $lrd_replica always;",
        'add_header Set-Cookie "lrd_replica=$lrd_replica; Path=/; HttpOnly; SameSite=Lax" always;',
    ):
        assert line in conf
    try:
        nginx = serve.find_nginx()
    except FileNotFoundError:
        return
    (tmp_path / "nginx.conf").write_text(conf)
    out = subprocess.run(
        [nginx, "-t", "-p", f"{tmp_path}/", "-e", "stderr", "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize(("port", "replicas"), [(8501, 0), (8501, serve.MAX_REPLICAS + 1), (0, 2), (65534, 2)])
def test_bad_ports_and_replica_counts_are_refused(port, replicas):
    with pytest.raises(ValueError, match=r"replicas|port"):
        serve.replica_ports(port, replicas)
    with pytest.raises(SystemExit) as exit_:
        serve.parse_args(["--replicas", str(replicas), "--port", str(port)])
    assert exit_.value.code == 2


def test_replica_ports_follow_the_proxy_port():
    assert serve.replica_ports(8501, 3) == [8502, 8503, 8504]
    args = serve.parse_args(["--replicas", "2", "--port", "9000", "--", "--client.showErrorDetails=full"])
    assert (args.replicas, args.port, args.streamlit_args) == (2, 9000, ["--client.showErrorDetails=full"])


# --- a running set: python -m scripts.serve --replicas 2 --port P -------------------------------------------


def _nginx_or_skip() -> None:
    try:
        serve.find_nginx()
    except FileNotFoundError as err:
        if os.environ.get("CI") == "true":
            pytest.fail(str(err))
        pytest.skip(str(err))


def _free_block(n: int) -> int:
    """A port P with P..P+n-1 all free on 127.0.0.1."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + n > 65535:
            continue
        socks = []
        try:
            for p in range(port, port + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no block of free ports")


@contextmanager
def serving(replicas: int = 2) -> Iterator[tuple[str, subprocess.Popen, Path]]:
    """Run ``python -m scripts.serve``; yield (proxy URL, its process, its log file); SIGTERM it at the end."""
    port = _free_block(replicas + 1)
    bs.ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log_path = bs.ARTIFACTS / f"serve-{port}.log"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("LRD_ENGINE_SYNC", None)  # real servers: the engine trains in its worker threads
    cmd = [sys.executable, "-m", "scripts.serve", "--replicas", str(replicas), "--port", str(port)]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=bs.REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_S
        while "replicas behind nginx" not in log_path.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"serve did not start (status {proc.poll()}):\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}", proc, log_path
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def proxy() -> Iterator[str]:
    _nginx_or_skip()
    with serving(2) as (url, _proc, _log):
        yield url


def _get(url: str, opener: urllib.request.OpenerDirector | None = None) -> tuple[int, dict[str, str], bytes]:
    try:
        with (opener or urllib.request.build_opener()).open(url, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def _replica_urls(proxy_url: str) -> dict[str, str]:
    port = int(proxy_url.rsplit(":", 1)[1])
    return {serve.replica_name(i): f"http://127.0.0.1:{p}" for i, p in enumerate(serve.replica_ports(port, 2), 1)}


def test_health_through_the_proxy_and_on_each_replica(proxy):
    status, headers, body = _get(proxy + "/_stcore/health")
    assert (status, body.strip()) == (200, b"ok")
    assert headers["X-Replica"] in {"r1", "r2"}
    for url in _replica_urls(proxy).values():
        status, headers, body = _get(url + "/_stcore/health")
        assert (status, body.strip()) == (200, b"ok")
        assert "X-Replica" not in headers  # straight to the replica, not through nginx


def _websocket_handshake(base: str, cookie: str | None = None) -> str:
    host = base.removeprefix("http://")
    addr, port = host.rsplit(":", 1)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        "GET /_stcore/stream HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Protocol: streamlit",
    ]
    if cookie:
        lines.append(f"Cookie: {serve.COOKIE}={cookie}")
    with socket.create_connection((addr, int(port)), timeout=30) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n\r\n")[0].decode()


def test_websocket_upgrade_through_the_proxy_answers_101_on_the_cookies_replica(proxy):
    for replica in ("r1", "r2"):
        head = _websocket_handshake(proxy, cookie=replica).split("\r\n")
        assert head[0].startswith("HTTP/1.1 101 "), head
        assert "upgrade: websocket" in [line.lower() for line in head], head
        assert f"X-Replica: {replica}" in head, head


def test_one_client_keeps_its_replica(proxy):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    seen = [_get(proxy + path, opener)[1]["X-Replica"] for path in ["/_stcore/health", "/", "/_stcore/health"] * 3]
    assert len(set(seen)) == 1, seen
    assert {c.name: c.value for c in jar}[serve.COOKIE] == seen[0]


def test_ten_fresh_clients_reach_both_replicas(proxy):
    seen = [_get(proxy + "/_stcore/health")[1]["X-Replica"] for _ in range(10)]  # no cookie jar: fresh each time
    assert set(seen) == {"r1", "r2"}, seen


def _descendants(pid: int) -> set[int]:
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        try:
            children = [int(c) for c in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
        found.update(children)
        todo += children
    return found


def _alive(pid: int) -> bool:
    try:
        state = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("State"))
    except (FileNotFoundError, ProcessLookupError, StopIteration):
        return False
    return "Z" not in state.split()[1]  # a zombie has ended; only its exit status is left


def test_sigterm_stops_everything_it_started_within_10_s():
    _nginx_or_skip()
    with serving(2) as (url, proc, log_path):
        started = _descendants(proc.pid)
        names = {Path(f"/proc/{p}/comm").read_text().strip() for p in started}
        assert len(started) >= 4 and "nginx" in names, names  # 2 replicas, nginx master + worker
        assert _websocket_handshake(url).startswith("HTTP/1.1 101")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=STOPPED_WITHIN_S)
        while any(_alive(p) for p in started) and time.monotonic() - t0 < STOPPED_WITHIN_S:
            time.sleep(0.1)
        left = [p for p in started if _alive(p)]
        assert not left, f"still running {time.monotonic() - t0:.1f} s after SIGTERM: {left}"
        assert proc.returncode == 0, log_path.read_text()[-2000:]
        port = int(url.rsplit(":", 1)[1])
        for p in [port, *serve.replica_ports(port, 2)]:
            with socket.socket() as s, pytest.raises(ConnectionRefusedError):
                s.connect(("127.0.0.1", p))


# --- two visitors in a real browser ------------------------------------------------------------------------


def _stop_if_running(main) -> None:
    """Stop the page's first run if it is still going after its verdict (it may have just ended by itself)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    stop = main.get_by_role("button", name="Stop").first
    try:
        stop.click(timeout=3_000)
    except PlaywrightTimeout:
        expect(stop).to_be_disabled()


def _download_png(page) -> tuple[bytes, str]:
    """Click the first chart's PNG button; (file bytes, URL it came from). One retry: Streamlit builds the file
    on the click and drops it after a script run or two, so a rerun between the two steps cancels the download."""
    from playwright.sync_api import Error as PlaywrightError

    button = page.get_by_test_id("stMain").get_by_test_id("stDownloadButton").filter(has_text="PNG").first
    for attempt in range(2):
        try:
            with page.expect_download() as download:
                button.click()
            return Path(download.value.path()).read_bytes(), download.value.url
        except PlaywrightError:
            if attempt:
                raise
    raise AssertionError("unreachable")


@pytest.mark.browser
def test_two_visitors_on_two_replicas_run_a_demo_and_download_a_chart(proxy, browser):
    """Each visitor gets a replica from the proxy, runs the vanishing page's Lecture race (the cheapest, ~3 s of
    training) to its verdict and downloads its first chart's PNG: every response the page got, the media file
    included, came from its own replica, and the other replica does not have that file."""
    bs.chromium_path()
    from playwright.sync_api import expect

    contexts, visitors = [], {}
    try:
        for _ in range(4):  # fresh clients go round robin: at most two tries give the second replica
            ctx = browser.new_context(viewport=bs.VIEWPORT, accept_downloads=True)
            contexts.append(ctx)
            replica = ctx.request.get(proxy + "/_stcore/health").headers["x-replica"]
            if replica not in visitors:
                visitors[replica] = ctx
            if len(visitors) == 2:
                break
        assert set(visitors) == {"r1", "r2"}
        pages, seen, pngs = {}, {r: set() for r in visitors}, {}
        for seed, (replica, ctx) in enumerate(visitors.items()):  # other seeds: other charts, other media files
            ctx.set_default_timeout(bs.ACTION_MS)
            page = ctx.new_page()
            page.on(
                "response",
                lambda resp, r=replica: resp.url.startswith(proxy) and seen[r].add(resp.headers.get("x-replica")),
            )
            page.goto(proxy + bs.url_path("pages/1_Vanishing_gradients.py") + f"?seed={seed}", timeout=bs.PAGE_LOAD_MS)
            pages[replica] = page
        for page in pages.values():
            expect(page.locator(bs.CHART_DRAWING).first).to_be_visible(timeout=bs.PAGE_LOAD_MS)
            bs.wait_until_idle(page)
            page.get_by_test_id("stMain").get_by_role("button", name="Start").first.click()  # both train at once
        for replica, page in pages.items():
            main = page.get_by_test_id("stMain")
            expect(main.get_by_text(re.compile(r"^Verdict:")).first).to_be_visible(timeout=bs.PAGE_LOAD_MS)
            _stop_if_running(main)
            bs.wait_until_idle(page)  # no live redraws left: each one may drop a generated download file
            pngs[replica], url = _download_png(page)
            assert pngs[replica][:8] == b"\x89PNG\r\n\x1a\n"
            assert "/media/" in url
            # At once (Streamlit drops a generated download file a script run or two later): the file is on
            # this visitor's replica, and a client whose cookie names the other replica is told it does not exist.
            again = visitors[replica].request.get(url)
            other = next(r for r in visitors if r != replica)
            elsewhere = visitors[other].request.get(url)
            assert (again.status, again.headers["x-replica"]) == (200, replica)
            assert again.body()[:8] == b"\x89PNG\r\n\x1a\n"
            assert (elsewhere.status, elsewhere.headers["x-replica"]) == (404, other)
            expect(page.get_by_test_id(bs.EXCEPTION)).to_have_count(0)
        assert pngs["r1"] != pngs["r2"]  # else both replicas would hold a file of that name (ids hash the content)
        for replica in visitors:
            assert seen[replica] == {replica}, seen  # the page, its scripts and data: all from one replica
    finally:
        for ctx in contexts:
            ctx.close()
