#!/usr/bin/env python3
"""Drives a live graphd through graphd_client; exits non-zero on the first failure.

usage: check_live.py SOCKET_PATH      (the Swift end-to-end suite starts graphd and runs this)
"""
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from graphd_client import (  # noqa: E402
    FailedPrecondition, GraphdClient, InvalidArgument, NotFound, Unavailable, Unimplemented, columnar, conversation_pb2,
    graph_pb2, recommend_pb2, router_pb2,
)


def edge(user, item):
    return graph_pb2.Edge(type="interacted", source=graph_pb2.NodeRef(type="user", key=user),
                          target=graph_pb2.NodeRef(type="item", key=item))


def expect_error(cls, fn):
    try:
        fn()
    except cls as error:
        assert error.message, f"{cls.__name__} without a message"
        return error
    raise AssertionError(f"expected {cls.__name__}")


def main(path):
    with GraphdClient.unix(path, timeout=10, metadata={"request-id": "python-check"}) as client:
        assert client.health().status == graph_pb2.SERVING_STATUS_SERVING
        request = graph_pb2.AddEdgesRequest(edges=[edge(f"u{u}", f"i{(u * 3 + k) % 40}") for u in range(20) for k in range(5)])
        assert client.add_edges(request).created == 100
        stats = client.stats()
        assert stats.edges == 100 and stats.nodes_by_type["user"] == 20, stats
        # The columnar form: 30 edges in two blocks (the last ten with a rating), ten of them upserts.
        rows = [edge(f"u{u}", f"i{(u * 3) % 40}") for u in range(10)]  # already there
        rows += [edge(f"b{u}", f"i{u}") for u in range(10)]
        for u in range(10):
            rated = edge(f"b{u}", f"j{u}")
            rated.attributes["rating"] = 4.0
            rows.append(rated)
        blocks = columnar(rows)
        assert [len(b.source_keys) for b in blocks.blocks] == [20, 10] and not blocks.edges, blocks
        written = client.add_edges(blocks)
        assert (written.created, written.updated, written.nodes_created) == (20, 10, 20), written
        rated = client.neighbors(graph_pb2.NeighborsRequest(node=graph_pb2.NodeRef(type="user", key="b3"), limit=10))
        assert sorted((n.node.key, dict(n.attributes).get("rating")) for n in rated.neighbors) == [("i3", None), ("j3", 4.0)], rated
        bad = columnar(rows)
        del bad.blocks[0].target_keys[-1]
        expect_error(InvalidArgument, lambda: client.add_edges(bad))
        assert client.stats().edges == 120
        page = client.neighbors(graph_pb2.NeighborsRequest(node=graph_pb2.NodeRef(type="user", key="u1"), limit=10))
        assert len(page.neighbors) == 5
        recs = client.recommend(recommend_pb2.RecommendRequest(user=graph_pb2.NodeRef(type="user", key="u1"), k=5, explain=True))
        own = {n.node.key for n in page.neighbors}
        assert recs.items and not own & {i.item.key for i in recs.items}
        ppr = client.personalized_pagerank(recommend_pb2.PersonalizedPageRankRequest(
            seeds=[recommend_pb2.Seed(node=graph_pb2.NodeRef(type="user", key="u1"))], top_k_by_type={"item": 3}))
        assert len(ppr.top["item"].nodes) == 3
        vectors = client.embed(graph_pb2.EmbedRequest(texts=["hello", "world"]))
        assert vectors.dimension == 384 and len(vectors.vectors) == 2
        # Routing: no LLMs yet, then two with prices; a cost-first request takes the cheap one.
        expect_error(FailedPrecondition, lambda: client.route(router_pb2.RouteRequest(query="hi", performance_weight=1)))
        for name, price in (("small", 0.0001), ("large", 0.01)):
            client.add_llm(router_pb2.AddLLMRequest(llm=router_pb2.LLMInfo(
                name=name, description=f"a {name} model", price=router_pb2.LLMPrice(per_call=price))))
        assert {llm.name for llm in client.list_llms().llms} == {"small", "large"}
        choice = client.route(router_pb2.RouteRequest(query="What is 2+2?", performance_weight=0.2, cost_weight=0.8))
        assert choice.llm == "small" and len(choice.ranked) == 2, choice
        written = client.feedback(router_pb2.FeedbackRequest(query="What is 2+2?", task="math", outcomes=[
            router_pb2.Outcome(llm="small", effect=1.0, cost=0.0001)]))
        assert written.edges_written == 2, written
        # Tasks: few-shot prompts are matched on their last block once the task says so.
        created = client.set_task(router_pb2.SetTaskRequest(task=router_pb2.TaskInfo(
            name="quiz", query_text=router_pb2.QUERY_TEXT_LAST_BLOCK)))
        assert created.created and created.task.query_text == router_pb2.QUERY_TEXT_LAST_BLOCK, created
        tasks = {t.name: t for t in client.list_tasks().tasks}
        assert tasks["math"].queries == 1 and tasks["math"].query_text == router_pb2.QUERY_TEXT_FULL, tasks
        routed = client.route(router_pb2.RouteRequest(query="Q: 1+1?\nA: 2\n\nQ: 2+3?", task="quiz", performance_weight=1))
        assert routed.query_text == router_pb2.QUERY_TEXT_LAST_BLOCK, routed
        expect_error(InvalidArgument, lambda: client.route(router_pb2.RouteRequest(query="x", performance_weight=-1)))
        # One query's outcomes are too few to train on: refused, and the progress says why.
        expect_error(FailedPrecondition, lambda: client.train_router(router_pb2.TrainRouterRequest()))
        progress = client.train_router_progress()
        assert not progress.running and "at least 4 queries" in progress.outcome, progress
        assert not client.train_reasoner_progress().running
        # Conversational retrieval: no conversation graph here, so popular items (none) and a prompt;
        # an empty dialogue and an unknown entity key are refused.
        answer = client.retrieve(conversation_pb2.RetrieveRequest(
            turns=[conversation_pb2.DialogueTurn(role="SEEKER", text="Any good thrillers?")], k=5))
        assert "SEEKER: Any good thrillers?" in answer.prompt.text, answer.prompt.text
        assert all(c.item.type == "item" for c in answer.candidates)
        expect_error(InvalidArgument, lambda: client.retrieve(conversation_pb2.RetrieveRequest()))
        expect_error(InvalidArgument, lambda: client.retrieve(conversation_pb2.RetrieveRequest(
            turns=[conversation_pb2.DialogueTurn(text="hi", entity_keys=["nope"])])))
        # Storing a dialogue needs the conversation node and edge types.
        expect_error(FailedPrecondition, lambda: client.add_conversation(conversation_pb2.AddConversationRequest(
            key="s1", turns=[conversation_pb2.DialogueTurn(role="SEEKER", text="Any good thrillers?")])))
        # Typed errors, and the connection keeps working after each.
        expect_error(NotFound, lambda: client.get_node(graph_pb2.GetNodeRequest(node=graph_pb2.NodeRef(type="user", key="ghost"))))
        expect_error(InvalidArgument, lambda: client.recommend(recommend_pb2.RecommendRequest(
            user=graph_pb2.NodeRef(type="user", key="u1"), k=0)))
        expect_error(Unimplemented, lambda: client.call("graphd.v1.Graph", "Nope", graph_pb2.HealthRequest(), graph_pb2.HealthResponse))
        # One connection shared by threads.
        failures = []

        def worker():
            try:
                for _ in range(50):
                    client.stats()
            except Exception as error:  # noqa: BLE001
                failures.append(error)
        threads = [threading.Thread(target=worker) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures, failures
    expect_error(Unavailable, lambda: GraphdClient.unix(path + ".missing").health())
    print("python client: all checks passed")


if __name__ == "__main__":
    main(sys.argv[1])
