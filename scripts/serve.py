"""Several Streamlit servers behind Debian's nginx, for a host with more cores than one server uses.

    python -m scripts.serve --replicas N --port P [--listen ADDRESS] [-- STREAMLIT-OPTIONS...]

Starts N ``streamlit run app.py`` processes on 127.0.0.1, ports P+1..P+N (replicas ``r1``..``rN``), waits until
each answers ``/_stcore/health``, then starts nginx on ADDRESS:P (default 127.0.0.1) in front of them:

- **sticky sessions by a cookie the proxy sets**: a request without the ``lrd_replica`` cookie goes to the next
  replica in turn (round robin, so fresh visitors spread over all of them), and every response sets the cookie
  to the replica that answered; later requests with the cookie go to that replica. A visitor's session, its
  WebSocket, its uploads and its download-button media all live in one process, so they must reach the same
  one. If that replica is down, the others stand in (and the cookie follows), the session starts afresh;
- **WebSocket upgrade** (``Upgrade``/``Connection`` passed on) and a read timeout of one day, so an idle
  visitor's connection is not cut;
- every response names its replica in an ``X-Replica`` header.

What is per replica: its run engine (queue, workers, shared runs: two visitors on different replicas who press
Start with the same settings train twice), its caches and its memory. Each replica's engine gets
``LRD_WORKERS`` = usable cores // N (at least 1) unless the variable is set.

Ctrl-C or SIGTERM stops nginx and every replica (SIGTERM, then SIGKILL after 5 s) and exits 0. If a replica or
nginx exits by itself, everything is stopped and the exit status is 1, so a supervisor (systemd's
``Restart=on-failure``) restarts the whole set. The replicas' output is passed on, each line prefixed with its
replica's name. Linux only (nginx, ``prctl``).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
COOKIE = "lrd_replica"
REPLICA_HOST = "127.0.0.1"  # replicas listen on loopback only; visitors reach them through nginx
MAX_REPLICAS = 64
START_TIMEOUT_S = 120  # N servers importing Streamlit at once on a few cores
STOP_GRACE_S = 5  # SIGTERM, then SIGKILL: everything is gone well within 10 s
NGINX_SEARCH = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")


def replica_name(i: int) -> str:
    """Name of replica ``i`` (1-based) in the cookie and the ``X-Replica`` header: ``r1``, ``r2``, ..."""
    return f"r{i}"


def replica_ports(port: int, replicas: int) -> list[int]:
    """Ports of the replicas behind a proxy on ``port``: port+1 .. port+replicas.

    Raises ValueError unless 1 <= replicas <= MAX_REPLICAS and 1 <= port, port + replicas <= 65535.
    """
    if not 1 <= replicas <= MAX_REPLICAS:
        raise ValueError(f"replicas must be in [1, {MAX_REPLICAS}], got {replicas}")
    if port < 1 or port + replicas > 65535:
        raise ValueError(f"port must be in [1, {65535 - replicas}] for {replicas} replicas, got {port}")
    return [port + i for i in range(1, replicas + 1)]


def nginx_conf(port: int, replicas: int, *, listen: str = "127.0.0.1", workdir: Path, max_body_mb: int = 2) -> str:
    """The nginx configuration: ``listen``:``port`` in front of ``replicas`` servers on 127.0.0.1:port+1...

    ``workdir`` holds nginx's pid file and temporary files. ``max_body_mb`` caps a request body (uploads; the
    app's own cap is ``server.maxUploadSize`` = 1 MB).
    """
    ports = replica_ports(port, replicas)
    names = [replica_name(i) for i in range(1, replicas + 1)]
    addr = {name: f"{REPLICA_HOST}:{p}" for name, p in zip(names, ports, strict=True)}
    fresh = "\n".join(f"        server {a};" for a in addr.values())
    sticky = "\n".join(
        f"    upstream {name} {{\n        server {a};\n"
        + "".join(f"        server {b} backup;\n" for other, b in addr.items() if other != name)
        + "    }"
        for name, a in addr.items()
    )
    by_cookie = "\n".join(f"        {name} {name};" for name in names)
    # $upstream_addr lists every server tried ("a, b" after a failover): the last one answered
    served = "\n".join(f'        "~{_regex_escape(a)}$" {name};' for name, a in addr.items())
    return f"""# Written by scripts/serve.py; nginx runs in the foreground under it.
worker_processes 1;
daemon off;
pid {workdir}/nginx.pid;
error_log stderr warn;
events {{
    worker_connections 4096;
}}
http {{
    access_log off;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    client_max_body_size {max_body_mb}m;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        "" close;
    }}
    # A visitor without the cookie: the next replica in turn.
    upstream fresh {{
{fresh}
    }}
    # A visitor with the cookie: its replica, the others only if it is down.
{sticky}
    map $cookie_{COOKIE} $lrd_upstream {{
        default fresh;
{by_cookie}
    }}
    map $upstream_addr $lrd_replica {{
        default "";
{served}
    }}
    server {{
        listen {f"[{listen}]" if ":" in listen else listen}:{port};
        location / {{
            proxy_pass http://$lrd_upstream;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_connect_timeout 5s;
            proxy_read_timeout 1d;
            proxy_send_timeout 1d;
            proxy_buffering off;
            add_header X-Replica $lrd_replica always;
            add_header Set-Cookie "{COOKIE}=$lrd_replica; Path=/; HttpOnly; SameSite=Lax" always;
        }}
    }}
}}
"""


def _regex_escape(address: str) -> str:
    return address.replace(".", "\\.")


def find_nginx(explicit: str | None = None) -> str:
    """Path of the nginx binary (Debian puts it in /usr/sbin, often not on a user's PATH); FileNotFoundError."""
    candidates = [explicit] if explicit else [shutil.which("nginx"), *NGINX_SEARCH]
    for c in candidates:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return c
    raise FileNotFoundError(
        f"nginx not found ({explicit})" if explicit else "nginx not found: apt-get install nginx (Debian/Ubuntu)"
    )


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity on Linux)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


try:
    _LIBC = ctypes.CDLL(None, use_errno=True)  # loaded here: the child below only calls into it
except OSError:
    _LIBC = None
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Runs in each child before exec: the child gets SIGTERM if serve.py dies, even by SIGKILL (Linux)."""
    if _LIBC is not None and hasattr(_LIBC, "prctl"):
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


class Cluster:
    """The processes one ``serve`` started: replicas and nginx; :meth:`stop` ends them all."""

    def __init__(self) -> None:
        self.procs: dict[str, subprocess.Popen] = {}  # name -> process, in start order
        self._pumps: list[threading.Thread] = []

    def spawn(self, name: str, cmd: Sequence[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        proc = subprocess.Popen(
            list(cmd),
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches serve.py only; it stops the children in order
            preexec_fn=_die_with_parent,
        )
        self.procs[name] = proc
        pump = threading.Thread(target=_pump, args=(name, proc), daemon=True)
        pump.start()
        self._pumps.append(pump)
        return proc

    def exited(self) -> list[tuple[str, int]]:
        return [(name, p.returncode) for name, p in self.procs.items() if p.poll() is not None]

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        """SIGTERM to every process group (nginx first: no new requests), SIGKILL to what is left after grace_s."""
        for proc in reversed(self.procs.values()):
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGKILL)  # the group too: anything a child started
            proc.wait()
        for pump in self._pumps:
            pump.join(timeout=1)


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)  # start_new_session: the group id is the child's pid


def _pump(name: str, proc: subprocess.Popen) -> None:
    """Pass a child's output on, line by line, prefixed with its name."""
    assert proc.stdout is not None
    for raw in iter(proc.stdout.readline, b""):
        try:
            sys.stdout.write(f"[{name}] {raw.decode(errors='replace')}")
            sys.stdout.flush()
        except (OSError, ValueError):  # our own output closed: keep draining, or the child blocks on a full pipe
            pass
    proc.stdout.close()


def _wait_healthy(cluster: Cluster, urls: dict[str, str], stop: threading.Event) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    pending = dict(urls)
    while pending:
        if stop.is_set():
            raise KeyboardInterrupt
        if dead := cluster.exited():
            raise RuntimeError(", ".join(f"{n} exited with status {rc}" for n, rc in dead) + " while starting")
        if time.monotonic() > deadline:
            raise RuntimeError(f"not healthy after {START_TIMEOUT_S} s: {', '.join(pending)}")
        pending = {n: u for n, u in pending.items() if not _healthy(u)}
        if pending:
            stop.wait(0.5)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.serve",
        description="N Streamlit replicas behind nginx with cookie-sticky sessions (see the module docstring).",
    )
    parser.add_argument("--replicas", type=int, default=2, help=f"servers to start, 1-{MAX_REPLICAS} (default 2)")
    parser.add_argument("--port", type=int, default=8501, help="nginx's port; replicas use the next N (8501)")
    parser.add_argument("--listen", default="127.0.0.1", help="nginx's address (default 127.0.0.1; 0.0.0.0: all)")
    parser.add_argument("--app", default="app.py", help="the Streamlit script, relative to the repository root")
    parser.add_argument("--nginx", default=None, help="path of the nginx binary (default: PATH, then /usr/sbin)")
    parser.add_argument("streamlit_args", nargs="*", help="after --: options for every `streamlit run`")
    args = parser.parse_args(argv)
    try:
        replica_ports(args.port, args.replicas)
    except ValueError as err:
        parser.error(str(err))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        nginx = find_nginx(args.nginx)
    except FileNotFoundError as err:
        print(f"serve: {err}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())

    ports = replica_ports(args.port, args.replicas)
    env = {**os.environ, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    env.setdefault("LRD_WORKERS", str(max(1, usable_cores() // args.replicas)))
    # One cookie secret for all replicas (in the environment, not on the command line that `ps` shows): a
    # visitor moved to another replica when its own is down keeps a valid XSRF cookie.
    env.setdefault("STREAMLIT_SERVER_COOKIE_SECRET", secrets.token_hex(32))
    cluster = Cluster()
    workdir = Path(tempfile.mkdtemp(prefix="lrd-serve-"))
    workdir.chmod(0o755)  # nginx's workers (user nobody when started as root) create temp files inside
    status = 0
    try:
        urls = {}
        for i, p in enumerate(ports, start=1):
            name = replica_name(i)
            cmd = [sys.executable, "-m", "streamlit", "run", args.app, "--server.port", str(p)]
            cmd += ["--server.address", REPLICA_HOST, "--server.headless", "true", *args.streamlit_args]
            cluster.spawn(name, cmd, env)
            urls[name] = f"http://{REPLICA_HOST}:{p}"
        _wait_healthy(cluster, urls, stop)
        conf = workdir / "nginx.conf"
        conf.write_text(nginx_conf(args.port, args.replicas, listen=args.listen, workdir=workdir))
        cluster.spawn("nginx", [nginx, "-p", f"{workdir}/", "-e", "stderr", "-c", str(conf)])
        local = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(args.listen, args.listen)  # where to check its health
        proxy = f"http://{f'[{local}]' if ':' in local and not local.startswith('[') else local}:{args.port}"
        _wait_healthy(cluster, {"nginx": proxy}, stop)
        for name, url in urls.items():
            print(f"serve: replica {name} at {url} (pid {cluster.procs[name].pid})", flush=True)
        print(f"serve: {args.replicas} replicas behind nginx at http://{args.listen}:{args.port}", flush=True)
        while not stop.wait(0.5):
            if dead := cluster.exited():
                print("serve: " + ", ".join(f"{n} exited with status {rc}" for n, rc in dead), file=sys.stderr)
                status = 1
                break
    except KeyboardInterrupt:
        pass
    except RuntimeError as err:
        print(f"serve: {err}", file=sys.stderr)
        status = 1
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        print("serve: stopped", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
