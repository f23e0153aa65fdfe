"""Content negotiation: which of our media types an Accept header admits.

Placement (through WebOb) honours q-values and wildcards, answers errors in
HTML when the client prefers HTML, and treats a missing Accept or ``*/*`` as
``application/json``. This module reproduces that much of RFC 9110.
"""

from __future__ import annotations

JSON = "application/json"
HTML = "text/html"


def _media_ranges(accept: str) -> list[tuple[str, float, int]]:
    """(range, q, position) for each comma-separated entry of the header."""
    ranges = []
    for position, item in enumerate(accept.split(",")):
        parts = [part.strip() for part in item.split(";")]
        if not parts[0]:
            continue
        quality = 1.0
        for param in parts[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges.append((parts[0].lower(), quality, position))
    return ranges


def _specificity(media_range: str, offer: str) -> int | None:
    """How specifically ``media_range`` matches ``offer`` (None: no match)."""
    if media_range == offer:
        return 2
    kind, _, _ = offer.partition("/")
    if media_range == f"{kind}/*":
        return 1
    if media_range == "*/*":
        return 0
    return None


def acceptable_offers(accept: str, offers: tuple[str, ...]) -> list[str]:
    """The offers the header admits, best first (ties keep offer order)."""
    ranges = _media_ranges(accept)
    scored = []
    for index, offer in enumerate(offers):
        matches = [
            (specificity, quality)
            for media_range, quality, _ in ranges
            if (specificity := _specificity(media_range, offer)) is not None
        ]
        if not matches:
            continue
        # The most specific matching range decides the offer's quality.
        quality = max(matches)[1]
        if quality > 0:
            scored.append((-quality, index, offer))
    return [offer for _, _, offer in sorted(scored)]


def accepts_json(accept: str) -> bool:
    return bool(acceptable_offers(accept, (JSON,)))


def error_media_type(accept: str) -> str:
    """HTML, JSON or (when neither is acceptable) plain text, as WebOb does."""
    best = acceptable_offers(accept, (HTML, JSON))
    return best[0] if best else "text/plain"


def media_type(content_type: str | None) -> str:
    """``application/json; charset=utf-8`` -> ``application/json``."""
    return (content_type or "").split(";", 1)[0].strip().lower()
