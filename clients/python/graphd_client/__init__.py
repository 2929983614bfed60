"""Blocking Python client for graphd (ttrpc over a Unix or TCP socket).

    from graphd_client import GraphdClient, NotFound
    with GraphdClient.unix("/tmp/graphd.sock") as client:
        print(client.stats().edges)

Messages are the protobuf classes generated from graphd's Proto/ files
(graphd_client.graph_pb2, graphd_client.recommend_pb2, graphd_client.router_pb2,
graphd_client.conversation_pb2). Every failure that
graphd reports is a GraphdError subclass named after its google.rpc code.
"""
import os
import sys

# The generated modules import each other by their proto paths (graphd.v1, ttrpc, google.rpc).
_GEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_gen")
if _GEN not in sys.path:
    sys.path.insert(0, _GEN)

from graphd.v1 import conversation_pb2, graph_pb2, recommend_pb2, router_pb2  # noqa: E402

from .blocks import columnar  # noqa: E402
from .client import GraphdClient  # noqa: E402
from .errors import (  # noqa: E402
    Aborted, AlreadyExists, Cancelled, DataLoss, DeadlineExceeded, FailedPrecondition, GraphdError, Internal,
    InvalidArgument, NotFound, OutOfRange, PermissionDenied, ResourceExhausted, Unauthenticated, Unavailable,
    Unimplemented, Unknown,
)

__all__ = [
    "GraphdClient", "columnar", "conversation_pb2", "graph_pb2", "recommend_pb2", "router_pb2", "GraphdError", "Cancelled", "Unknown", "InvalidArgument",
    "DeadlineExceeded", "NotFound", "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
]
