"""Errors as OpenAI sends them: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

import orjson

from podium.server._problems import Problem

#: the ``type`` OpenAI gives each status class
_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
}
_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded", 413: "request_too_large"}


class GatewayError(Exception):
    """An error answer of the gateway, with an OpenAI-shaped body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        kind: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.kind = kind or _TYPES.get(
            status, "api_error" if status >= 500 else "invalid_request_error"
        )
        self.headers = headers or {}

    def body(self) -> bytes:
        error = {"message": self.message, "type": self.kind, "param": self.param, "code": self.code}
        return orjson.dumps({"error": error})


def from_problem(problem: Problem) -> GatewayError:
    """The gateway's form of a server problem (authentication, rate limits)."""
    return GatewayError(
        problem.status,
        problem.detail or problem.title,
        code=_CODES.get(problem.status, problem.kind.replace("-", "_")),
        headers=problem.headers,
    )


def bad_request(message: str, param: str | None = None) -> GatewayError:
    return GatewayError(400, message, param=param, code="invalid_value" if param else None)


def unknown_model(name: str, what: str = "model") -> GatewayError:
    """404 for a model that does not exist or is not the caller's (ids cannot be probed)."""
    return GatewayError(
        404,
        f"The {what} '{name}' does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )
