"""Typed errors: one class per google.rpc code graphd can return."""


class GraphdError(Exception):
    """A call failed. `code` is the google.rpc code number, `message` says why."""

    code = 2

    def __init__(self, message, code=None):
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self):
        return f"{type(self).__name__} ({self.code}): {self.message}"


class Cancelled(GraphdError): code = 1
class Unknown(GraphdError): code = 2
class InvalidArgument(GraphdError): code = 3
class DeadlineExceeded(GraphdError): code = 4
class NotFound(GraphdError): code = 5
class AlreadyExists(GraphdError): code = 6
class PermissionDenied(GraphdError): code = 7
class ResourceExhausted(GraphdError): code = 8
class FailedPrecondition(GraphdError): code = 9
class Aborted(GraphdError): code = 10
class OutOfRange(GraphdError): code = 11
class Unimplemented(GraphdError): code = 12
class Internal(GraphdError): code = 13
class Unavailable(GraphdError): code = 14
class DataLoss(GraphdError): code = 15
class Unauthenticated(GraphdError): code = 16

_BY_CODE = {cls.code: cls for cls in (
    Cancelled, Unknown, InvalidArgument, DeadlineExceeded, NotFound, AlreadyExists, PermissionDenied,
    ResourceExhausted, FailedPrecondition, Aborted, OutOfRange, Unimplemented, Internal, Unavailable, DataLoss,
    Unauthenticated)}


def error_for(code, message):
    """The GraphdError subclass for a google.rpc code."""
    cls = _BY_CODE.get(code, GraphdError)
    return cls(message, code=code)
