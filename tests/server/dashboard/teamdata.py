"""A deterministic, realistic team's worth of agent events, for dashboard tests and screenshots.

Eight developers on five projects use five agents over a few weeks: sessions of prompts, responses
with token usage (and cost where the agent records it), tool calls and results (some failing), and
file edits with line counts - shaped like the events the collector exports. Same seed, same events.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

DEVELOPERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
PROJECTS = {
    "payments-api": "/home/{user}/work/payments-api",
    "web-app": "/home/{user}/work/web-app",
    "billing": "/home/{user}/company/billing",
    "infra": "/srv/infra",
    "mobile": "/home/{user}/work/mobile",
}
AGENTS: dict[str, tuple[list[str], float, bool]] = {
    # agent: (models, share of sessions, records cost)
    "claude": (["claude-sonnet-4-5", "claude-opus-4-5", "claude-haiku-4-5"], 0.42, True),
    "codex": (["gpt-5-codex", "gpt-5"], 0.2, True),
    "cursor": (["auto", "claude-sonnet-4-5"], 0.14, False),
    "copilot": (["gpt-4.1", "claude-sonnet-4"], 0.14, False),
    "gemini": (["gemini-2.5-pro", "gemini-2.5-flash"], 0.1, True),
}
TOOLS = {
    "claude": ["Bash", "Read", "Edit", "Grep", "Write", "Glob"],
    "codex": ["shell", "apply_patch", "read_file"],
    "cursor": ["read_file", "edit_file", "run_terminal_cmd", "codebase_search"],
    "copilot": ["copilot_readFile", "copilot_replaceString", "run_in_terminal"],
    "gemini": ["read_file", "replace", "run_shell_command", "search_file_content"],
}
EDIT_TOOLS = {"Edit", "Write", "apply_patch", "edit_file", "copilot_replaceString", "replace"}
TASKS = [
    ("Add retry with exponential backoff to the webhook sender", "src/webhooks/sender.py"),
    ("The nightly export job fails with a timeout on large accounts - find out why", "jobs/export.py"),
    ("Write tests for the invoice rounding rules", "tests/test_invoices.py"),
    ("Refactor the settings loader to read environment variables only", "app/settings.py"),
    ("Add an index for the orders-by-customer query and check the plan", "migrations/0042_orders_index.py"),
    ("Fix the flaky login test on CI", "tests/test_login.py"),
    ("Make the dashboard charts work in dark mode", "web/src/charts.ts"),
    ("Upgrade the HTTP client and fix the deprecation warnings", "app/http.py"),
    ("Explain how the rate limiter decides Retry-After", "app/ratelimit.py"),
    ("Add pagination to the audit log endpoint", "app/api/audit.py"),
    ("Terraform plan shows drift on the load balancer, reconcile it", "terraform/lb.tf"),
    ("Port the image upload screen to the new design system", "mobile/src/screens/Upload.tsx"),
]
RESPONSES = [
    "I'll start by reading the current implementation and the tests around it.",
    "The failure comes from {file}: the loop never yields, so the request times out after 30 s. "
    "I'll batch the work and stream the results instead.",
    "Done. I changed {file} and added two tests; the full suite passes locally.",
    "Here is the plan:\n1. reproduce the problem with a focused test\n2. fix the root cause in {file}\n"
    "3. run the suite and lint",
    "The tests pass now. One thing to review: the timeout is still hard-coded; it should come from settings.",
]
COMMANDS = ["pytest -q", "ruff check .", "npm test -- --watch=false", "terraform plan", "git diff --stat", "make lint"]
FAILURE_STATUS = {"claude": "error", "codex": "failed", "cursor": "error", "copilot": "error", "gemini": "error"}
PRICES = {"claude-opus-4-5": (5.0, 25.0), "claude-haiku-4-5": (1.0, 5.0), "gemini-2.5-flash": (0.3, 2.5)}


def _price(model: str) -> tuple[float, float]:
    return PRICES.get(model, (3.0, 15.0))


def team_events(*, end: datetime, days: int = 21, sessions: int = 120, seed: int = 11) -> list[dict[str, Any]]:
    """Events of `sessions` sessions spread over the `days` days before `end`, oldest first."""
    rng = random.Random(seed)
    agents = list(AGENTS)
    weights = [AGENTS[a][1] for a in agents]
    events: list[dict[str, Any]] = []
    for number in range(sessions):
        user = rng.choice(DEVELOPERS[: 4 + number % 5])
        agent = rng.choices(agents, weights)[0]
        models, _, records_cost = AGENTS[agent]
        model = rng.choice(models)
        project = rng.choice(list(PROJECTS))
        workspace = PROJECTS[project].format(user=user)
        day = rng.randrange(days)
        start = (end - timedelta(days=day + 1)).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
            hours=rng.randint(8, 18), minutes=rng.randint(0, 59)
        )
        session_id = f"{agent}-{number:04d}-{rng.getrandbits(32):08x}"
        ts = start
        seq = 0

        def add(kind: str, **fields: Any) -> str:
            nonlocal ts, seq
            seq += 1
            ts += timedelta(seconds=rng.randint(2, 40))
            event_id = f"{session_id}-{seq:04d}"
            doc = {
                "id": event_id,
                "ts": ts.isoformat(),
                "agent": agent,
                "agent_version": {"claude": "2.0.31", "codex": "0.46.0"}.get(agent, "1.0.0"),
                "kind": kind,
                "session_id": session_id,
                "workspace": workspace,
                "project": project,
                "user": user,
                "machine": f"m-{user}",
                "git": {"branch": rng.choice(["main", "feature/retries", "fix/flaky-login"])},
                **fields,
            }
            events.append(doc)
            return event_id

        add("session_start", model=model)
        for _turn in range(rng.randint(2, 5)):
            task, file_name = rng.choice(TASKS)
            path = f"{workspace}/{file_name}"
            add("prompt", text=task, model=model)
            for step in range(rng.randint(1, 4)):
                input_tokens = rng.randint(40, 4000)
                output_tokens = rng.randint(80, 1800)
                cache_read = rng.randint(5_000, 60_000)
                cache_write = rng.randint(0, 6_000)
                price_in, price_out = _price(model)
                cost = (input_tokens * price_in + output_tokens * price_out + cache_read * price_in * 0.1) / 1e6
                response: dict[str, Any] = {
                    "text": rng.choice(RESPONSES).format(file=file_name),
                    "model": model,
                    "usage": {
                        "input_tokens": input_tokens,
                        "output_tokens": output_tokens,
                        "cache_read_tokens": cache_read,
                        "cache_creation_tokens": cache_write,
                    },
                }
                if records_cost:
                    response["cost_usd"] = round(cost, 6)
                add("response", **response)
                tool = rng.choice(TOOLS[agent])
                failed = rng.random() < (0.12 if tool in ("Bash", "shell", "run_terminal_cmd") else 0.04)
                status = FAILURE_STATUS[agent] if failed else "success"
                call_id = f"call-{seq}"
                arguments = (
                    rng.choice(COMMANDS) if "sh" in tool.lower() or "cmd" in tool or "terminal" in tool else path
                )
                add("tool_call", model=model, text=arguments, tool={"name": tool, "call_id": call_id, "status": status})
                output = (
                    "FAILED tests/test_login.py::test_remember_me - AssertionError: expected 302, got 200"
                    if failed
                    else rng.choice(["4 passed in 0.41s", "All checks passed!", f"read {rng.randint(20, 400)} lines"])
                )
                add(
                    "tool_result",
                    model=model,
                    text=output,
                    tool={"name": tool, "call_id": call_id, "status": status, "duration_ms": rng.randint(15, 9000)},
                )
                if tool in EDIT_TOOLS and not failed and step % 2 == 0:
                    add(
                        "file_edit",
                        file={"path": path, "lines_added": rng.randint(1, 60), "lines_removed": rng.randint(0, 25)},
                    )
        if rng.random() < 0.05:
            add("error", text="API error 529: overloaded", model=model)
    events.sort(key=lambda e: e["ts"])
    return events


def batches(events: list[dict[str, Any]], size: int = 500) -> list[dict[str, Any]]:
    """The events as ingest batches of `size`, from one collector per developer."""
    out = []
    by_user: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_user.setdefault(event["user"], []).append(event)
    for user, items in sorted(by_user.items()):
        for start in range(0, len(items), size):
            out.append(
                {
                    "schema_version": 1,
                    "sent_at": datetime.now(UTC).isoformat(),
                    "collector": {"name": "devlog", "version": "0.1.0", "machine": f"m-{user}"},
                    "events": items[start : start + size],
                }
            )
    return out
