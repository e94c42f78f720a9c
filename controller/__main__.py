"""python -m controller webhook [--listen HOST:PORT] [--kubeconfig FILE] [--host NAME]…
                              [--log-format text|json] [--log-level LEVEL]

Settings also come from the environment the Deployment sets: KUBECTL_ORAS_NAMESPACE (downward
API), KUBECTL_ORAS_IMAGE (the image the agent containers run), KUBECTL_ORAS_LOG_FORMAT and
KUBECTL_ORAS_LOG_LEVEL (the flags win).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys

from .runtime.logs import FORMATS, LEVEL_ENV, LEVELS, configure_logging, wants_json
from .runtime.webhook_process import WebhookSettings, serve


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m controller")
    sub = parser.add_subparsers(dest="command", required=True)
    hook = sub.add_parser("webhook", help="serve the mutating admission webhook")
    hook.add_argument("--listen", default="0.0.0.0:8443", metavar="HOST:PORT")
    hook.add_argument("--kubeconfig", default=os.environ.get("KUBECONFIG"))
    hook.add_argument("--host", action="append", default=[], help="extra name or IP for the serving certificate")
    hook.add_argument("--configuration", default="kubectl-oras", help="MutatingWebhookConfiguration to keep caBundle in")
    hook.add_argument("--log-format", choices=FORMATS, help="text (the default) or one JSON object per line")
    hook.add_argument("--log-level", default=os.environ.get(LEVEL_ENV) or "info", help=f"one of {', '.join(LEVELS)}")
    args = parser.parse_args(argv)
    try:
        configure_logging(json=wants_json(args.log_format, os.environ), level=args.log_level)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    namespace = os.environ.get("KUBECTL_ORAS_NAMESPACE")
    image = os.environ.get("KUBECTL_ORAS_IMAGE")
    if not namespace or not image:
        print("error: set KUBECTL_ORAS_NAMESPACE and KUBECTL_ORAS_IMAGE", file=sys.stderr)
        return 2
    host, _, port = args.listen.rpartition(":")
    settings = WebhookSettings(namespace=namespace, agent_image=image, listen_host=host, listen_port=int(port),
                               extra_hosts=tuple(args.host), kubeconfig=args.kubeconfig, configuration=args.configuration)

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(settings, stop=stop)

    asyncio.run(run())
    return 0


sys.exit(main(sys.argv[1:]))
