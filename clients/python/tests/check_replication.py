#!/usr/bin/env python3
"""Drives a replicated graphd (a primary and a replica) through graphd_client;
exits non-zero on the first failure.

usage: check_replication.py PRIMARY_SOCKET REPLICA_SOCKET OUT_DIR
(the Swift end-to-end suite starts NATS and both graphds, and runs this)
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from graphd_client import FailedPrecondition, GraphdClient, graph_pb2  # noqa: E402


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
    print("all replication checks passed")


if __name__ == "__main__":
    main(*sys.argv[1:4])
