"""Render deploy/haproxy.cfg.in into a working HAProxy configuration.

Two ways to name the replicas, the rest of the file is the same:

* ``--server HOST:PORT`` (repeated): fixed addresses, e.g. two ``streamlit run`` on loopback
  (tests/test_deploy.py);
* ``--dns NAME:PORT --replicas N``: the compose deployment, where Docker's DNS resolves the
  service name to every replica (HAProxy's ``server-template`` fills N slots from it).

    python deploy/render_proxy_config.py --bind 127.0.0.1:8080 --server 127.0.0.1:8501 \\
        --server 127.0.0.1:8502 -o haproxy.cfg

Standard library only (it runs in the proxy image too).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).with_name("haproxy.cfg.in")
DOCKER_DNS = "127.0.0.11:53"          # Docker's embedded DNS server, inside every container
_ADDR = re.compile(r"^[A-Za-z0-9_.\-]+:[0-9]{1,5}$")


def render(*, bind: str, servers: list[str] | None = None, dns: str | None = None,
           replicas: int = 0, cookie_key: str = "adamem-lab", pidfile: str | None = None,
           template: Path = TEMPLATE) -> str:
    """The configuration text. Exactly one of ``servers`` (HOST:PORT, …) or ``dns`` (NAME:PORT,
    with ``replicas`` ≥ 1 slots) names the replicas."""
    if bool(servers) == bool(dns):
        raise ValueError("give either servers (HOST:PORT …) or dns (NAME:PORT), not both")
    for a in [bind, *(servers or []), *([dns] if dns else [])]:
        if not _ADDR.match(a):
            raise ValueError(f"not a HOST:PORT address: {a!r}")
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", cookie_key):
        raise ValueError("cookie_key: 1–64 letters, digits, '_', '.', '-'")
    if servers:
        lines = [f"    server replica{i} {a} check" for i, a in enumerate(servers, 1)]
        resolvers = ""
    else:
        if not 1 <= replicas <= 256:
            raise ValueError("replicas must be between 1 and 256")
        # init-addr none: start even while the replicas are not resolvable yet (they start in
        # parallel); the resolver fills the slots as DNS answers
        lines = [f"    server-template replica 1-{replicas} {dns} check resolvers docker "
                 "init-addr none"]
        resolvers = ("resolvers docker\n"
                     f"    nameserver docker {DOCKER_DNS}\n"
                     "    resolve_retries 3\n"
                     "    timeout resolve 1s\n"
                     "    timeout retry 1s\n"
                     "    hold valid 10s\n"
                     "    hold other 10s\n"
                     "    hold refused 10s\n"
                     "    hold nx 10s\n"
                     "    hold timeout 10s\n")
    global_extra = f"    pidfile {pidfile}" if pidfile else ""
    text = template.read_text()
    for slot, value in (("@@GLOBAL@@", global_extra), ("@@RESOLVERS@@", resolvers),
                        ("@@BIND@@", bind), ("@@COOKIE_KEY@@", cookie_key),
                        ("@@SERVERS@@", "\n".join(lines))):
        if slot not in text:
            raise ValueError(f"the template has no {slot} slot")
        text = text.replace(slot, value)
    left = re.findall(r"@@[A-Z_]+@@", text)
    if left:
        raise ValueError(f"unfilled template slots: {left}")
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bind", default=os.environ.get("PROXY_BIND", "0.0.0.0:8080"))
    ap.add_argument("--server", action="append", default=[], help="HOST:PORT of one replica")
    ap.add_argument("--dns", default=None, help="NAME:PORT resolving to every replica")
    ap.add_argument("--replicas", type=int, default=int(os.environ.get("REPLICAS", "0") or 0))
    ap.add_argument("--cookie-key", default=os.environ.get("COOKIE_KEY", "adamem-lab"))
    ap.add_argument("--pidfile", default=None)
    ap.add_argument("-o", "--output", default="-")
    a = ap.parse_args(argv)
    try:
        text = render(bind=a.bind, servers=a.server, dns=a.dns, replicas=a.replicas,
                      cookie_key=a.cookie_key, pidfile=a.pidfile)
    except ValueError as e:
        print(f"render_proxy_config: {e}", file=sys.stderr)
        return 2
    if a.output == "-":
        sys.stdout.write(text)
    else:
        Path(a.output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
