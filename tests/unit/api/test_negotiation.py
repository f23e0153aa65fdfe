"""Accept and Content-Type handling."""

from __future__ import annotations

import pytest

from berth.api import negotiation

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize("accept,expected", [
    ("application/json", True),
    ("*/*", True),
    ("application/*", True),
    (BROWSER, True),
    ("text/html,application/xhtml+xml,application/xml;q=0.9", False),
    ("text/plain", False),
    ("application/json;q=0", False),
])
def test_accepts_json(accept, expected):
    assert negotiation.accepts_json(accept) is expected


@pytest.mark.parametrize("accept,expected", [
    ("application/json", "application/json"),
    ("text/html", "text/html"),
    (BROWSER, "text/html"),
    ("text/plain", "text/plain"),
])
def test_error_media_type(accept, expected):
    assert negotiation.error_media_type(accept) == expected


def test_media_type_drops_parameters():
    assert negotiation.media_type("Application/JSON; charset=utf-8") == "application/json"
    assert negotiation.media_type(None) == ""
