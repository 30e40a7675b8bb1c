"""The pure parts: markdown rendering is safe, the webhook policy proposes only what it should, dedup keys."""

from __future__ import annotations

import pytest

from actions import markdown
from actions import validate as v
from actions.webhook import PayloadError, parse_notification, proposals


def test_markdown_escapes_html_and_drops_unsafe_links():
    html = markdown.render("# T <b>\n\n[x](javascript:alert(1)) [ok](IppHostDown.md) `<i>` **b**\n\n- a\n- b\n")
    assert "<b>" not in html and "&lt;b&gt;" in html
    assert 'href="javascript' not in html and '<a href="IppHostDown">ok</a>' in html
    assert "<code>&lt;i&gt;</code>" in html and "<strong>b</strong>" in html and "<ul><li>a</li><li>b</li></ul>" in html


def test_markdown_tables_and_code_blocks():
    html = markdown.render("| a | b |\n|---|---|\n| 1 | <2> |\n\n```\nSELECT '<x>';\n```\n")
    assert "<th>a</th>" in html and "<td>&lt;2&gt;</td>" in html and "<tr><td>---" not in html
    assert "<pre><code>SELECT '&lt;x&gt;';</code></pre>" in html


def _note(alertname="IppProcessingFaultsRevertable", fault="2", status="firing", **labels):
    alert = {"status": status, "labels": {"alertname": alertname, "dbname": "gpc1", "stage": "chip", "label": "L",
                                          "fault": fault, **labels}, "startsAt": "2026-11-27T00:00:00Z",
             "fingerprint": "abc"}
    return parse_notification({"version": "4", "status": status, "alerts": [alert]})


def test_policy_proposes_only_code2_reverts_of_firing_alerts():
    assert [p.action for p in proposals(_note(), ("revert-code2",))] == ["revert"]
    assert proposals(_note(), ()) == []
    assert proposals(_note(fault="4"), ("revert-code2",)) == []
    assert proposals(_note(status="resolved"), ("revert-code2",)) == []
    assert proposals(_note(alertname="IppHostDown"), ("revert-code2",)) == []


def test_dedup_key_is_per_incident():
    one, again = proposals(_note(), ("revert-code2",)), proposals(_note(), ("revert-code2",))
    assert one[0].dedup_key == again[0].dedup_key
    other = parse_notification({"version": "4", "status": "firing", "alerts": [
        {"status": "firing", "labels": dict(_note().alerts[0].labels), "startsAt": "2026-11-28T00:00:00Z",
         "fingerprint": "abc"}]})
    assert proposals(other, ("revert-code2",))[0].dedup_key != one[0].dedup_key


@pytest.mark.parametrize("body", [None, [], {"version": "3"}, {"version": "4", "status": "x", "alerts": []},
                                  {"version": "4", "status": "firing", "alerts": [{"labels": {"a": 1}}]}])
def test_parse_notification_refuses_other_shapes(body):
    with pytest.raises(PayloadError):
        parse_notification(body)


def test_like_escape_makes_underscore_literal():
    assert v.like_escape("ps_ud_A") == "ps\\_ud\\_A"
    with pytest.raises(v.Refused):
        v.name("label", "ps_%")
