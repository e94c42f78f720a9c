"""The port-forward channel protocol (kube/channels.py) and the choice of pod and port behind a
Service (kube/forward_target.py), as pure functions."""

from __future__ import annotations

import json

import pytest

from kubectl_oras.kube.channels import (
    MAX_ERROR_BYTES,
    ChannelReader,
    data_message,
    error_text,
    port_header,
    upgrade_refused,
)
from kubectl_oras.kube.errors import Forbidden, NoReadyPod, ObjectNotFound, PortForwardError, Unauthorized
from kubectl_oras.kube.forward_target import choose_pod, pod_state, selector, service_port
from tests.support.kubelet_double import pod, service

HEADER = port_header(5000)


def test_a_data_message_is_channel_zero_then_the_bytes_read_into_it():
    message, data = data_message(16)
    data[:8] = b"GET /v2/"
    assert bytes(message[:1 + 8]) == b"\x00GET /v2/" and len(data) == 16
    assert port_header(5000) == b"\x88\x13"


def test_headers_then_data_and_error():
    r = ChannelReader(5000)
    assert r.feed(b"\x00" + HEADER).data is None and r.started
    assert r.feed(b"\x01" + HEADER).error == b""
    assert bytes(r.feed(b"\x00hello").data) == b"hello"
    assert r.feed(b"\x01an error occurred forwarding 5000 -> 5000: ").error
    r.feed(b"\x01dial tcp4 127.0.0.1:5000: connect: connection refused\n")
    assert r.error_message() == "an error occurred forwarding 5000 -> 5000: dial tcp4 127.0.0.1:5000: connect: connection refused"


def test_data_in_the_same_message_as_the_header_is_data():
    r = ChannelReader(5000)
    assert bytes(r.feed(b"\x00" + HEADER + b"abc").data) == b"abc"


def test_a_header_split_across_messages():
    r = ChannelReader(5000)
    assert r.feed(b"\x00" + HEADER[:1]).data is None and not r.started
    assert bytes(r.feed(b"\x00" + HEADER[1:] + b"x").data) == b"x"
    assert r.started


def test_the_first_data_bytes_are_taken_as_the_header_and_a_wrong_port_is_refused():
    r = ChannelReader(5000)
    with pytest.raises(PortForwardError, match="answered for port 26984 on a connection to port 5000"):
        r.feed(b"\x00hi there")


def test_unknown_channels_empty_and_bare_messages_are_ignored():
    r = ChannelReader(5000)
    for message in (b"", b"\x07", b"\x07data", b"\xffsignal", b"\x00"):
        incoming = r.feed(message)
        assert incoming.data is None and incoming.error == b""
    assert r.ignored == 4 and not r.started


def test_data_is_a_view_not_a_copy():
    r = ChannelReader(5000)
    r.feed(b"\x00" + HEADER)
    message = b"\x00" + b"z" * 100
    view = r.feed(message).data
    assert isinstance(view, memoryview) and view.obj is message


def test_error_text_is_one_line_and_bounded():
    assert error_text(b"a\n  b\r\n\tc \xff") == "a b c \ufffd"
    r = ChannelReader(5000)
    r.feed(b"\x01" + HEADER)
    r.feed(b"\x01" + b"e" * (MAX_ERROR_BYTES + 10))
    r.feed(b"\x01more")
    assert len(r.error) == MAX_ERROR_BYTES


def status(message: str) -> bytes:
    return json.dumps({"kind": "Status", "message": message, "reason": "Forbidden", "code": 403}).encode()


def test_an_rbac_refusal_names_verb_resource_and_namespace():
    message = ('pods "oras-0" is forbidden: User "system:serviceaccount:lab:reader" cannot create resource '
               '"pods/portforward" in API group "" in the namespace "lab"')
    e = upgrade_refused(403, status(message), namespace="lab", pod="oras-0", port=5000)
    assert isinstance(e, Forbidden)
    assert str(e) == f"port-forward to pod lab/oras-0 port 5000: you cannot create pods/portforward in namespace lab ({message})"
    get = upgrade_refused(403, status(message.replace("create", "get")), namespace="lab", pod="oras-0", port=5000)
    assert "you cannot get pods/portforward" in str(get)
    terse = upgrade_refused(403, status('pods "oras-0" is forbidden: '), namespace="lab", pod="oras-0", port=5000)
    assert str(terse) == ("port-forward to pod lab/oras-0 port 5000: you cannot create pods/portforward in namespace lab "
                          '(port-forward needs get and create on pods/portforward; the apiserver: pods "oras-0" is forbidden)')
    bare = upgrade_refused(403, b"", namespace="lab", pod="oras-0", port=5000)
    assert str(bare).endswith("you cannot create pods/portforward in namespace lab "
                              "(port-forward needs get and create on pods/portforward)")


def test_other_refusals_keep_the_apiservers_words():
    assert isinstance(upgrade_refused(404, status('pods "x" not found'), namespace="lab", pod="x", port=1), ObjectNotFound)
    assert isinstance(upgrade_refused(401, b"", namespace="lab", pod="x", port=1), Unauthorized)
    e = upgrade_refused(500, b"<html>", namespace="lab", pod="x", port=1)
    assert type(e) is PortForwardError and str(e).endswith("the apiserver refused the upgrade with 500")


def test_the_service_port_gives_the_target_port():
    assert service_port(service(target="registry"), 5000) == "registry"
    assert service_port(service(target="registry"), "registry") == "registry"
    assert service_port(service(target=5001), 5000) == 5001
    assert service_port(service(target="5002"), 5000) == 5002
    bare = {"metadata": {"name": "s", "namespace": "lab"}, "spec": {"ports": [{"port": 80}]}}
    assert service_port(bare, 80) == 80
    with pytest.raises(PortForwardError, match=r"service lab/oras has no port 80 \(its ports: 5000 \(registry\)\)"):
        service_port(service(), 80)


def test_the_selector_and_a_service_without_one():
    assert selector({"spec": {"selector": {"b": "2", "a": "1"}}}) == "a=1,b=2"
    with pytest.raises(PortForwardError, match="has no selector"):
        selector({"metadata": {"name": "s", "namespace": "lab"}, "spec": {}})


def test_the_newest_ready_pod_is_chosen_and_a_named_port_resolved():
    pods = [pod("a", created="2026-01-01T00:00:00Z"), pod("c", created="2026-01-02T00:00:00Z"),
            pod("b", created="2026-01-02T00:00:00Z"), pod("d", ready=False, created="2026-01-03T00:00:00Z")]
    assert choose_pod(pods, "registry", where="service lab/oras") == ("b", 5000)
    assert choose_pod(pods, 6000, where="service lab/oras") == ("b", 6000)
    terminating = pod("b", created="2026-01-02T00:00:00Z")
    terminating["metadata"]["deletionTimestamp"] = "2026-01-04T00:00:00Z"
    assert choose_pod([terminating, pods[0]], "registry", where="s") == ("a", 5000)


def test_no_ready_pod_says_each_pods_state():
    waiting = pod("w", phase="Pending", ready=False)
    waiting["status"]["containerStatuses"] = [{"state": {"waiting": {"reason": "ContainerCreating"}}}]
    gone = pod("g")
    gone["metadata"]["deletionTimestamp"] = "2026-01-04T00:00:00Z"
    with pytest.raises(NoReadyPod) as caught:
        choose_pod([waiting, gone, pod("n", ready=False)], "registry", where="service lab/oras")
    assert str(caught.value) == ("no ready pod behind service lab/oras: g Running terminating, n Running not ready, "
                                 "w Pending (ContainerCreating)")
    with pytest.raises(NoReadyPod, match="no ready pod with a port named 'other' behind service lab/oras: a Running$"):
        choose_pod([pod("a")], "other", where="service lab/oras")
    with pytest.raises(NoReadyPod, match="no pod behind service lab/oras: its selector matches none"):
        choose_pod([], 5000, where="service lab/oras")
    assert pod_state({"metadata": {"name": "x"}}) == "x Unknown"
