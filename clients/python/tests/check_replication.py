#!/usr/bin/env python3
"""Drives a replicated graphd (a primary and a replica) through graphd_client;
exits non-zero on the first failure.

usage: check_replication.py PRIMARY_SOCKET REPLICA_SOCKET OUT_DIR
(the Swift end-to-end suite starts NATS and both graphds, and runs this)
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from graphd_client import FailedPrecondition, GraphdClient, graph_pb2  # noqa: E402
from graphd_client.aio import AsyncGraphdClient  # noqa: E402


def edge(user, item):
    return graph_pb2.Edge(type="interacted", source=graph_pb2.NodeRef(type="user", key=user),
                          target=graph_pb2.NodeRef(type="item", key=item))


def main(primary_path, replica_path, out_dir):
    # Without following, a replica's refusal names the primary.
    with GraphdClient.unix(replica_path, timeout=10, follow_primary=False) as strict:
        try:
            strict.add_edges(graph_pb2.AddEdgesRequest(edges=[edge("py-a", "py-x")]))
            raise AssertionError("a replica took a write")
        except FailedPrecondition as error:
            assert error.message.endswith("send writes to the primary at unix:" + primary_path), error.message
        assert strict.stats().role == "replica"

    # Following it (the default) with read-your-writes: the write lands on the
    # primary, and the replica answers reads only once it holds it.
    with GraphdClient.unix(replica_path, timeout=10, read_your_writes=True) as session:
        for i in range(20):
            reply = session.add_edges(graph_pb2.AddEdgesRequest(edges=[edge(f"py-u{i}", f"py-i{i}")]))
            assert reply.created == 1 and reply.log_sequence > 0, reply
            assert session.highest_log_sequence == reply.log_sequence
            seen = session.neighbors(graph_pb2.NeighborsRequest(node=graph_pb2.NodeRef(type="user", key=f"py-u{i}")))
            assert [n.node.key for n in seen.neighbors] == [f"py-i{i}"], seen
        stats = session.stats()
        assert stats.role == "replica" and stats.applied_log_sequence >= session.highest_log_sequence, stats

    # A snapshot of the replica holds what it applied.
    with GraphdClient.unix(replica_path, timeout=30) as client:
        path = os.path.join(out_dir, "py-snapshot.sqlite")
        saved = client.save_snapshot(path)
        assert saved.applied_log_sequence >= 20 and os.path.getsize(path) == saved.bytes, saved
    asyncio.run(check_asyncio(primary_path, replica_path))
    print("all replication checks passed")


async def check_asyncio(primary_path, replica_path):
    """The asyncio client does the same: concurrent writes through a replica
    follow it to the primary once, and its reads see them."""
    async with AsyncGraphdClient.unix(replica_path, timeout=10, read_your_writes=True) as session:
        replies = await asyncio.gather(*[session.add_edges(graph_pb2.AddEdgesRequest(edges=[edge(f"aio-u{i}", f"aio-i{i}")]))
                                         for i in range(10)])
        assert all(r.created == 1 and r.log_sequence > 0 for r in replies), replies
        assert session.highest_log_sequence == max(r.log_sequence for r in replies)
        assert session._primary is not None and session._primary[0] == "unix:" + primary_path
        seen = await asyncio.gather(*[session.neighbors(graph_pb2.NeighborsRequest(node=graph_pb2.NodeRef(type="user", key=f"aio-u{i}")))
                                      for i in range(10)])
        assert [[n.node.key for n in page.neighbors] for page in seen] == [[f"aio-i{i}"] for i in range(10)], seen
    async with AsyncGraphdClient.unix(replica_path, timeout=10, follow_primary=False) as strict:
        try:
            await strict.add_edges(graph_pb2.AddEdgesRequest(edges=[edge("aio-a", "aio-x")]))
            raise AssertionError("a replica took a write")
        except FailedPrecondition as error:
            assert error.message.endswith("send writes to the primary at unix:" + primary_path), error.message


if __name__ == "__main__":
    main(*sys.argv[1:4])
