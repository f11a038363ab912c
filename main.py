"""Galatea's entry point: parse the command line, load settings, run one subcommand."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from bot.app import open_core, open_database
from bot.console import ConsoleChat
from bot.errors import ConfigError, GalateaError, StorageUnavailable
from bot.settings import Settings, load_settings

EXIT_CONFIG = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="galatea",
        description="Galatea: a self-hosted Discord roleplay bot for Pygmalion models.",
        epilog="Settings come from the environment and .env (see .env.example).",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="run the Discord bot (the default)")
    chat = commands.add_parser("chat", help="roleplay in the terminal, no Discord needed")
    chat.add_argument("--character", "-c", help="character to talk with (asks when omitted)")
    chat.add_argument("--user", "-u", default="You", help="your name in the story (default: You)")
    commands.add_parser("migrate", help="apply database migrations and exit")
    return parser


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    # discord.py and ctransformers' hub client are chatty at INFO.
    logging.getLogger("discord.gateway").setLevel(max(logging.INFO, logging.getLevelName(level)))
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


async def migrate(settings: Settings) -> int:
    database = await open_database(settings)
    await database.dispose()
    print("Database is up to date.")
    return 0


async def chat(settings: Settings, character: str | None, user: str) -> int:
    core = await open_core(settings)
    try:
        return await ConsoleChat(core.engine, core.characters).run(
            character_name=character, user=user
        )
    finally:
        await core.close()


async def run_bot(settings: Settings) -> int:
    from bot.client import run_discord_bot

    return await run_discord_bot(settings)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        configure_logging(settings.LOG_LEVEL)
        if args.command == "chat":
            return asyncio.run(chat(settings, args.character, args.user))
        if args.command == "migrate":
            return asyncio.run(migrate(settings))
        return asyncio.run(run_bot(settings))
    except StorageUnavailable as exc:  # after start-up: the operator's cause, not the member's line
        print(f"galatea: the database cannot be used: {exc.cause}", file=sys.stderr)
        return EXIT_CONFIG
    except GalateaError as exc:
        print(f"galatea: {exc.user_message}", file=sys.stderr)
        return EXIT_CONFIG if isinstance(exc, ConfigError) else 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
