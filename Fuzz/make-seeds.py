#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus (Fuzz/corpus/<target>/): valid ttrpc frames of
every graphd method, alone and in short sequences, plus a few malformed frames.
Uses the Python client's generated modules. Rerun after changing Proto/.

usage: Fuzz/make-seeds.py
"""
import os
import re
import struct
import sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(root, "clients", "python", "graphd_client", "_gen"))
from google.rpc import status_pb2  # noqa: E402,F401
from graphd.v1 import conversation_pb2 as cv, graph_pb2 as g, recommend_pb2 as r, router_pb2 as rt  # noqa: E402
from ttrpc import ttrpc_pb2  # noqa: E402

GRAPH, RECOMMEND, ROUTER, CONVERSATION = "graphd.v1.Graph", "graphd.v1.Recommend", "graphd.v1.Router", "graphd.v1.Conversation"


def frame(service, method, message, stream=1, timeout=0):
    body = ttrpc_pb2.Request(service=service, method=method, payload=message.SerializeToString(),
                             timeout_nano=timeout).SerializeToString()
    return struct.pack(">IIBB", len(body), stream, 1, 0) + body


def ref(t, k):
    return g.NodeRef(type=t, key=k)


def edge(t, s, d, **attrs):
    return g.Edge(type=t, source=s, target=d, weight=1.5, attributes=attrs)


requests = {
    "health": [(GRAPH, "Health", g.HealthRequest())],
    "stats": [(GRAPH, "Stats", g.StatsRequest())],
    "types": [(GRAPH, "DefineTypes", g.DefineTypesRequest(
        node_types=[g.NodeTypeSpec(name="movie", feature_dimension=3)],
        edge_types=[g.EdgeTypeSpec(name="likes", directed=True, source_type="user", target_type="movie")])),
        (GRAPH, "ListTypes", g.ListTypesRequest())],
    "nodes": [(GRAPH, "AddNodes", g.AddNodesRequest(nodes=[
        g.Node(type="user", key="alice", text="Alice likes films"),
        g.Node(type="item", key="i1", features=[0.5, -1.0, 2.0])])),
        (GRAPH, "GetNode", g.GetNodeRequest(node=ref("user", "alice"))),
        (GRAPH, "ListNodes", g.ListNodesRequest(limit=10))],
    "edges": [(GRAPH, "AddEdges", g.AddEdgesRequest(edges=[
        edge("interacted", ref("user", "u1"), ref("item", "i1"), rating=4.0),
        edge("interacted", ref("user", "u1"), ref("item", "i2")),
        edge("interacted", ref("user", "u2"), ref("item", "i2"))])),
        (GRAPH, "Neighbors", g.NeighborsRequest(node=ref("user", "u1"), limit=5)),
        (GRAPH, "ListEdges", g.ListEdgesRequest(limit=5)),
        (GRAPH, "RemoveEdges", g.RemoveEdgesRequest(edges=[g.EdgeRef(type="interacted", source=ref("user", "u1"), target=ref("item", "i1"))])),
        (GRAPH, "RemoveNodes", g.RemoveNodesRequest(nodes=[ref("item", "i2")]))],
    "blocks": [(GRAPH, "AddEdges", g.AddEdgesRequest(edges=[
        edge("interacted", ref("user", "u1"), ref("item", "i1"))], blocks=[
        g.EdgeBlock(type="interacted", source_type="user", target_type="item",
                    source_keys=["u1", "u2", "u2"], target_keys=["i2", "i1", "i1"], weights=[1.0, 2.0, 3.0],
                    timestamps_ms=[0, 5, 6], attributes=[g.AttributeColumn(name="rating", values=[1.0, 2.0, 3.0])]),
        g.EdgeBlock(type="interacted", source_type="item", target_type="user", source_keys=["i3"], target_keys=["u3"])])),
        (GRAPH, "Neighbors", g.NeighborsRequest(node=ref("user", "u2"), limit=5))],
    "listing": [(GRAPH, "AddEdges", g.AddEdgesRequest(edges=[
        edge("interacted", ref("user", "u1"), ref("item", "i1")), edge("interacted", ref("user", "u2"), ref("item", "i1"))])),
        (GRAPH, "ListEdges", g.ListEdgesRequest(limit=1)),
        (GRAPH, "ListNodes", g.ListNodesRequest(limit=1, snapshot_id=7)),
        (GRAPH, "ListEdges", g.ListEdgesRequest(limit=1, page_token="s7.0:1")),
        (GRAPH, "ListNodes", g.ListNodesRequest(limit=2, page_token="n1.x"))],
    "embed": [(GRAPH, "Embed", g.EmbedRequest(texts=["hello world", ""]))],
    "conversation": [(GRAPH, "DefineTypes", g.DefineTypesRequest(
        node_types=[g.NodeTypeSpec(name="alias")],
        edge_types=[g.EdgeTypeSpec(name="kg_director", directed=False),
                    g.EdgeTypeSpec(name="mentions", directed=False, source_type="conversation"),
                    g.EdgeTypeSpec(name="recommended", directed=True, source_type="conversation", target_type="item")])),
        (GRAPH, "AddNodes", g.AddNodesRequest(nodes=[
            g.Node(type="item", key="0", text="Knives Out (film)"), g.Node(type="item", key="1", text="Looper (film)"),
            g.Node(type="entity", key="2", text="Rian Johnson"), g.Node(type="conversation", key="c0", text="SEEKER: hi")])),
        (GRAPH, "AddEdges", g.AddEdgesRequest(edges=[
            g.Edge(type="kg_director", source=ref("item", "0"), target=ref("entity", "2")),
            g.Edge(type="kg_director", source=ref("item", "1"), target=ref("entity", "2")),
            g.Edge(type="mentions", source=ref("conversation", "c0"), target=ref("entity", "2")),
            g.Edge(type="mentions", source=ref("conversation", "c0"), target=ref("item", "1")),
            g.Edge(type="recommended", source=ref("conversation", "c0"), target=ref("item", "0"))])),
        (CONVERSATION, "Retrieve", cv.RetrieveRequest(turns=[
            cv.DialogueTurn(role="RECOMMENDER", text="What do you like?"),
            cv.DialogueTurn(role="SEEKER", text="Anything by Rian Johnson, like Looper", entity_keys=["2"])], k=2, n=1)),
        (CONVERSATION, "TrainReasoner", cv.TrainReasonerRequest(max_epochs=3, dimension=4)),
        (CONVERSATION, "Retrieve", cv.RetrieveRequest(turns=[cv.DialogueTurn(text="Looper")], k=1, use_reasoner=True)),
        (CONVERSATION, "Retrieve", cv.RetrieveRequest(turns=[cv.DialogueTurn(text="hi, something like that")], k=2,
                                                      text_seeds=3, text_seed_share=0.5)),
        (CONVERSATION, "TrainReasonerProgress", g.TrainingProgressRequest()),
        (CONVERSATION, "AddConversation", cv.AddConversationRequest(key="live", turns=[
            cv.DialogueTurn(role="SEEKER", text="I liked Looper"),
            cv.DialogueTurn(role="RECOMMENDER", text="Then Knives Out", entity_keys=["0"])], recommended_item_keys=["1"]))],
    "recommend": [(GRAPH, "AddEdges", g.AddEdgesRequest(edges=[
        edge("interacted", ref("user", f"u{u}"), ref("item", f"i{(u * 3 + j) % 7}")) for u in range(5) for j in range(3)])),
        (RECOMMEND, "Recommend", r.RecommendRequest(user=ref("user", "u1"), k=3, explain=True)),
        (RECOMMEND, "PersonalizedPageRank", r.PersonalizedPageRankRequest(
            seeds=[r.Seed(node=ref("user", "u1"), weight=1.0)], top_k_by_type={"item": 3}))],
    "router": [(ROUTER, "AddLLM", rt.AddLLMRequest(llm=rt.LLMInfo(name="m1", description="a model",
                                                                     price=rt.LLMPrice(per_call=0.001)))),
               (ROUTER, "Feedback", rt.FeedbackRequest(query="what is 2+2", task="math", outcomes=[
                   rt.Outcome(llm="m1", effect=1.0, cost=0.001)])),
               (ROUTER, "Route", rt.RouteRequest(query="what is 3+3", performance_weight=0.5, cost_weight=0.5)),
               (ROUTER, "Route", rt.RouteRequest(query="what is 4+4", performance_weight=1, max_latency_ms=250)),
               (ROUTER, "ListLLMs", rt.ListLLMsRequest()),
               (ROUTER, "Train", rt.TrainRouterRequest(max_epochs=3)),
               (ROUTER, "TrainProgress", g.TrainingProgressRequest())],
}


def write(directory, name, data):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, name), "wb") as f:
        f.write(data)


dispatch = os.path.join(root, "Fuzz", "corpus", "FuzzDispatch")
frames = os.path.join(root, "Fuzz", "corpus", "FuzzFrames")
# Per-call seeds are numbered: drop the ones written before, so a renumbered
# call leaves no stale file (hand-kept seeds such as regression-*.bin stay).
generated = re.compile(r"^(%s)-\d+-\w+\.bin$" % "|".join(map(re.escape, requests)))
if os.path.isdir(dispatch):
    for name in os.listdir(dispatch):
        if generated.match(name):
            os.remove(os.path.join(dispatch, name))
for name, calls in requests.items():
    blob = b"".join(frame(s, m, msg, stream=2 * i + 1) for i, (s, m, msg) in enumerate(calls))
    write(dispatch, f"{name}.bin", blob)
    for i, (s, m, msg) in enumerate(calls):
        write(dispatch, f"{name}-{i}-{m}.bin", frame(s, m, msg))
write(dispatch, "unknown-method.bin", frame(GRAPH, "Nope", g.HealthRequest()))
write(dispatch, "deadline.bin", frame(GRAPH, "Stats", g.StatsRequest(), timeout=1))
health = frame(GRAPH, "Health", g.HealthRequest())
# The frame fuzzer splits its input at the first byte: lead with one.
write(frames, "one.bin", b"\x05" + health)
write(frames, "two.bin", b"\x20" + health + frame(GRAPH, "Stats", g.StatsRequest(), stream=3))
write(frames, "oversized.bin", b"\x03" + struct.pack(">IIBB", 1 << 20, 1, 1, 0) + b"x" * 32 + health)
write(frames, "truncated.bin", b"\x07" + health[:-3])
write(frames, "response-type.bin", b"\x02" + struct.pack(">IIBB", 4, 2, 2, 0) + b"abcd")
print(f"seeds: {len(os.listdir(dispatch))} dispatch, {len(os.listdir(frames))} frames")
