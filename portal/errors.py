"""Errors services raise besides Django's ValidationError; the API maps them to HTTP (Forbidden 403, NotFound 404,
Conflict 409, UpstreamError 502)."""


class Conflict(Exception):
    """The request is well-formed but collides with the current state (duplicate, default environment...)."""

    def __init__(self, message: str, code: str = "conflict"):
        super().__init__(message)
        self.message = message
        self.code = code


class NotFound(Exception):
    """The object does not exist or the actor may not see it; the two are deliberately indistinguishable."""

    def __init__(self, message: str = "Not found."):
        super().__init__(message)
        self.message = message


class UpstreamError(Exception):
    """A peer (AWS, vCenter) refused or failed; the message is fit to show a user."""

    def __init__(self, message: str, code: str = "upstream_error"):
        super().__init__(message)
        self.message = message
        self.code = code


class Forbidden(Exception):
    """The actor is known and may see the object, but may not do this (403), with a message saying why."""

    def __init__(self, message: str, code: str = "permission_denied"):
        super().__init__(message)
        self.message = message
        self.code = code
