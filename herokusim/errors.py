"""Errors a user can cause, with the Platform API's error ids; api/ turns them into JSON, the CLI prints them.

The ids and statuses are Heroku's (devcenter's Platform API reference, "Error Responses"): 400 bad_request
(a request that cannot be read: a body that is not JSON, a bad Range), 401 unauthorized, 403 forbidden,
404 not_found, 406 not_acceptable, 409 conflict, 422 invalid_params (a readable request with wrong
parameters, a name already taken included), 429 rate_limit.
"""

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


class Forbidden(PlatformError):
    status = 403
    id = "forbidden"


class NotAcceptable(PlatformError):
    status = 406
    id = "not_acceptable"


class RateLimited(PlatformError):
    status = 429
    id = "rate_limit"
