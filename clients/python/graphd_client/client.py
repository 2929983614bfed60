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


class GraphdClient:
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
        self._primary = None  # (address text, GraphdClient) a write was followed to
        self._sock = None
        self._next_stream = 1
        self._lock = threading.Lock()

    @classmethod
    def unix(cls, path="/tmp/graphd.sock", **kwargs):
        return cls(path, socket.AF_UNIX, **kwargs)

    @classmethod
    def tcp(cls, host="127.0.0.1", port=7419, **kwargs):
        return cls((host, port), socket.AF_INET, **kwargs)

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
        write = (service, method) in WRITES
        extra = dict(metadata or {})
        if self.read_your_writes and not write and self.highest_log_sequence > 0:
            extra.setdefault(MIN_LOG_SEQUENCE, str(self.highest_log_sequence))
        kept = self._primary[1] if write and self._primary is not None else None
        try:
            result = (kept or self)._call_here(service, method, request, response_type, timeout, extra)
        except Unavailable:
            if kept is not None:
                self._forget_primary()  # the next write goes to this client's own graphd again
            raise
        except FailedPrecondition as error:
            address = primary_address(error.message) if write and self.follow_primary else None
            if address is None:
                raise
            result = self._primary_client(address)._call_here(service, method, request, response_type, timeout, extra)
        if write and getattr(result, "log_sequence", 0) > self.highest_log_sequence:
            self.highest_log_sequence = result.log_sequence
        return result

    def _primary_client(self, address):
        """A client for the primary at `address`, made like this one (kept)."""
        if self._primary is not None and self._primary[0] == address:
            return self._primary[1]
        if address.startswith("unix:"):
            target, family = address[len("unix:"):], socket.AF_UNIX
        elif address.startswith("tcp:") and ":" in address[len("tcp:"):]:
            host, _, port = address[len("tcp:"):].rpartition(":")
            target, family = (host.strip("[]"), int(port)), socket.AF_INET6 if ":" in host else socket.AF_INET
        else:
            raise FailedPrecondition(f"the primary's address {address!r} is not unix:PATH or tcp:HOST:PORT")
        client = GraphdClient(target, family, timeout=self.timeout, metadata=self.metadata, tls=self._tls or False,
                              follow_primary=False)
        self._forget_primary()
        self._primary = (address, client)
        return client

    def _forget_primary(self):
        primary, self._primary = self._primary, None
        if primary is not None:
            primary[1].close()

    def _call_here(self, service, method, request, response_type, timeout, metadata):
        timeout = self.timeout if timeout is None else timeout
        envelope = ttrpc_pb2.Request(service=service, method=method, payload=request.SerializeToString(),
                                     timeout_nano=int(timeout * 1e9))
        for key, value in {**self.metadata, **metadata}.items():
            envelope.metadata.add(key=key, value=value)
        data = envelope.SerializeToString()
        if len(data) > MAX_MESSAGE:
            raise ResourceExhausted(f"request of {len(data)} bytes exceeds the {MAX_MESSAGE}-byte frame limit")
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

    # ------------------------------------------------------ graphd.v1.Graph

    def health(self, **kw): return self.call(GRAPH, "Health", graph_pb2.HealthRequest(), graph_pb2.HealthResponse, **kw)
    def stats(self, **kw): return self.call(GRAPH, "Stats", graph_pb2.StatsRequest(), graph_pb2.StatsResponse, **kw)
    def define_types(self, request, **kw): return self.call(GRAPH, "DefineTypes", request, graph_pb2.DefineTypesResponse, **kw)
    def list_types(self, **kw): return self.call(GRAPH, "ListTypes", graph_pb2.ListTypesRequest(), graph_pb2.ListTypesResponse, **kw)
    def add_nodes(self, request, **kw): return self.call(GRAPH, "AddNodes", request, graph_pb2.AddNodesResponse, **kw)
    def add_edges(self, request, **kw): return self.call(GRAPH, "AddEdges", request, graph_pb2.AddEdgesResponse, **kw)
    def remove_nodes(self, request, **kw): return self.call(GRAPH, "RemoveNodes", request, graph_pb2.RemoveNodesResponse, **kw)
    def remove_edges(self, request, **kw): return self.call(GRAPH, "RemoveEdges", request, graph_pb2.RemoveEdgesResponse, **kw)
    def get_node(self, request, **kw): return self.call(GRAPH, "GetNode", request, graph_pb2.GetNodeResponse, **kw)
    def neighbors(self, request, **kw): return self.call(GRAPH, "Neighbors", request, graph_pb2.NeighborsResponse, **kw)
    def list_nodes(self, request, **kw): return self.call(GRAPH, "ListNodes", request, graph_pb2.ListNodesResponse, **kw)
    def list_edges(self, request, **kw): return self.call(GRAPH, "ListEdges", request, graph_pb2.ListEdgesResponse, **kw)
    def compact(self, **kw): return self.call(GRAPH, "Compact", graph_pb2.CompactRequest(), graph_pb2.CompactResponse, **kw)
    def embed(self, request, **kw): return self.call(GRAPH, "Embed", request, graph_pb2.EmbedResponse, **kw)
    def snapshot(self, **kw): return self.call(GRAPH, "Snapshot", graph_pb2.SnapshotRequest(), graph_pb2.SnapshotResponse, **kw)
    def read_snapshot(self, request, **kw): return self.call(GRAPH, "ReadSnapshot", request, graph_pb2.ReadSnapshotResponse, **kw)

    def save_snapshot(self, path, **kw):
        """Writes a consistent copy of graphd's store to `path` (a new file,
        written aside, synced and renamed into place): a backup, or the store of
        a new replica (graphd --bootstrap). Returns the SnapshotResponse."""
        if os.path.exists(path):
            raise FileExistsError(path)
        snapshot = self.snapshot(**kw)
        partial = path + ".partial"
        try:
            with open(partial, "wb") as out:
                offset = 0
                while True:
                    chunk = self.read_snapshot(graph_pb2.ReadSnapshotRequest(snapshot_id=snapshot.snapshot_id, offset=offset), **kw)
                    out.write(chunk.data)
                    offset += len(chunk.data)
                    if chunk.eof:
                        break
                    if not chunk.data:
                        raise DataLoss(f"the snapshot ended early at byte {offset}")
                if offset != snapshot.bytes:
                    raise DataLoss(f"read {offset} bytes of a {snapshot.bytes}-byte snapshot")
                out.flush()
                os.fsync(out.fileno())
            os.rename(partial, path)
        except BaseException:
            if os.path.exists(partial):
                os.remove(partial)
            raise
        return snapshot

    # -------------------------------------------------- graphd.v1.Recommend

    def recommend(self, request, **kw):
        return self.call(RECOMMEND, "Recommend", request, recommend_pb2.RecommendResponse, **kw)

    def personalized_pagerank(self, request, **kw):
        return self.call(RECOMMEND, "PersonalizedPageRank", request, recommend_pb2.PersonalizedPageRankResponse, **kw)

    # -------------------------------------------------- graphd.v1.Router

    def route(self, request, **kw):
        return self.call(ROUTER, "Route", request, router_pb2.RouteResponse, **kw)

    def feedback(self, request, **kw):
        return self.call(ROUTER, "Feedback", request, router_pb2.FeedbackResponse, **kw)

    def add_llm(self, request, **kw):
        return self.call(ROUTER, "AddLLM", request, router_pb2.AddLLMResponse, **kw)

    def list_llms(self, **kw):
        return self.call(ROUTER, "ListLLMs", router_pb2.ListLLMsRequest(), router_pb2.ListLLMsResponse, **kw)

    def remove_llm(self, request, **kw):
        return self.call(ROUTER, "RemoveLLM", request, router_pb2.RemoveLLMResponse, **kw)

    def set_task(self, request, **kw):
        """Creates a task or sets its description and which part of a prompt identifies its queries."""
        return self.call(ROUTER, "SetTask", request, router_pb2.SetTaskResponse, **kw)

    def list_tasks(self, **kw):
        return self.call(ROUTER, "ListTasks", router_pb2.ListTasksRequest(), router_pb2.ListTasksResponse, **kw)

    def train_router(self, request, **kw):
        return self.call(ROUTER, "Train", request, router_pb2.TrainRouterResponse, **kw)

    def train_router_progress(self, **kw):
        """The running (or last) Train job's epoch and losses (during train_router: from a second client)."""
        return self.call(ROUTER, "TrainProgress", graph_pb2.TrainingProgressRequest(), graph_pb2.TrainingProgress, **kw)

    # -------------------------------------------------- graphd.v1.Conversation

    def retrieve(self, request, **kw):
        return self.call(CONVERSATION, "Retrieve", request, conversation_pb2.RetrieveResponse, **kw)

    def train_reasoner(self, request, **kw):
        return self.call(CONVERSATION, "TrainReasoner", request, conversation_pb2.TrainReasonerResponse, **kw)

    def add_conversation(self, request, **kw):
        """Stores a dialogue as a conversation node (online learning)."""
        return self.call(CONVERSATION, "AddConversation", request, conversation_pb2.AddConversationResponse, **kw)

    def train_reasoner_progress(self, **kw):
        """The running (or last) TrainReasoner job's epoch and losses."""
        return self.call(CONVERSATION, "TrainReasonerProgress", graph_pb2.TrainingProgressRequest(), graph_pb2.TrainingProgress, **kw)
