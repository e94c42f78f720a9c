"""The kubelet's port-forward channel protocol (``v4.channel.k8s.io``), as pure functions.

One websocket forwards one TCP connection to one port. Every binary message starts with a
channel byte: for one port, channel 0 carries data both ways and channel 1 carries the kubelet's
error text to us. The first bytes the kubelet sends on each channel are the port number, two
bytes little-endian; only then come data (channel 0) or an error (channel 1). We send data as
channel 0 + bytes, with no port header of our own. docs/kube-client.md ("Port-forward") says what
the apiserver and kubelet were seen to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import Forbidden, KubeError, ObjectNotFound, PortForwardError, Unauthorized, status_message

SUBPROTOCOL = "v4.channel.k8s.io"
DATA_CHANNEL = 0
ERROR_CHANNEL = 1
PORT_HEADER_BYTES = 2
MAX_ERROR_BYTES = 64 * 1024  # an error message longer than this is cut (the kubelet's are a line)


def data_message(size: int) -> tuple[memoryview, memoryview]:
    """A message to the pod's port with room for ``size`` bytes of data: (the whole message, its
    data part to fill). Data read into the second is sent as the first cut to ``1 + length``,
    with no copy to put the channel byte in front."""
    message = memoryview(bytearray(1 + size))
    message[0] = DATA_CHANNEL
    return message, message[1:]


def port_header(port: int) -> bytes:
    """What the kubelet sends first on each channel (tests and doubles build frames with it)."""
    return port.to_bytes(PORT_HEADER_BYTES, "little")


def error_text(raw: bytes) -> str:
    """The kubelet's error bytes as one line."""
    text = raw[:MAX_ERROR_BYTES].decode("utf-8", "replace")
    return " ".join(text.split())


@dataclass
class _Channel:
    header: bytearray = field(default_factory=bytearray)

    @property
    def open(self) -> bool:
        return len(self.header) >= PORT_HEADER_BYTES


@dataclass
class Incoming:
    """What one message from the kubelet brought: data for the local connection (a memoryview
    into the message, not a copy), error text to add to, or nothing."""

    data: memoryview | None = None
    error: bytes = b""


NOTHING = Incoming()


class ChannelReader:
    """Messages from the kubelet → data and error bytes, each channel's port header taken off.

    The header may come split over messages (the kubelet writes it whole; the reader does not
    depend on it), and data may follow it in the same message. A header for another port than
    ours is a ``PortForwardError``. Empty messages, a message holding only a channel byte, and
    channels this port does not use (the kubelet opens 2 per port; later protocols add signal
    channels) are ignored, counted in ``ignored``.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self._channels = {DATA_CHANNEL: _Channel(), ERROR_CHANNEL: _Channel()}
        self.ignored = 0
        self.error = bytearray()

    @property
    def started(self) -> bool:
        """The data channel's port header has arrived: the kubelet has taken the connection."""
        return self._channels[DATA_CHANNEL].open

    def feed(self, message: bytes) -> Incoming:
        if len(message) < 2:
            self.ignored += not message or message[0] not in self._channels
            return NOTHING
        number = message[0]
        channel = self._channels.get(number)
        if channel is None:
            self.ignored += 1
            return NOTHING
        view = memoryview(message)[1:]
        if not channel.open:
            need = PORT_HEADER_BYTES - len(channel.header)
            channel.header += view[:need]
            view = view[need:]
            if channel.open:
                got = int.from_bytes(channel.header, "little")
                if got != self.port:
                    raise PortForwardError(f"the kubelet answered for port {got} on a connection to port {self.port}")
            if not view:
                return NOTHING
        if number == DATA_CHANNEL:
            return Incoming(data=view)
        room = MAX_ERROR_BYTES - len(self.error)
        if room > 0:
            self.error += view[:room]
        return Incoming(error=bytes(view))

    def error_message(self) -> str:
        """The error channel's text so far, as one line ("" when it was quiet)."""
        return error_text(bytes(self.error))


_DENIED = re.compile(r'cannot (\w+) resource "([^"]+)"')


def upgrade_refused(status: int, body: Any, *, namespace: str, pod: str, port: int) -> KubeError:
    """The error for an upgrade the apiserver answered with ``status`` instead of 101, from the
    Status in its body when there is one. RBAC's refusal names the verb, resource and namespace:
    since Kubernetes 1.35 the upgrade needs ``create`` on pods/portforward besides ``get``."""
    message, reason = status_message(body)
    what = f"port-forward to pod {namespace}/{pod} port {port}"
    if status == 403:
        found = _DENIED.search(message)
        verb, resource = found.groups() if found else ("create", "pods/portforward")
        if found:
            detail = f" ({message})"
        else:  # v1.36 says only 'pods "x" is forbidden: ' when the upgrade's create is refused
            said = message.strip().rstrip(":").strip()
            detail = f" (port-forward needs get and create on pods/portforward{'; the apiserver: ' + said if said else ''})"
        return Forbidden(f"{what}: you cannot {verb} {resource} in namespace {namespace}{detail}", status=403,
                         reason=reason)
    kind = {401: Unauthorized, 404: ObjectNotFound}.get(status, PortForwardError)
    return kind(f"{what}: {message or f'the apiserver refused the upgrade with {status}'}", status=status, reason=reason)
