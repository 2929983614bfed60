#!/usr/bin/env python3
"""Drives a live graphd through graphd_client.aio; exits non-zero on the first failure.

usage: check_aio.py SOCKET_PATH      (the Swift end-to-end suite starts graphd and runs this)
"""
import asyncio
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from graphd_client import DeadlineExceeded, InvalidArgument, NotFound, graph_pb2, recommend_pb2  # noqa: E402
from graphd_client.aio import AsyncGraphdClient  # noqa: E402


def edge(user, item):
    return graph_pb2.Edge(type="interacted", source=graph_pb2.NodeRef(type="user", key=user),
                          target=graph_pb2.NodeRef(type="item", key=item))


async def expect_error(cls, awaitable):
    try:
        await awaitable
    except cls as error:
        assert error.message, f"{cls.__name__} without a message"
        return error
    raise AssertionError(f"expected {cls.__name__}")


async def main(path):
    async with AsyncGraphdClient.unix(path, timeout=10) as client:
        assert (await client.health()).status == graph_pb2.SERVING_STATUS_SERVING
        # 50 writes and 150 reads in flight at once on one connection.
        writes = [client.add_edges(graph_pb2.AddEdgesRequest(edges=[edge(f"a{n}", f"i{(n + k) % 30}") for k in range(4)]))
                  for n in range(50)]
        written = await asyncio.gather(*writes)
        assert sum(w.created for w in written) == 200, [w.created for w in written]
        reads = [client.neighbors(graph_pb2.NeighborsRequest(node=graph_pb2.NodeRef(type="user", key=f"a{n % 50}"), limit=10))
                 for n in range(150)]
        pages = await asyncio.gather(*reads)
        assert all(len(page.neighbors) == 4 for page in pages)
        assert client.connections_opened == 1, client.connections_opened
        # Answers go to their own call whatever the order: each user's own neighbours.
        assert {n.node.key for n in pages[7].neighbors} == {f"i{(7 + k) % 30}" for k in range(4)}

        # Typed errors, as the blocking client's; the connection stays usable.
        await expect_error(NotFound, client.get_node(graph_pb2.GetNodeRequest(node=graph_pb2.NodeRef(type="user", key="nobody"))))
        await expect_error(InvalidArgument, client.get_node(graph_pb2.GetNodeRequest()))
        results = await asyncio.gather(
            client.recommend(recommend_pb2.RecommendRequest(user=graph_pb2.NodeRef(type="user", key="nobody"), k=5)),
            client.stats(), return_exceptions=True)
        assert isinstance(results[0], NotFound) and results[1].edges == 200, results

        # A deadline: the call fails with DeadlineExceeded, later calls are unaffected.
        await expect_error(DeadlineExceeded, client.stats(timeout=1e-6))
        assert (await client.stats()).edges == 200

        # A broken connection: calls after it reconnect.
        client._connection.writer.transport.abort()
        await asyncio.sleep(0.05)
        assert (await client.stats()).edges == 200
        assert client.connections_opened == 2, client.connections_opened

        # A snapshot saved through the asyncio client.
        with tempfile.TemporaryDirectory() as directory:
            saved = await client.save_snapshot(os.path.join(directory, "copy.sqlite"))
            assert os.path.getsize(os.path.join(directory, "copy.sqlite")) == saved.bytes > 0
    print("all checks passed")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
