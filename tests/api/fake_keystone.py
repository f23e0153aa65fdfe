"""A small Keystone v3 for tests, served over HTTP on 127.0.0.1.

Run as ``python -m tests.api.fake_keystone``: it binds a free port, prints
``port N`` on its first line and serves until it is terminated. It answers
what keystonemiddleware and keystoneauth ask of Keystone:

- ``GET /`` and ``GET /v3``: version discovery;
- ``POST /v3/auth/tokens``: the service user's password login, answered
  with SERVICE_TOKEN and a catalog naming this server as the identity
  endpoint;
- ``GET /v3/auth/tokens``: validation of the ``X-Subject-Token`` (one of
  USER_TOKENS) by a caller holding the service token;
- ``GET /_validations``: how often each token was validated, so that tests
  can see the middleware's cache.
"""

from __future__ import annotations

import collections
import datetime
import http.server
import json
import sys
import threading

SERVICE_USER = ("berth", "secret")
SERVICE_TOKEN = "service-token"


def _when(hours: float) -> str:
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=hours)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000000Z")


def _project_token(user: str, project: str, roles: list[str], hours: float = 1) -> dict:
    return {
        "methods": ["password"],
        "user": {"id": user, "name": user, "domain": {"id": "default", "name": "Default"}},
        "project": {"id": project, "name": project, "domain": {"id": "default", "name": "Default"}},
        "roles": [{"id": f"role-{role}", "name": role} for role in roles],
        "issued_at": _when(-1),
        "expires_at": _when(hours),
    }


def _system_token(user: str, roles: list[str]) -> dict:
    token = _project_token(user, "unused", roles)
    del token["project"]
    token["system"] = {"all": True}
    return token


USER_TOKENS = {
    "admin-token": _project_token("u-admin", "p-admin", ["admin", "member", "reader"]),
    "reader-token": _project_token("u-reader", "p-reader", ["reader"]),
    "service-user-token": _project_token("u-nova", "p-service", ["service"]),
    "system-admin-token": _system_token("u-system", ["admin", "member", "reader"]),
    # Keystone still describes it; keystonemiddleware must see it has expired.
    "expired-token": _project_token("u-old", "p-admin", ["admin"], hours=-0.5),
}


class FakeKeystone(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.validations: collections.Counter[str] = collections.Counter()
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def version(self) -> dict:
        return {
            "id": "v3.14",
            "status": "stable",
            "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{self.url}/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.identity-v3+json"}],
        }

    def service_token(self) -> dict:
        token = _project_token("u-berth", "p-service", ["service"])
        token["catalog"] = [{
            "type": "identity",
            "name": "keystone",
            "id": "identity-service",
            "endpoints": [
                {"id": f"identity-{interface}", "interface": interface,
                 "region": "RegionOne", "region_id": "RegionOne", "url": f"{self.url}/v3"}
                for interface in ("public", "internal", "admin")
            ],
        }]
        return token


class Handler(http.server.BaseHTTPRequestHandler):
    server: FakeKeystone

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _answer(self, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        path = self.path.split("?")[0].rstrip("/")
        if path == "":
            self._answer(300, {"versions": {"values": [self.server.version()]}})
        elif path == "/v3":
            self._answer(200, {"version": self.server.version()})
        elif path == "/v3/auth/tokens":
            self._validate()
        elif path == "/_validations":
            with self.server.lock:
                self._answer(200, dict(self.server.validations))
        else:
            self._answer(404, {"error": {"code": 404, "title": "Not Found"}})

    def _validate(self) -> None:
        if self.headers.get("x-auth-token") != SERVICE_TOKEN:
            self._answer(401, {"error": {"code": 401, "title": "Unauthorized"}})
            return
        subject = self.headers.get("x-subject-token", "")
        with self.server.lock:
            self.server.validations[subject] += 1
        if subject not in USER_TOKENS:
            self._answer(404, {"error": {"code": 404, "title": "Not Found",
                                         "message": "Could not find token"}})
            return
        self._answer(200, {"token": USER_TOKENS[subject]},
                     {"x-subject-token": subject})

    def do_POST(self) -> None:
        if self.path.split("?")[0].rstrip("/") != "/v3/auth/tokens":
            self._answer(404, {"error": {"code": 404, "title": "Not Found"}})
            return
        length = int(self.headers.get("content-length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        user = request.get("auth", {}).get("identity", {}).get("password", {}).get("user", {})
        if (user.get("name"), user.get("password")) != SERVICE_USER:
            self._answer(401, {"error": {"code": 401, "title": "Unauthorized"}})
            return
        self._answer(201, {"token": self.server.service_token()},
                     {"x-subject-token": SERVICE_TOKEN})


def main() -> None:
    server = FakeKeystone()
    print(f"port {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
