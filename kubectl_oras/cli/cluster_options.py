"""What every cluster command shares: --kubeconfig, --context, -n/--namespace (kubectl's
meaning: the context's namespace by default), --timeout, and running the command's async body
against the cluster (-o and printing are cli/common.py's, as for every command). Nothing heavy is
imported here: kube/, kubernetes-asyncio and aiohttp are imported when a command runs, so
`kubectl oras --help` stays quick."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from ..durations import positive_duration
from ..errors import OrasError

if TYPE_CHECKING:
    from ..kube.api import Kube

T = TypeVar("T")

KubeconfigOption = Annotated[
    str | None, typer.Option("--kubeconfig", metavar="FILE",
                             help="The kubeconfig file (default: the files in KUBECONFIG, else ~/.kube/config).")]
ContextOption = Annotated[
    str | None, typer.Option("--context", metavar="NAME", help="The kubeconfig context (default: its current one).")]
NamespaceOption = Annotated[
    str | None, typer.Option("--namespace", "-n", metavar="NS", help="The namespace (default: the context's).")]


@dataclass(frozen=True)
class Cluster:
    """The cluster options of one command."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None

    def run(self, body: Callable[[Kube], Awaitable[T]]) -> T:
        """Connect as kubectl would and run ``body(kube)``; ``kube.namespace`` is -n or the context's."""
        from ..kube.config import connect

        async def main() -> T:
            async with await connect(kubeconfig=self.kubeconfig, context=self.context,
                                     namespace=self.namespace) as kube:
                return await body(kube)

        return asyncio.run(main())


def seconds(option: str, text: str) -> float:
    """A duration flag (``--timeout 5m``) in seconds; an error naming the flag otherwise."""
    try:
        return positive_duration(text)
    except ValueError as e:
        raise OrasError(f"{option}: {e}") from None


def progress(line: str) -> None:
    """Progress goes to stderr, so stdout holds only the result."""
    typer.echo(line, err=True)
