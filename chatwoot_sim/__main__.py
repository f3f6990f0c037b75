"""`python -m chatwoot_sim`: run the Chatwoot simulator until SIGTERM or Ctrl+C.

With `--port 0` the OS picks the port; the first line on stdout is JSON with the bound
`url` and `port`. Every option can also come from the environment (CHATWOOT_SIM_<OPTION>).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from chatwoot_sim.options import Options
from chatwoot_sim.process import serve
from common.logging import configure_logging


def _env(name: str, default: str | None) -> str | None:
    """CHATWOOT_SIM_<NAME>; set but empty counts as unset."""
    return os.environ.get(f"CHATWOOT_SIM_{name.upper()}") or default


def _parser() -> argparse.ArgumentParser:
    base = Options()
    parser = argparse.ArgumentParser(
        prog="python -m chatwoot_sim",
        description="A Chatwoot 4.15 simulator: REST API, signed webhooks, control API /_sim.",
    )
    parser.add_argument("--host", default=_env("host", base.host))
    parser.add_argument("--port", type=int, default=int(_env("port", str(base.port)) or 0))
    parser.add_argument(
        "--account-id", type=int, default=int(_env("account_id", str(base.account_id)) or 1)
    )
    parser.add_argument("--account-name", default=_env("account_name", base.account_name))
    parser.add_argument("--admin-token", default=_env("admin_token", base.admin_token))
    parser.add_argument("--agent-token", default=_env("agent_token", base.agent_token))
    parser.add_argument("--bot-token", default=_env("bot_token", base.bot_token))
    parser.add_argument(
        "--webhook-url",
        default=_env("webhook_url", None),
        help="where account webhooks go (none: they are recorded and dropped)",
    )
    parser.add_argument(
        "--webhook-secret",
        default=_env("webhook_secret", base.webhook_secret),
        help="the webhook's signing secret; an empty value sends unsigned webhooks",
    )
    parser.add_argument("--seed", choices=["demo"], default=_env("seed", None))
    parser.add_argument("--log-level", default=_env("log_level", "INFO"))
    return parser


def parse(argv: list[str]) -> Options:
    """The options from `argv` and the environment; no side effects, so a test can read
    what the simulator would run with."""
    return _options(_parser().parse_args(argv))


def _options(args: argparse.Namespace) -> Options:
    tokens = {args.admin_token, args.agent_token, args.bot_token}
    if len(tokens) != 3 or "" in tokens:
        _parser().error("--admin-token, --agent-token and --bot-token must be distinct and set")
    return Options(
        host=args.host,
        port=args.port,
        account_id=args.account_id,
        account_name=args.account_name,
        admin_token=args.admin_token,
        agent_token=args.agent_token,
        bot_token=args.bot_token,
        webhook_url=args.webhook_url or None,
        webhook_secret=args.webhook_secret or None,
        seed=args.seed,
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    options = _options(args)
    configure_logging(level=args.log_level)
    asyncio.run(serve(options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
