"""The asyncio client: many calls in flight on one connection.

    import asyncio
    from graphd_client.aio import AsyncGraphdClient

    async def main():
        async with AsyncGraphdClient.unix("/tmp/graphd.sock") as client:
            stats, health = await asyncio.gather(client.stats(), client.health())

Each call has its own ttrpc stream id, so calls made concurrently are sent at
once and answered in any order (graphd serves a connection's streams in
parallel). Methods, errors and options are the blocking GraphdClient's.
"""
import asyncio
import socket

from google.rpc import status_pb2  # noqa: F401  (registers google.rpc.Status for ttrpc_pb2)
from graphd.v1 import graph_pb2

from .client import (
    _HEADER, _REQUEST, _RESPONSE, MAX_MESSAGE, ClientSession, SnapshotFile, decode_response, define_methods,
    encode_request, primary_target,
)
from .errors import DeadlineExceeded, FailedPrecondition, ResourceExhausted, Unavailable

_MAX_STREAM = (1 << 31) - 1


class _Connection:
    """One socket to graphd and the calls waiting on it, by stream id. A reader
    task hands each response to its call; when the socket ends, every call
    still waiting fails with Unavailable."""

    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.waiting = {}
        self.next_stream = 1
        self.closed = False
        self.task = asyncio.get_running_loop().create_task(self._read())

    async def _read(self):
        error = Unavailable("graphd closed the connection")
        try:
            while True:
                header = await self.reader.readexactly(_HEADER.size)
                length, stream, kind, _flags = _HEADER.unpack(header)
                if length > MAX_MESSAGE:
                    error = ResourceExhausted(f"response frame of {length} bytes exceeds the limit")
                    break
                body = await self.reader.readexactly(length)
                waiter = self.waiting.pop(stream, None) if kind == _RESPONSE else None
                if waiter is not None and not waiter.done():
                    waiter.set_result(body)  # anything else is a stale answer or an unknown type: skip it
        except (asyncio.IncompleteReadError, OSError) as failure:
            if not isinstance(failure, asyncio.IncompleteReadError):
                error = Unavailable(f"connection to graphd failed: {failure}")
        except asyncio.CancelledError:
            error = Unavailable("the connection was closed")
        finally:
            self._end(error)

    def _end(self, error):
        self.closed = True
        waiting, self.waiting = self.waiting, {}
        for waiter in waiting.values():
            if not waiter.done():
                waiter.set_exception(error)
        self.writer.close()

    def send(self, data):
        """Sends one request; returns the future its response body resolves."""
        if self.next_stream > _MAX_STREAM:
            raise Unavailable("stream ids ran out on this connection")  # the caller reconnects
        stream = self.next_stream
        self.next_stream += 2
        waiter = asyncio.get_running_loop().create_future()
        self.waiting[stream] = waiter
        self.writer.write(_HEADER.pack(len(data), stream, _REQUEST, 0) + data)
        return stream, waiter

    async def close(self):
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass
        self._end(Unavailable("the connection was closed"))


class AsyncGraphdClient(ClientSession):
    """One connection to graphd shared by every call of this client, opened on
    the first call and opened again on the next call after it broke (a call in
    flight when it breaks fails with Unavailable: it may have run). `timeout`
    (seconds) is the default deadline, sent to graphd as timeout_nano and
    enforced here. `token`, `tls`, `tls_ca`, `follow_primary` and
    `read_your_writes` are the blocking GraphdClient's."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.connections_opened = 0
        self._connection = None
        self._connecting = None
        self._primary_lock = asyncio.Lock()  # concurrent refused writes make one primary client

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()

    async def close(self):
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()
        await self._forget_primary()

    # ----------------------------------------------------------------- wire

    async def _connected(self):
        """The open connection, opening one if there is none (one at a time)."""
        if self._connection is not None and not self._connection.closed:
            return self._connection
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
            # A caller that gave up waiting leaves its failure unread: read it here.
            self._connecting.add_done_callback(lambda opening: opening.cancelled() or opening.exception())
        try:
            return await asyncio.shield(self._connecting)
        finally:
            if self._connecting is not None and self._connecting.done():
                self._connecting = None

    async def _open(self):
        try:
            if self._family == socket.AF_UNIX:
                reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(self._address), self.timeout)
            else:
                host, port = self._address
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port, ssl=self._tls, server_hostname=host if self._tls else None), self.timeout)
        except (OSError, asyncio.TimeoutError) as error:
            raise Unavailable(f"cannot connect to graphd at {self._address}: {error}") from None
        self._connection = _Connection(reader, writer)
        self.connections_opened += 1
        return self._connection

    async def call(self, service, method, request, response_type, timeout=None, metadata=None):
        """Sends `request` to service/method and returns a `response_type`;
        `metadata` is sent besides the client's own."""
        write, extra = self._call_metadata(service, method, metadata)
        kept = self._primary[1] if write and self._primary is not None else None
        try:
            result = await (kept or self)._call_here(service, method, request, response_type, timeout, extra)
        except Unavailable:
            if kept is not None:
                await self._forget_primary()  # the next write goes to this client's own graphd again
            raise
        except FailedPrecondition as error:
            address = self._primary_to_follow(write, error)
            if address is None:
                raise
            primary = await self._primary_client(address)
            result = await primary._call_here(service, method, request, response_type, timeout, extra)
        return self._note_write(write, result)

    async def _call_here(self, service, method, request, response_type, timeout, metadata):
        timeout = self.timeout if timeout is None else timeout
        data = encode_request(service, method, request, timeout, {**self.metadata, **metadata})
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for attempt in (0, 1):
            connection = await self._connected()
            fresh = connection.next_stream == 1
            try:
                stream, waiter = connection.send(data)
                await connection.writer.drain()
            except (OSError, Unavailable) as error:
                connection._end(Unavailable(f"connection to graphd failed: {error}"))
                # A connection that broke while idle gets one retry on a new one.
                if attempt == 0 and not fresh:
                    continue
                raise Unavailable(f"connection to graphd failed: {error}") from None
            try:
                body = await asyncio.wait_for(waiter, max(0.0, deadline - loop.time()))
            except asyncio.TimeoutError:
                connection.waiting.pop(stream, None)
                raise DeadlineExceeded("no answer before the deadline") from None
            return decode_response(body, response_type)

    async def _primary_client(self, address):
        """A client for the primary at `address`, made like this one (kept)."""
        async with self._primary_lock:
            if self._primary is not None and self._primary[0] == address:
                return self._primary[1]
            target, family = primary_target(address)
            client = AsyncGraphdClient(target, family, **self._primary_options())
            await self._forget_primary()
            self._primary = (address, client)
            return client

    async def _forget_primary(self):
        primary, self._primary = self._primary, None
        if primary is not None:
            await primary[1].close()

    async def save_snapshot(self, path, **kw):
        """Writes a consistent copy of graphd's store to `path` (see GraphdClient.save_snapshot)."""
        snapshot = await self.snapshot(**kw)
        file = SnapshotFile(path, snapshot)
        try:
            while not file.add(await self.read_snapshot(
                    graph_pb2.ReadSnapshotRequest(snapshot_id=snapshot.snapshot_id, offset=file.offset), **kw)):
                pass
            file.finish()
        except BaseException:
            file.abort()
            raise
        return snapshot


define_methods(AsyncGraphdClient, asynchronous=True)

__all__ = ["AsyncGraphdClient"]
