"""Errors a user can cause, with the Platform API's error ids; api/ turns them into JSON, the CLI prints them."""

from __future__ import annotations


class PlatformError(Exception):
    status = 400
    id = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidParams(PlatformError):
    status = 422
    id = "invalid_params"


class NotFound(PlatformError):
    status = 404
    id = "not_found"


class Conflict(PlatformError):
    status = 409
    id = "conflict"


class Unauthorized(PlatformError):
    status = 401
    id = "unauthorized"
