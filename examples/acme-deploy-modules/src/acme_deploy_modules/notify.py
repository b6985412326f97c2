"""acme_notify: tell the team about a release, through a webhook or an outbox file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field, model_validator

from deployplay import Module, ModuleContext, ModuleResult
from deployplay.modules.base import ModuleArgs


class Notify(Module):
    """Post a release notification to a chat channel: a webhook, or a JSON-lines outbox file.

    Runs on the controller. Each notification is one JSON object (channel,
    text, host, run id, user, time): POSTed to `webhook_url`, or appended as
    one line to `outbox`. In check mode nothing is sent.

        - acme_notify:
            channel: "#releases"
            text: "{{ app_name }} {{ version }} is live on {{ inventory_hostname }}"
            outbox: /var/log/deploys/notifications.jsonl
    """

    name = "acme_notify"
    supports_check_mode = True
    runs_on = "controller"

    class Args(ModuleArgs):
        text: str = Field(description="the message")
        channel: str = Field("#deploys", description="where the message goes")
        outbox: str | None = Field(None, description="append the message to this file")
        webhook_url: str | None = Field(None, description="POST the message here as JSON")
        timeout: float = Field(10.0, gt=0, description="seconds, for the webhook")

        @model_validator(mode="after")
        def _one_target(self) -> Notify.Args:
            if (self.outbox is None) == (self.webhook_url is None):
                raise ValueError("give exactly one of outbox or webhook_url")
            return self

    def run(self, ctx: ModuleContext, args: Args) -> ModuleResult:
        message = {
            "channel": args.channel,
            "text": args.text,
            "host": ctx.host,
            "run_id": ctx.run_state.run_id,
            "user": ctx.run_state.user,
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        where = args.webhook_url or args.outbox
        if ctx.check_mode:
            return ModuleResult(changed=True, msg=f"would notify {args.channel} via {where}")
        problem = _post(args, message) if args.webhook_url else _append(args, message)
        if problem:
            return ModuleResult(failed=True, msg=f"could not notify {args.channel}: {problem}")
        return ModuleResult(changed=True, msg=f"notified {args.channel}", data=message)


def _append(args: Notify.Args, message: dict) -> str | None:
    path = Path(args.outbox or "").expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(message) + "\n")
    except OSError as exc:
        return str(exc)
    return None


def _post(args: Notify.Args, message: dict) -> str | None:
    import httpx

    try:
        response = httpx.post(args.webhook_url or "", json=message, timeout=args.timeout)
    except httpx.HTTPError as exc:
        return f"{args.webhook_url}: {exc}"
    if response.status_code >= 300:
        return f"{args.webhook_url} answered {response.status_code}"
    return None
