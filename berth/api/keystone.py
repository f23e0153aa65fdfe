"""auth_strategy "keystone": every token checked by keystonemiddleware's
auth_token, the middleware Placement itself runs.

keystonemiddleware is WSGI (WebOb) and berth is ASGI, so auth_token is run
as the WSGI middleware it is, in front of a tiny WSGI app that only records
what reached it:

- the ASGI scope becomes a WSGI environ carrying the request line and
  headers, never the body (auth_token reads only headers, and berth's own
  app reads the body from ASGI afterwards);
- the call runs in a worker thread, since auth_token blocks on HTTP calls to
  Keystone (through keystoneauth and requests), as it does under any
  threaded WSGI server;
- when auth_token lets the request through, the identity headers it set
  (``X-User-Id``, ``X-Project-Id``, ``X-Roles``, ``OpenStack-System-Scope``
  ...) become berth's Credentials. It removes any such header a client sent
  before it validates, so only its own ones are read; the ASGI request
  berth's handlers see is not changed, and nothing reads those headers there.
- when it answers itself (401 with ``WWW-Authenticate``, 503 when Keystone
  cannot be reached), that answer is sent as it is, as Placement does.

Its options come from settings.keystone_authtoken, on an oslo.config object
of berth's own (not the process-wide ``cfg.CONF``, so that several apps in
one process keep their own settings). Validated tokens are cached in process
for ``token_cache_time`` seconds, per worker.
"""

from __future__ import annotations

import io
import sys
from collections.abc import MutableMapping
from typing import Any

from keystoneauth1 import loading
from keystonemiddleware import auth_token
from oslo_config import cfg
from starlette.concurrency import run_in_threadpool
import webob

from berth.api.auth import Credentials, Refusal
from berth.config import KeystoneAuthtokenSettings

GROUP = "keystone_authtoken"
# berth's service user logs in with a password (keystoneauth's plugin name).
AUTH_TYPE = "password"
# Where the inner WSGI app leaves the credentials it was handed.
_PASSED = "berth.keystone.credentials"
# Options berth fixes rather than exposes.
_FIXED_OPTIONS: dict[str, object] = {
    # berth decides nothing itself: auth_token answers 401 and 503.
    "delay_auth_decision": False,
    # berth reads no service catalog; do not serialise one per request.
    "include_service_catalog": False,
    # Application credentials with access rules name the service type.
    "service_type": "placement",
    "auth_type": AUTH_TYPE,
}


def oslo_options(settings: KeystoneAuthtokenSettings) -> cfg.ConfigOpts:
    """auth_token's options, set from berth's settings, on a private
    ConfigOpts (parsed from no file and no command line)."""
    missing = [
        name for name in ("auth_url", "username", "password")
        if not getattr(settings, name)
    ]
    if missing:
        raise ValueError(
            f'auth_strategy "keystone" needs keystone_authtoken {", ".join(missing)}'
        )
    conf = cfg.ConfigOpts()
    conf([], project="berth", default_config_files=[], default_config_dirs=[])
    for group, options in auth_token.list_opts():
        conf.register_opts(options, group=group)
    plugin = loading.get_plugin_loader(AUTH_TYPE)
    conf.register_opts(loading.get_auth_plugin_conf_options(plugin), group=GROUP)
    for name, value in {**_passed_options(settings), **_FIXED_OPTIONS}.items():
        conf.set_override(name, value, group=GROUP)
    return conf


def _passed_options(settings: KeystoneAuthtokenSettings) -> dict[str, object]:
    """berth's settings under keystonemiddleware's names; an empty string or
    0 means keystonemiddleware's own default (None)."""
    values: dict[str, object] = {}
    for name, value in vars(settings).items():
        if isinstance(value, tuple):
            value = list(value)
        if value == "" or (name == "http_connect_timeout" and value == 0):
            value = None
        values[name] = value
    return values


def wsgi_environ(scope: MutableMapping[str, Any]) -> dict[str, Any]:
    """A WSGI environ with the request line and headers of an ASGI scope and
    an empty body."""
    server = scope.get("server") or ("localhost", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": scope["path"].encode().decode("latin-1"),
        "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
        "SERVER_NAME": server[0],
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            continue  # the body is not passed on
        key = f"HTTP_{name}"
        value = raw_value.decode("latin-1")
        environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def credentials_from_environ(environ: MutableMapping[str, Any]) -> Credentials:
    """Credentials from the identity headers auth_token sets (the ones
    oslo.context reads in Placement)."""

    def header(name: str) -> str | None:
        # auth_token stores None for what the token lacks.
        return environ.get(name) or None

    roles = tuple(role for role in (header("HTTP_X_ROLES") or "").split(",") if role)
    return Credentials(
        user_id=header("HTTP_X_USER_ID"),
        project_id=header("HTTP_X_PROJECT_ID"),
        roles=roles,
        system_scope=header("HTTP_OPENSTACK_SYSTEM_SCOPE"),
        domain_id=header("HTTP_X_DOMAIN_ID"),
    )


def _record_identity(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The WSGI app behind auth_token: reached only by an authenticated
    request, it records the identity and answers nothing of interest."""
    environ[_PASSED] = credentials_from_environ(environ)
    start_response("204 No Content", [])
    return []


class KeystoneAuthenticator:
    def __init__(self, settings: KeystoneAuthtokenSettings) -> None:
        conf = {"oslo_config_config": oslo_options(settings)}
        self.protocol = auth_token.AuthProtocol(_record_identity, conf)

    async def __call__(self, scope: MutableMapping[str, Any]) -> Credentials | Refusal:
        return await run_in_threadpool(self.authenticate, wsgi_environ(scope))

    def authenticate(self, environ: dict[str, Any]) -> Credentials | Refusal:
        """auth_token's verdict on one request (blocking)."""
        response = webob.Request(environ).get_response(self.protocol)
        # WebOb hands the same environ dict down the WSGI chain.
        passed = environ.get(_PASSED)
        if passed is not None:
            return passed
        headers = tuple(
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in response.headerlist
            if name.lower() != "content-length"
        )
        return Refusal(response.status_int, response.body, headers)
