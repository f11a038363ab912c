"""Galatea's entry point: parse the command line, load settings, run one subcommand."""

from __future__ import annotations

import argparse
import asyncio
import logging
import logging.handlers
import sys
from pathlib import Path

from bot.app import open_core, open_database
from bot.console import ConsoleChat, enable_line_editing
from bot.errors import ConfigError, GalateaError, StorageUnavailable
from bot.settings import Settings, load_settings

EXIT_CONFIG = 2
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LOG_FILE_BYTES = 10 * 2**20
LOG_FILE_BACKUPS = 5


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
    download = commands.add_parser(
        "download",
        help="download a Pygmalion model into models/ (no name: list the known-good ones)",
    )
    download.add_argument("name", nargs="?", help="a known model, e.g. pygmalion-2-7b")
    download.add_argument("--repo", help="any Hugging Face repo, e.g. TheBloke/Mythalion-13B-GGUF")
    download.add_argument("--file", help="the file in --repo, e.g. mythalion-13b.Q4_K_M.gguf")
    download.add_argument("--revision", default="main", help="branch, tag or commit (main)")
    download.add_argument("--dir", default="models", type=Path, help="where to save (models)")
    return parser


class _DropVoiceWarnings(logging.Filter):
    """discord.py warns that voice needs PyNaCl and davey; Galatea never uses voice."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "voice will NOT be supported" not in record.getMessage()


def configure_logging(level: str, log_file: str = "", *, console_level: str | None = None) -> None:
    """Log lines with date and time to stderr (at ``console_level`` when given: the console
    chat keeps the terminal for the conversation) and, with LOG_FILE, to a rotated file."""
    root = logging.getLogger()
    root.setLevel(level)
    for previous in [h for h in root.handlers if getattr(h, "galatea", False)]:
        root.removeHandler(previous)  # called again (main() in-process): replace, not add
        previous.close()
    formatter = logging.Formatter(LOG_FORMAT, datefmt="%Y-%m-%d %H:%M:%S")
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(console_level or level)
    handlers: list[logging.Handler] = [console]
    if log_file:
        try:
            Path(log_file).parent.mkdir(parents=True, exist_ok=True)
            handlers.append(
                logging.handlers.RotatingFileHandler(
                    log_file,
                    maxBytes=LOG_FILE_BYTES,
                    backupCount=LOG_FILE_BACKUPS,
                    encoding="utf-8",
                )
            )
        except OSError as exc:
            raise ConfigError(
                f"Setting LOG_FILE names {log_file}, which cannot be written: {exc}."
            ) from None
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.galatea = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    # discord.py and ctransformers' hub client are chatty at INFO.
    logging.getLogger("discord.gateway").setLevel(max(logging.INFO, logging.getLevelName(level)))
    logging.getLogger("discord.client").addFilter(_DropVoiceWarnings())
    for chatty in ("httpx", "httpx2"):  # huggingface_hub logs every request at INFO
        logging.getLogger(chatty).setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)


async def migrate(settings: Settings) -> int:
    database = await open_database(settings)
    await database.dispose()
    print("Database is up to date.")
    return 0


async def chat(settings: Settings, character: str | None, user: str) -> int:
    core = await open_core(settings)
    enable_line_editing()
    try:
        return await ConsoleChat(core.engine, core.characters, memory=core.memory).run(
            character_name=character, user=user
        )
    finally:
        await core.close()


def download(settings: Settings, args: argparse.Namespace) -> int:
    from bot.model_files.download import catalogue_text, download, find_known

    if args.repo or args.file:
        if not (args.repo and args.file):
            raise ConfigError("galatea download --repo needs --file too (and the other way).")
        repo, filename, model_type = args.repo, args.file, None
    elif args.name:
        known = find_known(args.name)
        repo, filename, model_type = known.repo, known.filename, known.model_type
    else:
        print(catalogue_text())
        return 0
    print(f"Downloading {filename} from {repo} into {args.dir}/ ...", file=sys.stderr)
    path = download(
        repo, filename, dest_dir=args.dir, endpoint=settings.HF_ENDPOINT, revision=args.revision
    )
    print(f"Saved {path}. Put this in .env (or the environment):")
    print(f"MODEL={path}")
    if model_type:
        print(f"MODEL_TYPE={model_type}")
    return 0


async def run_bot(settings: Settings) -> int:
    from cogs.client import run_discord_bot

    return await run_discord_bot(settings)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
        chatting = args.command == "chat"
        configure_logging(
            settings.LOG_LEVEL,
            settings.LOG_FILE,
            # Log lines must not land inside the conversation: only warnings reach the terminal.
            console_level="WARNING" if chatting and settings.LOG_LEVEL != "DEBUG" else None,
        )
        if chatting:
            return asyncio.run(chat(settings, args.character, args.user))
        if args.command == "download":
            return download(settings, args)
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
