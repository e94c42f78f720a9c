"""python -m controller [run] [--listen HOST:PORT] [--health HOST:PORT] [--kubeconfig FILE] …
python -m controller webhook …   (the webhook alone: no reconciler, every cache taken with its defaults)

Settings also come from the environment the Deployment sets: KUBECTL_ORAS_NAMESPACE (downward
API), KUBECTL_ORAS_IMAGE (the image the agent containers run), KUBECTL_ORAS_POD_NAME (the leader
election's identity, with a random suffix), KUBECTL_ORAS_LOG_FORMAT (text or json).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from kubectl_oras.durations import positive_seconds
from kubectl_oras.errors import OrasError

from .runtime.logs import configure_logging, wants_json
from .runtime.webhook_process import WebhookSettings

EPILOG = """examples:
  python -m controller                                 # what the Deployment runs: webhook + reconciler
  python -m controller --kubeconfig ~/.kube/config --listen 127.0.0.1:8443 --host 127.0.0.1
  python -m controller webhook --listen 0.0.0.0:8443   # the webhook alone
"""


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{value!r} is not HOST:PORT")
    return host or "0.0.0.0", int(port)


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    try:
        return positive_seconds(number, value)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="python -m controller", epilog=EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter,
                                  description="The kubectl-oras controller: the OrasCache reconciler and the pod webhook.")
    sub = top.add_subparsers(dest="command")
    for name, help_text in (("run", "serve the webhook and reconcile OrasCaches on the leader (the default)"),
                            ("webhook", "serve the mutating admission webhook only")):
        cmd = sub.add_parser(name, help=help_text, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
        _common(cmd)
        if name == "run":
            _controller_options(cmd)
    _common(top)
    _controller_options(top)
    return top


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", default="0.0.0.0:8443", type=_host_port, metavar="HOST:PORT", help="the webhook's HTTPS address")
    p.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"), help="default: in-cluster, or ~/.kube/config")
    p.add_argument("--host", action="append", default=[], help="extra name or IP for the serving certificate")
    p.add_argument("--configuration", default="kubectl-oras", help="MutatingWebhookConfiguration to keep caBundle in")
    p.add_argument("--log-format", choices=("text", "json"), default=None,
                   help="text (default) or json: one object per line (or KUBECTL_ORAS_LOG_FORMAT)")
    p.add_argument("--log-level", default=os.environ.get("KUBECTL_ORAS_LOG_LEVEL", "info"))


def _controller_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--health", default="0.0.0.0:8080", type=_host_port, metavar="HOST:PORT",
                   help="plain HTTP address of /healthz, /readyz and /metrics")
    p.add_argument("--lease", default="kubectl-oras-controller", help="the Lease the replicas elect a leader on")
    p.add_argument("--identity", default=None,
                   help="this replica's name in the Lease (default: KUBECTL_ORAS_POD_NAME or the hostname, and a random suffix)")
    p.add_argument("--lease-seconds", type=_positive, default=15.0, help="how long a leader's Lease holds (default 15)")
    p.add_argument("--renew-seconds", type=_positive, default=10.0, help="a leader that cannot renew this long steps down")
    p.add_argument("--retry-seconds", type=_positive, default=2.0, help="how often a replica tries to take the Lease")
    p.add_argument("--watch-seconds", type=int, default=300, help="each watch request's length before it is renewed")
    p.add_argument("--workers", type=int, default=4, help="caches reconciled at once")
    p.add_argument("--drain-seconds", type=float, default=3.0, help="after SIGTERM, keep serving the webhook this long")
    # A test seam, not a setting: the registry's script and pod template carry this mark, as
    # another build's would differ (tests/cluster/test_orascache_controller_upgrade.py).
    p.add_argument("--build-mark", default="", help=argparse.SUPPRESS)


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    command = args.command or "run"
    try:
        configure_logging(json=wants_json(args.log_format, os.environ), level=args.log_level)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if command == "run" and not args.retry_seconds < args.renew_seconds < args.lease_seconds:
        print(f"error: leader election needs --retry-seconds < --renew-seconds < --lease-seconds (got "
              f"{args.retry_seconds:g}, {args.renew_seconds:g}, {args.lease_seconds:g})", file=sys.stderr)
        return 2
    namespace = os.environ.get("KUBECTL_ORAS_NAMESPACE")
    image = os.environ.get("KUBECTL_ORAS_IMAGE")
    if not namespace or not image:
        print("error: set KUBECTL_ORAS_NAMESPACE and KUBECTL_ORAS_IMAGE", file=sys.stderr)
        return 2
    host, port = args.listen
    webhook = WebhookSettings(namespace=namespace, agent_image=image, listen_host=host, listen_port=port,
                              extra_hosts=tuple(args.host), kubeconfig=args.kubeconfig, configuration=args.configuration)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        if command == "webhook":
            from .runtime.webhook_process import serve

            await serve(webhook, stop=stop)
            return
        from .runtime.controller_process import ControllerSettings
        from .runtime.controller_process import serve as serve_controller

        health_host, health_port = args.health
        settings = ControllerSettings(
            webhook=webhook, health_host=health_host, health_port=health_port, lease=args.lease,
            identity=args.identity, lease_seconds=args.lease_seconds, renew_seconds=args.renew_seconds,
            retry_seconds=args.retry_seconds, watch_seconds=args.watch_seconds, workers=args.workers,
            drain_seconds=args.drain_seconds, build_mark=args.build_mark)
        await serve_controller(settings, stop=stop, kubeconfig=args.kubeconfig)

    try:
        asyncio.run(run())
    except ValueError as e:  # settings the parts refuse (e.g. lease timings out of order)
        print(f"error: {e}", file=sys.stderr)
        return 2
    except OrasError as e:  # e.g. no cluster to talk to, or no right to keep the serving certificate
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


sys.exit(main(sys.argv[1:]))
