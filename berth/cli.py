"""The command line: ``berth serve``, ``berth db upgrade``, ``berth agent``
and ``berth conductor``."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import secrets
import sys

from berth.agent import command as agent_command
from berth.conductor import command as conductor_command
from berth.config import Settings, SettingsError, load_settings

# Environment variables through which ``serve`` hands its settings to worker
# processes (uvicorn starts them by importing the app factory).
CONFIG_FILE_VARIABLE = "BERTH_CONFIG_FILE"  # read by berth.service.app_from_environment
ALTERNATE_SECRET_VARIABLE = "BERTH_SCHEDULER_ALTERNATE_SECRET"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "agent":
        # A client of berth: its own configuration, not the server's settings.
        return args.run_agent(args)
    try:
        settings = _settings(args)
    except (SettingsError, OSError) as exc:
        parser.error(str(exc))
    return args.run(args, settings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="berth", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the HTTP API")
    _add_common(serve)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8778)
    serve.add_argument("--workers", type=int, default=1, help="worker processes")
    serve.set_defaults(run=_serve)

    database = commands.add_parser("db", help="manage the database")
    db_commands = database.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="create or migrate the schema")
    _add_common(upgrade)
    upgrade.set_defaults(run=_upgrade)

    conductor = commands.add_parser("conductor", help="run builds: schedule, retry on alternates (docs/conductor.md)")
    _add_common(conductor)
    conductor_command.add_arguments(conductor)
    conductor.set_defaults(run=conductor_command.run)

    agent = commands.add_parser("agent", help="report a host to berth and run its builds (docs/agent.md)")
    agent_command.add_arguments(agent)
    agent.set_defaults(run_agent=lambda args: agent_command.run(args, agent))
    return parser


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="TOML configuration file")
    parser.add_argument("--db", help="database URL (overrides the configuration)")


def _settings(args: argparse.Namespace) -> Settings:
    environ = dict(os.environ)
    if args.db:
        environ["BERTH_DATABASE_URL"] = args.db
    return load_settings(args.config, environ)


def _upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from berth.store import open_store

    store = open_store(settings.database.url)
    try:
        store.upgrade()
    finally:
        store.close()
    print(f"database at {settings.database.url} is up to date")
    return 0


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    logging.basicConfig(level=settings.logging.level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if args.workers > 1:
        upgraded = _upgrade_in_child(args, settings)
        if upgraded != 0:
            return upgraded
    else:
        _upgrade(args, settings)
    settings = _with_alternate_secret(settings)
    from berth.api.protocol import NoDelayH11Protocol

    options = dict(
        host=args.host, port=args.port, log_level=settings.logging.level.lower(), http=NoDelayH11Protocol,
    )
    if args.workers > 1:
        # Workers rebuild the settings from the same sources in their process.
        if args.config:
            os.environ[CONFIG_FILE_VARIABLE] = os.path.abspath(args.config)
        os.environ["BERTH_DATABASE_URL"] = settings.database.url
        os.environ[ALTERNATE_SECRET_VARIABLE] = settings.scheduler.alternate_secret
        uvicorn.run("berth.service:app_from_environment", factory=True, workers=args.workers, **options)
    else:
        from berth.service import build_app

        uvicorn.run(build_app(settings), **options)
    return 0


def _upgrade_in_child(args: argparse.Namespace, settings: Settings) -> int:
    """``_upgrade`` in a forked child; its exit code.

    With several workers this process only supervises them: upgrading in a
    child keeps the store, SQLAlchemy, Alembic and the drivers (about 50
    MB) out of it. Forked before uvicorn starts any thread.
    """
    child = os.fork()
    if child == 0:
        code = 1
        try:
            code = _upgrade(args, settings)
        except BaseException:  # reported here; the parent sees the exit code
            logging.exception("database upgrade failed")
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


def _with_alternate_secret(settings: Settings) -> Settings:
    """The settings with an alternate secret: the configured one, or one
    made up now, which this serve's workers share (an alternate issued by
    one worker is claimed on whichever worker the claim reaches)."""
    if settings.scheduler.alternate_secret:
        return settings
    scheduler = dataclasses.replace(settings.scheduler, alternate_secret=secrets.token_urlsafe(32))
    return dataclasses.replace(settings, scheduler=scheduler)


if __name__ == "__main__":
    sys.exit(main())
