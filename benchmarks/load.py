"""A lecture hall without browsers: N websocket sessions open the Playground at once.

    python benchmarks/load.py [--n 1,25,100,300] [--mode same,distinct] [--settle 60]
    python benchmarks/load.py --quick          # N = 1, 5; 5 s settle: a smoke run

Each simulated student speaks Streamlit's own protocol, as the browser does (the frontend's
``WebsocketConnection`` / ``App.sendRerunBackMsg``): a websocket to ``/_stcore/stream`` with the
``streamlit`` sub-protocol, then one ``BackMsg.rerun_script`` carrying the page's query string
and URL; the server answers with ``ForwardMsg`` protobufs (deltas, ``script_finished``). No
JavaScript runs, so this measures the server alone.

For every N and mode (``same``: everybody opens the default scene, already cached after a warm-up
view; ``distinct``: every session its own start point, i.e. its own simulation and figures) it
prints
- server CPU per page view: user + system time of the server process (``/proc/PID/stat``, all
  threads) over the wave, divided by N;
- p50 / p95 / max time from sending the request to the last chart (the third
  ``plotly_chart`` delta) and to ``script_finished``;
- bytes received per view;
- server RSS (``/proc/PID/status``) before the wave, when all views are done, right after the
  websockets close, and ``--settle`` seconds later.

The server is started here (``streamlit run app.py`` on a free port, the repository's
``.streamlit/config.toml``) unless ``--url`` and ``--pid`` name a running one. Numbers are
wall-clock and CPU times on this machine (shared with other work: say so when quoting them).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app.py"
CHARTS = 3                      # the Playground draws three Plotly charts
CLK = os.sysconf("SC_CLK_TCK")


# ----------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(extra: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.headless", "true",
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false", *extra],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("streamlit exited early")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.read().strip() == b"ok":
                    return proc, url
        except OSError:
            time.sleep(0.25)
    stop_server(proc)
    raise RuntimeError("streamlit did not become healthy")


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK      # utime, stime (fields 14, 15)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# ----------------------------------------------------------------------------- one student
class View:
    """One websocket session that opens a page and waits for its run to finish."""

    def __init__(self, ws_url: str, http_url: str, query: str):
        self.ws_url, self.http_url, self.query = ws_url, http_url, query
        self.ws = None
        self.bytes = 0
        self.t_chart: float | None = None
        self.t_done: float | None = None
        self.error: str | None = None

    async def open(self, timeout: float) -> None:
        from streamlit.proto.BackMsg_pb2 import BackMsg
        from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
        from websockets.asyncio.client import connect

        t0 = time.perf_counter()
        try:
            # the browser offers permessage-deflate; Streamlit's server does not compress its
            # websocket frames either way, so none is asked for here
            self.ws = await connect(self.ws_url, subprotocols=["streamlit"], max_size=None,
                                    compression=None, open_timeout=timeout,
                                    ping_interval=None)
            msg = BackMsg()
            cs = msg.rerun_script
            cs.query_string = self.query
            cs.page_name = ""
            cs.context_info.url = self.http_url + "/" + (("?" + self.query) if self.query else "")
            cs.context_info.timezone = "UTC"
            cs.context_info.locale = "en-US"
            await self.ws.send(msg.SerializeToString())
            charts = 0
            async with asyncio.timeout(timeout):
                while True:
                    raw = await self.ws.recv()
                    self.bytes += len(raw)
                    fm = ForwardMsg()
                    fm.ParseFromString(raw)
                    kind = fm.WhichOneof("type")
                    if kind == "delta" and fm.delta.WhichOneof("type") == "new_element" \
                            and fm.delta.new_element.WhichOneof("type") == "plotly_chart":
                        charts += 1
                        if charts == CHARTS:
                            self.t_chart = time.perf_counter() - t0
                    elif kind == "delta" and fm.delta.new_element.WhichOneof("type") == \
                            "exception":
                        self.error = fm.delta.new_element.exception.message[:200]
                    elif kind == "script_finished":
                        if fm.script_finished == ForwardMsg.FINISHED_SUCCESSFULLY:
                            self.t_done = time.perf_counter() - t0
                            return
        except Exception as e:        # noqa: BLE001 - a failed view is counted, not fatal
            self.error = f"{type(e).__name__}: {e}"

    async def close(self) -> None:
        if self.ws is not None:
            try:
                await self.ws.close()
            except Exception:         # noqa: BLE001
                pass


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def query_for(mode: str, i: int, wave: int) -> str:
    if mode == "same":
        return ""                                   # the default scene, cached
    # distinct: every session (and every wave) its own start: a new simulation and figures
    return f"x0={-2.6 + 0.0007 * (i + 1000 * wave):.4f}"


async def wave(url: str, pid: int, n: int, mode: str, settle: float, timeout: float,
               wave_no: int) -> dict:
    ws_url = url.replace("http", "ws", 1) + "/_stcore/stream"
    views = [View(ws_url, url, query_for(mode, i, wave_no)) for i in range(n)]
    rss0 = rss_mb(pid)
    c0, w0 = cpu_seconds(pid), time.perf_counter()
    await asyncio.gather(*(v.open(timeout) for v in views))
    c1, w1 = cpu_seconds(pid), time.perf_counter()
    rss1 = rss_mb(pid)
    await asyncio.gather(*(v.close() for v in views))
    await asyncio.sleep(1.0)
    rss2 = rss_mb(pid)
    await asyncio.sleep(max(settle - 1.0, 0.0))
    rss3 = rss_mb(pid)
    ok = [v for v in views if v.t_done is not None and v.t_chart is not None and not v.error]
    charts = [v.t_chart for v in ok]
    done = [v.t_done for v in ok]
    return dict(n=n, mode=mode, ok=len(ok), errors=[v.error for v in views if v.error][:3],
                cpu_per_view=(c1 - c0) / n, wall=w1 - w0,
                chart_p50=pct(charts, 0.5), chart_p95=pct(charts, 0.95),
                chart_max=max(charts, default=float("nan")),
                done_p50=pct(done, 0.5), done_p95=pct(done, 0.95),
                kb_per_view=statistics.mean([v.bytes for v in views]) / 1024,
                rss_before=rss0, rss_done=rss1, rss_closed=rss2, rss_settled=rss3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", default="1,25,100,300", help="comma-separated session counts")
    ap.add_argument("--mode", default="same,distinct", help="same, distinct or both")
    ap.add_argument("--settle", type=float, default=60.0,
                    help="seconds after closing before the last RSS reading")
    ap.add_argument("--timeout", type=float, default=900.0, help="per view, seconds")
    ap.add_argument("--quick", action="store_true", help="N = 1, 5 and a 5 s settle")
    ap.add_argument("--url", help="a running server (with --pid), instead of starting one")
    ap.add_argument("--pid", type=int, help="the running server's process id")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="extra `streamlit run` option, e.g. --server-arg=--server.x=y")
    args = ap.parse_args()
    if args.quick:
        args.n, args.settle = "1,5", 5.0
    ns = [int(x) for x in args.n.split(",") if x.strip()]
    modes = [m.strip() for m in args.mode.split(",") if m.strip()]

    proc = None
    if args.url:
        if not args.pid:
            ap.error("--url needs --pid (the server's CPU and memory are read from /proc)")
        url, pid = args.url.rstrip("/"), args.pid
    else:
        proc, url = start_server(args.server_arg)
        pid = proc.pid
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}; server {url} (pid {pid}), machine shared with other work")
    try:
        c0 = cpu_seconds(pid)
        warm = asyncio.run(wave(url, pid, 1, "same", 0.0, args.timeout, 0))
        print(f"warm-up view (cold caches): {cpu_seconds(pid) - c0:.2f} s CPU, "
              f"last chart after {warm['chart_p50']:.2f} s, RSS {warm['rss_done']:.0f} MB")
        head = (f"{'N':>4} {'mode':>8} {'ok':>4} {'CPU/view':>9} {'wall':>7} {'chart p50':>9} "
                f"{'p95':>7} {'max':>7} {'KB/view':>8} {'RSS before':>10} {'done':>7} "
                f"{'closed':>7} {'+settle':>7}")
        print(head)
        for w, n in enumerate(ns, start=1):
            for mode in modes:
                r = asyncio.run(wave(url, pid, n, mode, args.settle, args.timeout, w))
                print(f"{r['n']:>4} {r['mode']:>8} {r['ok']:>4} {r['cpu_per_view']:>8.3f}s "
                      f"{r['wall']:>6.1f}s {r['chart_p50']:>8.2f}s {r['chart_p95']:>6.2f}s "
                      f"{r['chart_max']:>6.2f}s {r['kb_per_view']:>8.0f} "
                      f"{r['rss_before']:>8.0f}MB {r['rss_done']:>5.0f}MB "
                      f"{r['rss_closed']:>5.0f}MB {r['rss_settled']:>5.0f}MB", flush=True)
                if r["errors"]:
                    print("      errors: " + "; ".join(r["errors"]))
        print(f"(RSS per session while open ≈ (done − before) / N; '+settle' = {args.settle:g} s "
              "after the websockets closed)")
    finally:
        if proc is not None:
            stop_server(proc)


if __name__ == "__main__":
    main()
