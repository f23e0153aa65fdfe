"""GET / : the version document (no credentials needed)."""

from __future__ import annotations

from starlette.responses import Response

from berth.api import microversion
from berth.api.request import ApiRequest
from berth.api.responses import json_response, utcnow


def version_document() -> dict:
    minimum, maximum = microversion.VERSIONS[0], microversion.VERSIONS[-1]
    return {
        "versions": [
            {
                "id": f"v{minimum}",
                "max_version": maximum,
                "min_version": minimum,
                "status": "CURRENT",
                # Relative on purpose: "this same URL", whatever proxies say.
                "links": [{"rel": "self", "href": ""}],
            }
        ]
    }


# Placement answers the root in JSON whatever Accept says.
def home(req: ApiRequest) -> Response:
    return json_response(req, version_document(), last_modified=utcnow())
