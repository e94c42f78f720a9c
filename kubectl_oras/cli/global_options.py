"""The program's own options, before any command: kubectl's config flags (``--as``, ``--token``,
``--server``...), ``-v`` and ``--version``. ``cli/command_line.py`` moves them here from wherever
they were written, so ``kubectl oras status --as jane`` is ``kubectl oras --as jane status``.

Light: the cluster stack is not imported; the flags go to ``kube/config_flags.py`` (standard
library alone), and only when one is given, for ``kube/config.py: connect`` to apply.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..errors import OrasError
from ..release import __version__
from .common import handle_errors

REQUEST_LOG_LEVEL = 6  # kubectl's -v 6: each request's method, URL, status and time


def show_version(value: bool) -> None:
    if value:
        typer.echo(f"kubectl-oras {__version__}")
        raise typer.Exit()


def log_requests() -> None:
    """-v 6 and up: a line on stderr for each request to the registry and to the API, as kubectl's
    -v 6 logs them (the loggers are oci/transport.py's and kube/api.py's)."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s.%(msecs)03d %(message)s", datefmt="%H:%M:%S"))
    log = logging.getLogger("kubectl_oras.requests")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False


@handle_errors
def global_options(
    version: Annotated[bool, typer.Option("--version", is_eager=True, callback=show_version,
                                          help="Print this kubectl-oras's version and exit.")] = False,
    impersonate: Annotated[str | None, typer.Option("--as", metavar="USER",
                                                    help="Act as this user (impersonation).")] = None,
    impersonate_group: Annotated[list[str] | None, typer.Option(
        "--as-group", metavar="GROUP", help="Act as a member of this group (impersonation, with --as).")] = None,
    token: Annotated[str | None, typer.Option("--token", metavar="TOKEN", show_default=False,
                                              help="Bearer token for the API, in place of the kubeconfig "
                                                   "user's credentials (never shown).")] = None,
    server: Annotated[str | None, typer.Option("--server", "-s", metavar="URL",
                                               help="The API server's address.")] = None,
    certificate_authority: Annotated[str | None, typer.Option(
        "--certificate-authority", metavar="FILE", help="The CA to verify the API server's certificate with.")] = None,
    insecure_skip_tls_verify: Annotated[bool, typer.Option(
        "--insecure-skip-tls-verify", help="Do not verify the API server's certificate.")] = False,
    request_timeout: Annotated[str | None, typer.Option(
        "--request-timeout", metavar="DURATION",
        help="How long one API request may take (30, 1s, 2m; 0: no limit). Default: 30s.")] = None,
    user: Annotated[str | None, typer.Option("--user", metavar="NAME",
                                             help="The kubeconfig user to use (in place of the context's).")] = None,
    cluster: Annotated[str | None, typer.Option("--cluster", metavar="NAME",
                                                help="The kubeconfig cluster to use (in place of the context's).")] = None,
    verbosity: Annotated[int, typer.Option("--v", "-v", min=0, metavar="LEVEL", show_default=False,
                                           help="Log level: 6 or more logs each request to the registry and the "
                                                "API (method, URL, status, time; never a credential).")] = 0,
) -> None:
    """kubectl's config flags and -v, anywhere on the line (docs/cli.md)."""
    if verbosity >= REQUEST_LOG_LEVEL:
        log_requests()
    groups = tuple(impersonate_group or ())
    if not any((impersonate, groups, token is not None, server, certificate_authority, insecure_skip_tls_verify,
                request_timeout is not None, user is not None, cluster is not None)):
        return  # nothing for the cluster stack: `version --client` and the direct commands load none of it
    from ..durations import within_bound
    from ..kube.config_flags import ConfigFlags, use
    from ..kube.config_flags import request_timeout as seconds

    try:  # every duration a user gives is bounded: a longer one overflowed the request's timer
        limit = None if request_timeout is None else within_bound(seconds(request_timeout), request_timeout)
    except ValueError as e:
        raise OrasError(f"--request-timeout {e}") from None
    use(ConfigFlags(impersonate=impersonate, impersonate_groups=groups, token=token, server=server,
                    certificate_authority=certificate_authority, insecure_skip_tls_verify=insecure_skip_tls_verify,
                    request_timeout=limit, user=user, cluster=cluster))
