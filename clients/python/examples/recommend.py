#!/usr/bin/env python3
"""Ask graphd for a user's top items, with explanations.

usage: recommend.py [SOCKET] USER_KEY
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from graphd_client import GraphdClient, NotFound, graph_pb2, recommend_pb2  # noqa: E402

socket_path = sys.argv[1] if len(sys.argv) > 2 else os.environ.get("GRAPHD_SOCKET", "/tmp/graphd.sock")
user = sys.argv[-1]
with GraphdClient.unix(socket_path, timeout=2.0) as client:
    try:
        response = client.recommend(recommend_pb2.RecommendRequest(
            user=graph_pb2.NodeRef(type="user", key=user), k=10, explain=True))
    except NotFound as error:
        sys.exit(f"no such user: {error.message}")
    for rank, item in enumerate(response.items, 1):
        because = ", ".join(f"{c.node.key} {c.share:.0%}" for c in item.because)
        print(f"{rank:2}. {item.item.key}  {item.score:.4g}  because: {because}")
