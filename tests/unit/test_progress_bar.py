import io

from kubectl_oras.cli.progress import SHOW_ABOVE, TransferProgress, human_bytes


def test_a_big_transfer_draws_a_bar_and_ends_the_line():
    out = io.StringIO()
    p = TransferProgress("push a/b:c", stream=out, enabled=True)
    p.add_total(SHOW_ABOVE * 2)
    p(SHOW_ABOVE)
    p.close()
    text = out.getvalue()
    assert "push a/b:c" in text and "50%" in text and text.endswith("\n")


def test_small_transfers_and_non_terminals_draw_nothing():
    small, piped = io.StringIO(), io.StringIO()
    p = TransferProgress("x", stream=small, enabled=True)
    p.add_total(1000)
    p(1000)
    p.close()
    q = TransferProgress("x", stream=piped)  # StringIO is not a terminal
    q.add_total(SHOW_ABOVE * 4)
    q(SHOW_ABOVE * 4)
    q.close()
    assert small.getvalue() == "" and piped.getvalue() == ""


def test_human_bytes():
    assert human_bytes(512) == "512 B" and human_bytes(3 << 20) == "3.0 MiB" and human_bytes(5 << 30) == "5.0 GiB"
