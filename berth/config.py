"""Settings: defaults, then a TOML file (``--config``), then ``BERTH_*``.

Every setting lives in a section; its environment variable is
``BERTH_<SECTION>_<NAME>`` in upper case, e.g. ``BERTH_DATABASE_URL`` or
``BERTH_POLICY_ENFORCE_NEW_DEFAULTS=false``. Lists in the environment are
comma-separated. Command-line options override all of these.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path

DEFAULT_DATA_DIR = Path(os.environ.get("BERTH_DATA_DIR", "./data"))


def default_database_url() -> str:
    return f"sqlite:///{(DEFAULT_DATA_DIR / 'berth.db').resolve()}"


@dataclasses.dataclass(frozen=True)
class DatabaseSettings:
    url: str = dataclasses.field(default_factory=default_database_url)


@dataclasses.dataclass(frozen=True)
class ApiSettings:
    # "noauth2" trusts x-auth-token as user[:project] (development and tests);
    # "keystone" has keystonemiddleware's auth_token validate every token
    # with the identity service named in [keystone_authtoken].
    auth_strategy: str = "noauth2"
    # The prefix the service is mounted under, e.g. "/placement".
    root_path: str = ""


@dataclasses.dataclass(frozen=True)
class KeystoneAuthtokenSettings:
    """keystonemiddleware's [keystone_authtoken] options that berth passes
    on (auth_strategy = "keystone"); the names are keystonemiddleware's."""

    # The public identity endpoint clients are sent to in WWW-Authenticate.
    www_authenticate_uri: str = ""
    # berth's own service user, which asks Keystone to validate tokens
    # (keystoneauth's "password" plugin).
    auth_url: str = ""
    username: str = ""
    password: str = dataclasses.field(default="", repr=False)
    project_name: str = "service"
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    # Which identity endpoint of the service user's catalog validates tokens.
    interface: str = "internal"
    region_name: str = ""
    # Roles an X-Service-Token must carry to count as a service's token.
    service_token_roles: tuple[str, ...] = ("service",)
    service_token_roles_required: bool = True
    # Seconds a validated token is remembered (per worker process; -1: never).
    token_cache_time: int = 300
    # TLS towards Keystone.
    cafile: str = ""
    insecure: bool = False
    # Seconds to wait for Keystone (0: no limit) and retries after a failure.
    http_connect_timeout: int = 0
    http_request_max_retries: int = 3


@dataclasses.dataclass(frozen=True)
class PolicySettings:
    # Placement's newer defaults (admin or service; readers for their own
    # usages; reshape for service only) versus its legacy admin-only ones.
    enforce_new_defaults: bool = True
    # Refuse system-scoped tokens on project-scoped rules (with new defaults).
    enforce_scope: bool = True
    # A YAML or JSON file of rule-name: check-string overrides.
    file: str = ""


@dataclasses.dataclass(frozen=True)
class CorsSettings:
    allowed_origins: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    allow_methods: tuple[str, ...] = ("GET", "PUT", "POST", "DELETE", "PATCH")
    max_age: int = 3600


@dataclasses.dataclass(frozen=True)
class PlacementSettings:
    # Who owns allocations written before microversion 1.8 without a project.
    incomplete_consumer_project_id: str = "00000000-0000-0000-0000-000000000000"
    incomplete_consumer_user_id: str = "00000000-0000-0000-0000-000000000000"
    # Shuffle allocation candidates so concurrent schedulers spread out.
    randomize_allocation_candidates: bool = False
    # Upper bound on candidates computed per request (0: no bound).
    max_allocation_candidates: int = 0


@dataclasses.dataclass(frozen=True)
class SchedulerSettings:
    """berth's scheduler (berth/scheduler/, docs/scheduler.md)."""

    # Host filters that run after the candidate query, in this order.
    filters: tuple[str, ...] = (
        "disabled", "resources", "availability_zone", "cell", "affinity",
        "anti_affinity", "same_host", "different_host", "max_instances_per_host",
    )
    # Weighers; each one's multiplier is <name>_weight_multiplier below.
    weighers: tuple[str, ...] = (
        "ram", "vcpu", "disk", "soft_affinity", "soft_anti_affinity", "build_failure",
    )
    # Positive spreads (prefers free capacity), negative packs.
    ram_weight_multiplier: float = 1.0
    vcpu_weight_multiplier: float = 1.0
    disk_weight_multiplier: float = 1.0
    soft_affinity_weight_multiplier: float = 1.0
    soft_anti_affinity_weight_multiplier: float = 1.0
    # Large, so that a recent failure outweighs any difference in capacity.
    build_failure_weight_multiplier: float = 10.0
    # The first host is picked at random among this many best ones, so that
    # concurrent schedulers rarely race for the same host.
    host_subset_size: int = 3
    # Hosts asked of the candidate index per decision, at random (0: all);
    # more are asked for when filters leave too few. About log2 of a large
    # fleet, as Nomad does: the best of 16 random fitting hosts is nearly
    # as good as the best of all, and every host in the sample costs the
    # filters and weighers their Python time.
    candidate_sample: int = 16
    # Milliseconds a search may skip reading the change feed after the last
    # read (0: read it before every search). A staler index costs refused
    # claims, never an over-commit.
    index_max_staleness_ms: int = 0
    # Seconds an alternate's id can be claimed by.
    selection_ttl: int = 600
    # The key alternate ids are signed with (berth/scheduler/alternates.py):
    # every berth process that shares it (and the store) can claim the ids
    # any of them issued. Empty: ``berth serve`` makes one up at start and
    # hands it to its workers, so only that one serve's workers share it;
    # set it, to the same value, on every machine of a deployment.
    alternate_secret: str = dataclasses.field(default="", repr=False)
    # Seconds a build failure counts against a host.
    build_failure_window: int = 600


@dataclasses.dataclass(frozen=True)
class LoggingSettings:
    level: str = "INFO"


@dataclasses.dataclass(frozen=True)
class Settings:
    database: DatabaseSettings = DatabaseSettings()
    api: ApiSettings = ApiSettings()
    keystone_authtoken: KeystoneAuthtokenSettings = KeystoneAuthtokenSettings()
    policy: PolicySettings = PolicySettings()
    cors: CorsSettings = CorsSettings()
    placement: PlacementSettings = PlacementSettings()
    logging: LoggingSettings = LoggingSettings()
    scheduler: SchedulerSettings = SchedulerSettings()


class SettingsError(ValueError):
    """A configuration file or variable that cannot be used."""


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Settings:
    """Defaults, overridden by the TOML file, overridden by ``BERTH_*``."""
    raw: dict[str, dict[str, object]] = {}
    if config_file:
        with open(config_file, "rb") as handle:
            raw = tomllib.load(handle)
    sections = {}
    for field in dataclasses.fields(Settings):
        section_type = typing.get_type_hints(Settings)[field.name]
        values = dict(raw.pop(field.name, {}) or {})
        values.update(_environment_values(field.name, section_type, environ))
        sections[field.name] = _build_section(field.name, section_type, values)
    if raw:
        raise SettingsError(f"unknown configuration sections: {sorted(raw)}")
    return Settings(**sections)


def _environment_values(
    section: str, section_type: type, environ: Mapping[str, str]
) -> dict[str, str]:
    found = {}
    for field in dataclasses.fields(section_type):
        variable = f"BERTH_{section}_{field.name}".upper()
        if variable in environ:
            found[field.name] = environ[variable]
    return found


def _build_section(section: str, section_type: type, values: dict) -> object:
    hints = typing.get_type_hints(section_type)
    known = {field.name for field in dataclasses.fields(section_type)}
    unknown = set(values) - known
    if unknown:
        raise SettingsError(f"unknown settings in [{section}]: {sorted(unknown)}")
    converted = {
        name: _convert(f"{section}.{name}", hints[name], value)
        for name, value in values.items()
    }
    return section_type(**converted)


def _convert(name: str, wanted: object, value: object) -> object:
    if wanted is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{name}: expected a boolean, got {value!r}")
    if wanted is int:
        try:
            return int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SettingsError(f"{name}: expected an integer, got {value!r}") from None
    if wanted is float:
        try:
            return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise SettingsError(f"{name}: expected a number, got {value!r}") from None
    if typing.get_origin(wanted) is tuple:
        if isinstance(value, str):
            return tuple(item.strip() for item in value.split(",") if item.strip())
        if isinstance(value, (list, tuple)):
            return tuple(str(item) for item in value)
        raise SettingsError(f"{name}: expected a list, got {value!r}")
    if not isinstance(value, str):
        raise SettingsError(f"{name}: expected a string, got {value!r}")
    return value
