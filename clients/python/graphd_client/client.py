"""ttrpc framing (containerd PROTOCOL.md) and the blocking client."""
import os
import socket
import ssl
import struct
import threading
import time

from google.rpc import status_pb2  # noqa: F401  (registers google.rpc.Status for ttrpc_pb2)
from graphd.v1 import conversation_pb2, graph_pb2, recommend_pb2, router_pb2
from ttrpc import ttrpc_pb2

from .errors import DataLoss, DeadlineExceeded, FailedPrecondition, InvalidArgument, ResourceExhausted, Unavailable, error_for

_HEADER = struct.Struct(">IIBB")  # data length, stream id, message type, flags
_REQUEST, _RESPONSE = 1, 2
MAX_MESSAGE = 4 << 20

GRAPH = "graphd.v1.Graph"
RECOMMEND = "graphd.v1.Recommend"
ROUTER = "graphd.v1.Router"
CONVERSATION = "graphd.v1.Conversation"

# Replication (see deploy/SCALING.md): the methods a replica refuses, the read
# metadata that makes a replica wait until it holds a write, and the end of a
# replica's refusal, followed by the primary's address ("unix:PATH", "tcp:HOST:PORT").
WRITES = frozenset({
    (GRAPH, "DefineTypes"), (GRAPH, "AddNodes"), (GRAPH, "AddEdges"), (GRAPH, "RemoveNodes"), (GRAPH, "RemoveEdges"),
    (ROUTER, "Feedback"), (ROUTER, "AddLLM"), (ROUTER, "RemoveLLM"), (ROUTER, "Train"), (ROUTER, "SetTask"),
    (CONVERSATION, "TrainReasoner"), (CONVERSATION, "AddConversation"),
})
MIN_LOG_SEQUENCE = "min-log-sequence"
PRIMARY_MARKER = "send writes to the primary at "


def primary_address(message):
    """The primary's address a replica's refusal names, or None."""
    at = message.rfind(PRIMARY_MARKER)
    address = message[at + len(PRIMARY_MARKER):] if at >= 0 else ""
    return address or None


def primary_target(address):
    """`unix:PATH` or `tcp:HOST:PORT` as a socket address and family."""
    if address.startswith("unix:"):
        return address[len("unix:"):], socket.AF_UNIX
    if address.startswith("tcp:") and ":" in address[len("tcp:"):]:
        host, _, port = address[len("tcp:"):].rpartition(":")
        return (host.strip("[]"), int(port)), socket.AF_INET6 if ":" in host else socket.AF_INET
    raise FailedPrecondition(f"the primary's address {address!r} is not unix:PATH or tcp:HOST:PORT")


def encode_request(service, method, request, timeout, metadata):
    """The ttrpc Request envelope's bytes (refused over the frame limit)."""
    envelope = ttrpc_pb2.Request(service=service, method=method, payload=request.SerializeToString(),
                                 timeout_nano=int(timeout * 1e9))
    for key, value in metadata.items():
        envelope.metadata.add(key=key, value=value)
    data = envelope.SerializeToString()
    if len(data) > MAX_MESSAGE:
        raise ResourceExhausted(f"request of {len(data)} bytes exceeds the {MAX_MESSAGE}-byte frame limit")
    return data


def decode_response(body, response_type):
    """The reply in a ttrpc Response's bytes, or its status as a GraphdError."""
    response = ttrpc_pb2.Response()
    response.ParseFromString(body)
    if response.status.code != 0:
        raise error_for(response.status.code, response.status.message)
    result = response_type()
    try:
        result.ParseFromString(response.payload)
    except Exception as error:  # noqa: BLE001 - protobuf raises DecodeError
        raise InvalidArgument(f"malformed {response_type.__name__}: {error}") from None
    return result


# Every RPC as (Python name, service, method, the request a method without a
# request argument sends (None: the caller passes one), response type, doc): the
# blocking and the asyncio client define their methods from it.
METHODS = [
    ("health", GRAPH, "Health", graph_pb2.HealthRequest, graph_pb2.HealthResponse, None),
    ("stats", GRAPH, "Stats", graph_pb2.StatsRequest, graph_pb2.StatsResponse, None),
    ("define_types", GRAPH, "DefineTypes", None, graph_pb2.DefineTypesResponse, None),
    ("list_types", GRAPH, "ListTypes", graph_pb2.ListTypesRequest, graph_pb2.ListTypesResponse, None),
    ("add_nodes", GRAPH, "AddNodes", None, graph_pb2.AddNodesResponse, None),
    ("add_edges", GRAPH, "AddEdges", None, graph_pb2.AddEdgesResponse, None),
    ("remove_nodes", GRAPH, "RemoveNodes", None, graph_pb2.RemoveNodesResponse, None),
    ("remove_edges", GRAPH, "RemoveEdges", None, graph_pb2.RemoveEdgesResponse, None),
    ("get_node", GRAPH, "GetNode", None, graph_pb2.GetNodeResponse, None),
    ("neighbors", GRAPH, "Neighbors", None, graph_pb2.NeighborsResponse, None),
    ("list_nodes", GRAPH, "ListNodes", None, graph_pb2.ListNodesResponse, None),
    ("list_edges", GRAPH, "ListEdges", None, graph_pb2.ListEdgesResponse, None),
    ("compact", GRAPH, "Compact", graph_pb2.CompactRequest, graph_pb2.CompactResponse, None),
    ("embed", GRAPH, "Embed", None, graph_pb2.EmbedResponse, None),
    ("snapshot", GRAPH, "Snapshot", graph_pb2.SnapshotRequest, graph_pb2.SnapshotResponse, None),
    ("read_snapshot", GRAPH, "ReadSnapshot", None, graph_pb2.ReadSnapshotResponse, None),
    ("recommend", RECOMMEND, "Recommend", None, recommend_pb2.RecommendResponse, None),
    ("personalized_pagerank", RECOMMEND, "PersonalizedPageRank", None, recommend_pb2.PersonalizedPageRankResponse, None),
    ("route", ROUTER, "Route", None, router_pb2.RouteResponse, None),
    ("feedback", ROUTER, "Feedback", None, router_pb2.FeedbackResponse, None),
    ("add_llm", ROUTER, "AddLLM", None, router_pb2.AddLLMResponse, None),
    ("list_llms", ROUTER, "ListLLMs", router_pb2.ListLLMsRequest, router_pb2.ListLLMsResponse, None),
    ("remove_llm", ROUTER, "RemoveLLM", None, router_pb2.RemoveLLMResponse, None),
    ("set_task", ROUTER, "SetTask", None, router_pb2.SetTaskResponse,
     "Creates a task or sets its description and which part of a prompt identifies its queries."),
    ("list_tasks", ROUTER, "ListTasks", router_pb2.ListTasksRequest, router_pb2.ListTasksResponse, None),
    ("train_router", ROUTER, "Train", None, router_pb2.TrainRouterResponse, None),
    ("train_router_progress", ROUTER, "TrainProgress", graph_pb2.TrainingProgressRequest, graph_pb2.TrainingProgress,
     "The running (or last) Train job's epoch and losses (during train_router: from a second client)."),
    ("retrieve", CONVERSATION, "Retrieve", None, conversation_pb2.RetrieveResponse, None),
    ("train_reasoner", CONVERSATION, "TrainReasoner", None, conversation_pb2.TrainReasonerResponse, None),
    ("add_conversation", CONVERSATION, "AddConversation", None, conversation_pb2.AddConversationResponse,
     "Stores a dialogue as a conversation node (online learning)."),
    ("train_reasoner_progress", CONVERSATION, "TrainReasonerProgress", graph_pb2.TrainingProgressRequest, graph_pb2.TrainingProgress,
     "The running (or last) TrainReasoner job's epoch and losses."),
]


def define_methods(cls, asynchronous=False):
    """Gives `cls` (a client with `call`) one method per entry of METHODS."""
    def make(service, method, default_request, response_type):
        if asynchronous:
            if default_request is None:
                async def rpc(self, request, **kw):
                    return await self.call(service, method, request, response_type, **kw)
            else:
                async def rpc(self, **kw):
                    return await self.call(service, method, default_request(), response_type, **kw)
        else:
            if default_request is None:
                def rpc(self, request, **kw):
                    return self.call(service, method, request, response_type, **kw)
            else:
                def rpc(self, **kw):
                    return self.call(service, method, default_request(), response_type, **kw)
        return rpc

    for name, service, method, default_request, response_type, doc in METHODS:
        rpc = make(service, method, default_request, response_type)
        rpc.__name__ = rpc.__qualname__ = name
        rpc.__doc__ = doc or f"{service}/{method}"
        setattr(cls, name, rpc)
    return cls


class SnapshotFile:
    """Where `save_snapshot` writes a snapshot's chunks: a new file at `path`,
    written aside (PATH.partial), synced and renamed into place once whole."""

    def __init__(self, path, snapshot):
        if os.path.exists(path):
            raise FileExistsError(path)
        self.path, self.snapshot, self.offset = path, snapshot, 0
        self._partial = path + ".partial"
        self._out = open(self._partial, "wb")

    def add(self, chunk):
        """Writes a chunk; True once the snapshot is complete (then `finish`)."""
        self._out.write(chunk.data)
        self.offset += len(chunk.data)
        if chunk.eof:
            return True
        if not chunk.data:
            raise DataLoss(f"the snapshot ended early at byte {self.offset}")
        return False

    def finish(self):
        if self.offset != self.snapshot.bytes:
            raise DataLoss(f"read {self.offset} bytes of a {self.snapshot.bytes}-byte snapshot")
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        os.rename(self._partial, self.path)

    def abort(self):
        self._out.close()
        if os.path.exists(self._partial):
            os.remove(self._partial)


class ClientSession:
    """What the blocking and the asyncio client share: their options (address,
    deadline, metadata, bearer token, TLS), and what they do around each call
    when graphd replicates: reads carry the highest log sequence this client's
    writes reached (with `read_your_writes`), a write a replica refuses names
    the primary to follow (with `follow_primary`), and each write's log
    sequence is noted."""

    def __init__(self, address, family=socket.AF_UNIX, timeout=10.0, metadata=None, token=None, tls=False, tls_ca=None,
                 follow_primary=True, read_your_writes=False):
        self._address = address
        self._family = family
        self.timeout = timeout
        self.metadata = dict(metadata or {})
        if token is not None:
            self.metadata["authorization"] = f"Bearer {token}"
        if isinstance(tls, ssl.SSLContext):
            self._tls = tls
        elif tls or tls_ca is not None:
            self._tls = ssl.create_default_context(cafile=tls_ca)
        else:
            self._tls = None
        self.follow_primary = follow_primary
        self.read_your_writes = read_your_writes
        self.highest_log_sequence = 0
        self._primary = None  # (address text, client of the same kind) a write was followed to

    @classmethod
    def unix(cls, path="/tmp/graphd.sock", **kwargs):
        return cls(path, socket.AF_UNIX, **kwargs)

    @classmethod
    def tcp(cls, host="127.0.0.1", port=7419, **kwargs):
        return cls((host, port), socket.AF_INET, **kwargs)

    def _primary_options(self):
        """How to make the client for a primary a write is followed to: like this one, not following further."""
        return dict(timeout=self.timeout, metadata=self.metadata, tls=self._tls or False, follow_primary=False)

    def _call_metadata(self, service, method, metadata):
        """Whether the call is a write, and the metadata it carries."""
        write = (service, method) in WRITES
        extra = dict(metadata or {})
        if self.read_your_writes and not write and self.highest_log_sequence > 0:
            extra.setdefault(MIN_LOG_SEQUENCE, str(self.highest_log_sequence))
        return write, extra

    def _primary_to_follow(self, write, error):
        """The primary's address a refused write should go to, or None."""
        return primary_address(error.message) if write and self.follow_primary else None

    def _note_write(self, write, result):
        if write and getattr(result, "log_sequence", 0) > self.highest_log_sequence:
            self.highest_log_sequence = result.log_sequence
        return result


class GraphdClient(ClientSession):
    """One connection to graphd, reused for every call; safe to share between
    threads (calls are serialised on the connection). Reconnects once if the
    connection broke between calls. `timeout` (seconds) is the default deadline,
    sent to the server as timeout_nano and enforced on the socket.

    For a TCP listener: `token` is sent as `authorization: Bearer TOKEN` with every
    call, and `tls=True` (or an `ssl.SSLContext`) speaks TLS, verifying the server
    against the system's roots or `tls_ca` (a PEM file).

    Replication: a write a replica refuses is sent once to the primary it names
    (`follow_primary`, on by default; the connection to the primary is kept for
    later writes). With `read_your_writes`, every read carries the highest log
    sequence this client's writes were acknowledged at (`highest_log_sequence`),
    and a replica answers it only once it holds them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sock = None
        self._next_stream = 1
        self._lock = threading.Lock()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
            primary, self._primary = self._primary, None
        if primary is not None:
            primary[1].close()

    # ----------------------------------------------------------------- wire

    def _connect(self):
        sock = socket.socket(self._family, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._address)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self._address[0])
        except OSError as error:  # ssl.SSLError is an OSError
            sock.close()
            raise Unavailable(f"cannot connect to graphd at {self._address}: {error}") from None
        self._sock = sock
        self._next_stream = 1

    def _recv_exact(self, n, deadline):
        chunks, remaining = [], n
        while remaining:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeadlineExceeded("no answer before the deadline")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(remaining)
            except socket.timeout:
                raise DeadlineExceeded("no answer before the deadline") from None
            if not chunk:
                raise Unavailable("graphd closed the connection")
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)

    def call(self, service, method, request, response_type, timeout=None, metadata=None):
        """Sends `request` to service/method and returns a `response_type`;
        `metadata` is sent besides the client's own."""
        write, extra = self._call_metadata(service, method, metadata)
        kept = self._primary[1] if write and self._primary is not None else None
        try:
            result = (kept or self)._call_here(service, method, request, response_type, timeout, extra)
        except Unavailable:
            if kept is not None:
                self._forget_primary()  # the next write goes to this client's own graphd again
            raise
        except FailedPrecondition as error:
            address = self._primary_to_follow(write, error)
            if address is None:
                raise
            result = self._primary_client(address)._call_here(service, method, request, response_type, timeout, extra)
        return self._note_write(write, result)

    def _primary_client(self, address):
        """A client for the primary at `address`, made like this one (kept)."""
        if self._primary is not None and self._primary[0] == address:
            return self._primary[1]
        target, family = primary_target(address)
        client = GraphdClient(target, family, **self._primary_options())
        self._forget_primary()
        self._primary = (address, client)
        return client

    def _forget_primary(self):
        primary, self._primary = self._primary, None
        if primary is not None:
            primary[1].close()

    def _call_here(self, service, method, request, response_type, timeout, metadata):
        timeout = self.timeout if timeout is None else timeout
        data = encode_request(service, method, request, timeout, {**self.metadata, **metadata})
        with self._lock:
            for attempt in (0, 1):
                fresh = self._sock is None
                if fresh:
                    self._connect()
                stream = self._next_stream
                self._next_stream += 2
                try:
                    self._sock.sendall(_HEADER.pack(len(data), stream, _REQUEST, 0) + data)
                    deadline = time.monotonic() + timeout
                    while True:
                        length, got_stream, kind, _flags = _HEADER.unpack(self._recv_exact(_HEADER.size, deadline))
                        if length > MAX_MESSAGE:
                            raise ResourceExhausted(f"response frame of {length} bytes exceeds the limit")
                        body = self._recv_exact(length, deadline)
                        if kind == _RESPONSE and got_stream == stream:
                            break  # anything else is a stale answer or an unknown type: skip it
                except (Unavailable, DeadlineExceeded, OSError) as error:
                    self._sock.close()
                    self._sock = None
                    # A connection that broke while idle gets one retry; a deadline does not.
                    if attempt == 0 and not fresh and isinstance(error, (Unavailable, BrokenPipeError, ConnectionResetError)):
                        continue
                    if isinstance(error, OSError):
                        raise Unavailable(f"connection to graphd failed: {error}") from None
                    raise
                break
        return decode_response(body, response_type)

    def save_snapshot(self, path, **kw):
        """Writes a consistent copy of graphd's store to `path` (a new file,
        written aside, synced and renamed into place): a backup, or the store of
        a new replica (graphd --bootstrap). Returns the SnapshotResponse."""
        snapshot = self.snapshot(**kw)
        file = SnapshotFile(path, snapshot)
        try:
            while not file.add(self.read_snapshot(
                    graph_pb2.ReadSnapshotRequest(snapshot_id=snapshot.snapshot_id, offset=file.offset), **kw)):
                pass
            file.finish()
        except BaseException:
            file.abort()
            raise
        return snapshot


define_methods(GraphdClient)
