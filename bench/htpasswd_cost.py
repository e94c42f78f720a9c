"""What the htpasswd bcrypt cost adds to every authenticated registry request.

distribution checks the password against the bcrypt hash on every request that carries basic
auth (it caches nothing), so the cost is paid per blob, manifest and tag listing. Times
sequential authenticated ``GET /v2/`` against real registries on loopback, for each cost, with
the same requests without auth as the baseline in the same run. Median of --repeat requests.

    python bench/htpasswd_cost.py [--repeat 30] [--costs 4,10,12]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import bcrypt
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.registries import KINDS, start_registry  # noqa: E402


def median_ms(url: str, repeat: int, auth: tuple[str, str] | None) -> float:
    session = requests.Session()
    times = []
    for _ in range(repeat + 1):
        start = time.perf_counter()
        r = session.get(url, auth=auth)
        times.append(time.perf_counter() - start)
        assert r.status_code == 200, r.status_code
    return statistics.median(times[1:]) * 1000  # the first opens the connection


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--costs", default="4,10,12")
    args = parser.parse_args()
    password = secrets.token_urlsafe(32)
    for kind in KINDS:
        registry = start_registry(kind)
        try:
            base = median_ms(f"http://{registry.host}/v2/", args.repeat, None)
        finally:
            registry.stop()
        print(f"{kind}: no auth {base:.2f} ms a request")
        for cost in (int(c) for c in args.costs.split(",")):
            with tempfile.TemporaryDirectory() as tmp:
                htpasswd = Path(tmp) / "htpasswd"
                htpasswd.write_text(f"oras:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(cost)).decode()}\n")
                registry = start_registry(kind, htpasswd=htpasswd)
                try:
                    ms = median_ms(f"http://{registry.host}/v2/", args.repeat, ("oras", password))
                finally:
                    registry.stop()
            print(f"{kind}: cost {cost:2d}: {ms:7.2f} ms a request ({ms - base:+.2f} ms, x{ms / base:.1f})")


if __name__ == "__main__":
    main()
