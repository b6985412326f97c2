"""http: make an HTTP request from the controller and check its status (as Ansible's uri)."""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from pydantic import Field, field_validator

from deployplay.modules.base import Module, ModuleArgs, ModuleContext, ModuleResult

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class HttpArgs(ModuleArgs):
    url: str = Field(description="The URL to request (http or https).")
    method: str = Field("GET", description="The HTTP method.")
    body: Any = Field(None, description="The request body; see body_format.")
    body_format: Literal["raw", "json", "form-urlencoded"] = Field(
        "raw",
        description="json: body (a mapping or list) is sent as JSON; form-urlencoded: body "
        "(a mapping) is sent as a form; raw: body is sent as it is.",
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Request headers.")
    status_code: list[int] = Field(
        default_factory=lambda: [200], description="The status code(s) that mean success."
    )
    return_content: bool = Field(False, description="Register the response body as `content`.")
    timeout: float = Field(30, description="Seconds the request may take.")
    validate_certs: bool = Field(True, description="Check the server's TLS certificate.")
    follow_redirects: bool | Literal["all", "safe", "none", "urllib2"] = Field(
        "safe", description="all/true: follow every redirect; safe: only for GET and HEAD; none."
    )
    url_username: str | None = Field(None, description="User for HTTP basic authentication.")
    url_password: str | None = Field(None, description="Password for HTTP basic authentication.")

    @field_validator("status_code", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, int | str) else value

    @field_validator("headers", mode="before")
    @classmethod
    def _header_values_as_text(cls, value: Any) -> Any:
        # `X-Retries: 3` in YAML is a number; on the wire it is text.
        if isinstance(value, dict):
            return {str(key): str(item) for key, item in value.items()}
        return value

    @field_validator("method")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class Http(Module):
    """Request a URL from the controller and fail unless the status is the expected one.

    Like Ansible's `uri`: the response's status, headers (lower-cased, `-` as
    `_`), `json` (when the body is JSON) and, with `return_content`, the body
    are registered. In check mode only GET, HEAD and OPTIONS are sent; other
    methods are skipped, since they may change something.

        - http:
            url: "http://{{ ansible_host }}:8080/healthz"
            status_code: [200, 204]
          register: health

        - http:
            url: https://chat.example.com/hooks/deploys
            method: POST
            body_format: json
            body: {text: "deployed {{ version }}"}
    """

    name = "http"
    Args = HttpArgs
    supports_check_mode = True
    read_only = True
    runs_on = "controller"

    def run(self, ctx: ModuleContext, args: HttpArgs) -> ModuleResult:
        if ctx.check_mode and args.method not in SAFE_METHODS:
            return ModuleResult(skipped=True, msg=f"would send {args.method} {args.url}")
        content, headers = _body(args)
        started = time.monotonic()
        try:
            with httpx.Client(
                verify=args.validate_certs,
                timeout=args.timeout,
                follow_redirects=_follow(args),
                auth=_auth(args),
            ) as client:
                response = client.request(
                    args.method, args.url, content=content, headers={**headers, **args.headers}
                )
        except httpx.HTTPError as error:
            reason = str(error) or type(error).__name__
            data = {"status": -1, "url": args.url, "elapsed": int(time.monotonic() - started)}
            msg = f"Status code was -1 and not {args.status_code}: Request failed: {reason}"
            return ModuleResult(failed=True, msg=msg, data=data)
        return _result(args, response, time.monotonic() - started)


def _body(args: HttpArgs) -> tuple[bytes | None, dict[str, str]]:
    if args.body is None:
        return None, {}
    if args.body_format == "json":
        text = args.body if isinstance(args.body, str) else json.dumps(args.body)
        return text.encode(), {"Content-Type": "application/json"}
    if args.body_format == "form-urlencoded":
        text = args.body if isinstance(args.body, str) else urlencode(args.body, doseq=True)
        return text.encode(), {"Content-Type": "application/x-www-form-urlencoded"}
    if isinstance(args.body, bytes):
        return args.body, {}
    text = args.body if isinstance(args.body, str) else json.dumps(args.body)
    return text.encode(), {}


def _follow(args: HttpArgs) -> bool:
    choice = args.follow_redirects
    if choice == "safe":
        return args.method in ("GET", "HEAD")
    return choice in (True, "all", "urllib2")


def _auth(args: HttpArgs) -> httpx.BasicAuth | None:
    if args.url_username is None:
        return None
    return httpx.BasicAuth(args.url_username, args.url_password or "")


def _result(args: HttpArgs, response: httpx.Response, seconds: float) -> ModuleResult:
    data: dict[str, Any] = {
        key.lower().replace("-", "_"): value for key, value in response.headers.items()
    }
    data.update(
        status=response.status_code,
        url=str(response.url),
        elapsed=int(seconds),
        redirected=bool(response.history),
        cookies=dict(response.cookies),
    )
    if args.return_content:
        data["content"] = response.text
    if _is_json(response):
        # A server that says JSON but sends something else: leave `json` out.
        with contextlib.suppress(ValueError):
            data["json"] = response.json()
    if response.status_code not in args.status_code:
        msg = (
            f"Status code was {response.status_code} and not {args.status_code}: "
            f"HTTP Error {response.status_code}: {response.reason_phrase}"
        )
        return ModuleResult(failed=True, msg=msg, data=data)
    return ModuleResult(msg=f"OK ({len(response.content)} bytes)", data=data)


def _is_json(response: httpx.Response) -> bool:
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    return kind in ("application/json", "text/json") or kind.endswith("+json")
