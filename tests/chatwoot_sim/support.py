"""Run the Chatwoot simulator as a real process and drive it through its control API.

    with run_simulator(webhook_url=receiver.url) as sim:
        sim.control.seed(conversations=[{"contact": {"name": "Ada", "email": "ada@example.com"}}])
        httpx.get(f"{sim.api_url}/conversations/1", headers=sim.headers())  # admin token
        sim.control.fault(path_prefix=sim.api_path("/conversations/1"), status=503, times=1)
        assert sim.control.calls()[-1].status == 200

The process binds an OS-picked port on 127.0.0.1 (no races between parallel tests) and is
killed with its process group when the block ends. `SimulatorControl` also works against a
simulator started by hand or by `make run SIM=1`: `SimulatorControl("http://127.0.0.1:3000")`.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.processes.support import REPO_ROOT, START_TIMEOUT, Process

ACCOUNT_ID = 1
ADMIN_TOKEN = "sim-admin-token-0123456789"
AGENT_TOKEN = "sim-agent-token-0123456789"
BOT_TOKEN = "sim-bot-token-0123456789"
WEBHOOK_SECRET = "sim-webhook-secret-0123456789"
# The ids the base state gives the token owners (`chatwoot_sim/seed.py` `base_world`).
ADMIN_USER_ID = 1
AGENT_USER_ID = 2
BOT_ID = 1

Json = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One recorded Chatwoot API call."""

    index: int
    time: float
    method: str
    path: str
    query: dict[str, str]
    query_string: str
    json: Any
    # "admin", "agent", "bot", "user" (a seeded agent's token), "invalid", or None: no token.
    actor: str | None
    status: int | None
    fault: str | None
    duration_seconds: float | None


@dataclass(frozen=True)
class Webhook:
    """One webhook the simulator sent (or dropped) and what became of it."""

    index: int
    event: str
    delivery_id: str
    url: str | None
    payload: Json
    created_at: float
    # "pending", "delivered", "failed" or "dropped" (webhooks off or no URL).
    outcome: str
    status_code: int | None
    error: str | None
    duration_seconds: float | None


@dataclass(frozen=True)
class Seeded:
    """What a seed created, in Chatwoot's REST shapes."""

    agents: list[Json] = field(default_factory=list)
    teams: list[Json] = field(default_factory=list)
    contacts: list[Json] = field(default_factory=list)
    conversations: list[Json] = field(default_factory=list)

    @property
    def agent_ids(self) -> list[int]:
        return [agent["id"] for agent in self.agents]

    @property
    def contact_ids(self) -> list[int]:
        return [contact["id"] for contact in self.contacts]

    @property
    def conversation_ids(self) -> list[int]:
        """Display ids: the `{conversation_id}` of the REST API."""
        return [conversation["id"] for conversation in self.conversations]


@dataclass(frozen=True)
class SimState:
    """`GET /_sim/state`: flat, readable records (not Chatwoot shapes)."""

    raw: Json

    @property
    def conversations(self) -> list[Json]:
        return list(self.raw["conversations"])

    @property
    def contacts(self) -> list[Json]:
        return list(self.raw["contacts"])

    @property
    def agents(self) -> list[Json]:
        return list(self.raw["agents"])

    @property
    def notifications(self) -> list[Json]:
        """@mention notifications, oldest first."""
        return list(self.raw["notifications"])

    def conversation(self, display_id: int, account_id: int = ACCOUNT_ID) -> Json:
        for conversation in self.raw["conversations"]:
            if conversation["id"] == display_id and conversation["account_id"] == account_id:
                return dict(conversation)
        raise KeyError(f"no conversation {display_id} in account {account_id}")

    def contact(self, contact_id: int) -> Json:
        for contact in self.raw["contacts"]:
            if contact["id"] == contact_id:
                return dict(contact)
        raise KeyError(f"no contact {contact_id}")


class SimulatorControl:
    """A typed client of the simulator's `/_sim` control API."""

    def __init__(self, base_url: str, timeout: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def close(self) -> None:
        self._http.close()

    def _send(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        response = self._http.request(method, path, json=body, params=params or None)
        if response.status_code != 200:
            raise AssertionError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json()

    def reset(self) -> None:
        """Back to the base state: no seed, calls, faults or webhooks; webhooks on."""
        self._send("POST", "/_sim/reset")

    def seed(
        self,
        *,
        agents: list[Json] | None = None,
        teams: list[Json] | None = None,
        contacts: list[Json] | None = None,
        conversations: list[Json] | None = None,
        preset: str | None = None,
        webhooks: bool = True,
    ) -> Seeded:
        """Create records (see `chatwoot_sim/seed.py` for every field). With `webhooks`
        the simulator fires contact_created / conversation_created / message_created."""
        body: Json = {"webhooks": webhooks}
        for key, value in (
            ("agents", agents),
            ("teams", teams),
            ("contacts", contacts),
            ("conversations", conversations),
            ("preset", preset),
        ):
            if value is not None:
                body[key] = value
        return Seeded(**self._send("POST", "/_sim/seed", body))

    def calls(self, since: int = 0) -> list[Call]:
        return [Call(**raw) for raw in self._send("GET", "/_sim/calls", since=since)["calls"]]

    def state(self) -> SimState:
        return SimState(self._send("GET", "/_sim/state"))

    def webhooks(self, since: int = 0) -> list[Webhook]:
        answer = self._send("GET", "/_sim/webhooks", since=since)
        return [Webhook(**raw) for raw in answer["webhooks"]]

    def wait_for_webhooks(
        self,
        done: Callable[[list[Webhook]], bool],
        timeout: float = 10.0,
        since: int = 0,
    ) -> list[Webhook]:
        """Poll until `done(webhooks)`; deliveries run in the background."""
        deadline = time.monotonic() + timeout
        while True:
            webhooks = self.webhooks(since)
            if done(webhooks):
                return webhooks
            if time.monotonic() > deadline:
                summary = [(w.event, w.outcome, w.status_code, w.error) for w in webhooks]
                raise AssertionError(f"webhooks not as expected in {timeout:g} s: {summary}")
            time.sleep(0.05)

    def wait_for_settled_webhooks(self, count: int, timeout: float = 10.0) -> list[Webhook]:
        """At least `count` webhooks, none of them still being sent."""
        return self.wait_for_webhooks(
            lambda hooks: len(hooks) >= count and all(h.outcome != "pending" for h in hooks),
            timeout,
        )

    def webhooks_enabled(
        self, enabled: bool, *, url: str | None = None, secret: str | None = None
    ) -> None:
        """Switch sending on or off (off: each event is recorded as "dropped", as lost
        webhooks would be); optionally change the URL or secret."""
        body: Json = {"enabled": enabled}
        if url is not None:
            body["url"] = url
        if secret is not None:
            body["secret"] = secret
        self._send("POST", "/_sim/webhooks", body)

    def fault(
        self,
        *,
        path_prefix: str = "/api/",
        method: str | None = None,
        status: int | None = None,
        retry_after: int | str | None = None,
        delay_seconds: float = 0.0,
        times: int | None = None,
    ) -> None:
        """Add one fault rule: a status answer (with Retry-After if given), a delay before
        the (real or faulted) answer; `times` matching requests, or all if None."""
        rule: Json = {"path_prefix": path_prefix, "delay_seconds": delay_seconds}
        for key, value in (
            ("method", method),
            ("status", status),
            ("retry_after", retry_after),
            ("times", times),
        ):
            if value is not None:
                rule[key] = value
        self._send("POST", "/_sim/faults", {"faults": [rule]})

    def faults(self) -> list[Json]:
        return list(self._send("GET", "/_sim/faults")["faults"])

    def clear_faults(self) -> None:
        self._send("DELETE", "/_sim/faults")

    def down(self, seconds: float) -> None:
        """Close the listener for `seconds`: connections are refused, then it comes back."""
        self._send("POST", "/_sim/down", {"seconds": seconds})

    def set_availability(self, agent_id: int, status: str) -> None:
        """The agent's presence as `GET /agents` shows it: "online", "busy" or "offline"."""
        self._send("POST", f"/_sim/agents/{agent_id}", {"availability_status": status})

    def remove_agent(self, agent_id: int) -> None:
        """Remove the agent from the account: out of `GET /agents` and every team, their
        conversations unassigned, their token refused."""
        self._send("DELETE", f"/_sim/agents/{agent_id}")

    def customer_message(
        self, conversation_id: int, content: str, *, account_id: int | None = None
    ) -> Json:
        """The contact writes (fires message_created, reopens a resolved conversation)."""
        body: Json = {"conversation_id": conversation_id, "content": content}
        if account_id is not None:
            body["account_id"] = account_id
        answer: Json = self._send("POST", "/_sim/customer_message", body)
        return answer


@dataclass
class SimulatorProcess:
    process: Process
    url: str
    control: SimulatorControl
    account_id: int
    admin_token: str
    agent_token: str
    bot_token: str
    webhook_secret: str | None

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    @property
    def api_url(self) -> str:
        """The account's API base: `{url}/api/v1/accounts/{account_id}`."""
        return f"{self.url}{self.api_path()}"

    def api_path(self, path: str = "") -> str:
        """A path under the account, e.g. `api_path("/conversations/1")`, for fault rules."""
        return f"/api/v1/accounts/{self.account_id}{path}"

    def headers(self, token: str | None = None) -> dict[str, str]:
        """The auth header; the admin token unless another is given."""
        return {"api_access_token": token if token is not None else self.admin_token}


def _serving_url(line: str) -> str | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    if isinstance(record, dict) and record.get("event") == "serving" and "url" in record:
        return str(record["url"])
    return None


@contextmanager
def run_simulator(
    *,
    account_id: int = ACCOUNT_ID,
    admin_token: str = ADMIN_TOKEN,
    agent_token: str = AGENT_TOKEN,
    bot_token: str = BOT_TOKEN,
    webhook_url: str | None = None,
    webhook_secret: str | None = WEBHOOK_SECRET,
    seed: str | None = None,
    extra_args: tuple[str, ...] = (),
) -> Iterator[SimulatorProcess]:
    """`python -m chatwoot_sim` on 127.0.0.1 with an OS-picked port, until the block ends."""
    args = [
        "--host=127.0.0.1",
        "--port=0",
        f"--account-id={account_id}",
        f"--admin-token={admin_token}",
        f"--agent-token={agent_token}",
        f"--bot-token={bot_token}",
        f"--webhook-secret={webhook_secret or ''}",
        "--log-level=WARNING",
    ]
    if webhook_url is not None:
        args.append(f"--webhook-url={webhook_url}")
    if seed is not None:
        args.append(f"--seed={seed}")
    # The options are all on the command line; a developer's CHATWOOT_SIM_* must not count.
    unset = {name: "" for name in os.environ if name.startswith("CHATWOOT_SIM_")}
    process = Process("chatwoot_sim", *args, *extra_args, env=unset, cwd=REPO_ROOT)
    control: SimulatorControl | None = None
    try:
        url = process.wait_for(_serving_url, "the serving line", START_TIMEOUT)
        control = SimulatorControl(url)
        yield SimulatorProcess(
            process=process,
            url=url,
            control=control,
            account_id=account_id,
            admin_token=admin_token,
            agent_token=agent_token,
            bot_token=bot_token,
            webhook_secret=webhook_secret,
        )
    finally:
        if control is not None:
            control.close()
        process.close()
