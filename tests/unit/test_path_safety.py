import pytest

from kubectl_oras.oci.errors import UnsafePath
from kubectl_oras.oci.paths import link_escape, link_stays_inside, safe_relative_path


@pytest.mark.parametrize("name, expected", [("a", "a"), ("./a/b/", "a/b"), ("a//b/./c", "a/b/c")])
def test_relative_paths_are_normalised(name, expected):
    assert safe_relative_path(name, what="layer title") == expected


@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "a/../../x", "a/..", "", ".", "C:/x", "\\\\srv\\x", "a\x00b"])
def test_paths_that_could_leave_the_root_are_refused(name):
    with pytest.raises(UnsafePath) as e:
        safe_relative_path(name, what="layer title")
    assert "layer title" in str(e.value)


@pytest.mark.parametrize(
    "member, target, inside",
    [
        ("a", "b", True),
        ("sub/a", "../b", True),
        ("sub/a", "../../b", False),
        ("a", "/etc/passwd", False),
        ("a", "..", False),
        ("sub/deeper/a", "../../x/../y", True),
    ],
)
def test_link_targets_are_judged_relative_to_the_link(member, target, inside):
    assert link_stays_inside(member, target) is inside


LINKS = {"d": ".", "u1": "d/..", "u2": "u1/..", "l": "d/../secret.txt", "s": "sub", "ok": "s/file",
         "sub/self": ".", "far": "sub/self/../..", "back": "sub/self/../sub/x", "a": "b", "b": "a"}


@pytest.mark.parametrize("member, chain", [
    ("d", None), ("ok", None), ("back", None), ("a", None),  # a loop leads nowhere: not out
    ("u1", ["u1", "d"]), ("u2", ["u2", "u1", "d"]), ("l", ["l", "d"]), ("far", ["far", "sub/self"]),
])
def test_links_are_followed_together_and_may_not_climb_out_on_the_way(member, chain):
    assert link_escape(member, LINKS) == chain
