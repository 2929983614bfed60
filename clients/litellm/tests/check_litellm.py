"""Live checks of graphd_litellm against a running graphd (started by the Swift
end-to-end test PythonClientTests): LiteLLM's Router with the routing plugin
and the feedback logger over mock deployments, graphd away or slow, the
logger's bounded queue, and (with --proxy) LiteLLM's proxy serving an `auto`
model routed by graphd, called with the openai package.

    python3 check_litellm.py SOCKET SCRATCH_DIR [--proxy]
"""
import asyncio
import datetime
import os
import socket
import subprocess
import sys
import time

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")  # no network: LiteLLM's bundled price map
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "..", "python"))

import litellm  # noqa: E402
from graphd_client import GraphdClient, router_pb2  # noqa: E402
from graphd_litellm import GraphdFeedbackLogger, GraphdRoutingPlugin  # noqa: E402

litellm.suppress_debug_info = True
socket_path, scratch = sys.argv[1], sys.argv[2]
failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def deployment(name, answer, graphd_llm=None):
    info = {"id": name}
    if graphd_llm:
        info["graphd_llm"] = graphd_llm
    return {"model_name": "auto", "litellm_params": {"model": f"openai/{name}", "api_key": "none", "mock_response": answer,
                                                      "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6},
            "model_info": info}


DEPLOYMENTS = [
    deployment("flaky", "litellm.InternalServerError", graphd_llm="flaky-llm"),  # always fails
    deployment("strong", "strong answer"),
    deployment("cheap", "cheap answer"),
]
QUESTION = "What is the boiling point of water at sea level in Celsius?"
RUN = os.urandom(4).hex()  # each request's prompt is new: a newer outcome of an LLM on the same prompt replaces the older
asked = [0]


def question():
    asked[0] += 1
    return f"{QUESTION} (request {RUN}-{asked[0]})"


def outcomes():
    with GraphdClient.unix(socket_path) as client:
        return {llm.name: llm.observed_outcomes for llm in client.list_llms().llms}


def seed_graphd():
    """Three LLMs: strong (dear, always right), cheap (a bit worse), flaky-llm (cheapest)."""
    with GraphdClient.unix(socket_path) as client:
        for name, per_call in (("strong", 0.01), ("cheap", 0.0002), ("flaky-llm", 0.00001)):
            client.add_llm(router_pb2.AddLLMRequest(llm=router_pb2.LLMInfo(
                name=name, description=f"{name} model", price=router_pb2.LLMPrice(per_call=per_call))))
        for i in range(12):
            client.feedback(router_pb2.FeedbackRequest(
                query=f"What is the boiling point of liquid number {i} in Celsius?", task="science", update_steps=0,
                outcomes=[router_pb2.Outcome(llm="strong", effect=1.0, cost=0.01),
                          router_pb2.Outcome(llm="cheap", effect=0.6 if i % 2 else 0.0, cost=0.0002),
                          router_pb2.Outcome(llm="flaky-llm", effect=0.5, cost=0.00001)]))


def direct_route(**weights):
    with GraphdClient.unix(socket_path) as client:
        return client.route(router_pb2.RouteRequest(query=QUESTION, task="science", **weights))


async def ask(router, metadata=None):
    response = await router.acompletion(model="auto", messages=[{"role": "user", "content": question()}],
                                        metadata={"graphd_task": "science", **(metadata or {})})
    return response._hidden_params.get("model_id"), response.choices[0].message.content


async def routed_by_graphd():
    plugin = GraphdRoutingPlugin(socket_path, performance_weight=1.0, cost_weight=0.0, timeout=2.0)
    # allowed_fails=0: a deployment that fails cools down at once.
    router = litellm.Router(model_list=DEPLOYMENTS, plugins=[plugin], num_retries=2, retry_after=0, allowed_fails=0)
    plugin.attach(router)
    logger = GraphdFeedbackLogger(socket_path)
    litellm.callbacks = [logger]
    before = outcomes()

    # Performance only: graphd's choice is the strong deployment, every time (LiteLLM alone shuffles).
    expected = direct_route(performance_weight=1.0).llm
    check(expected == "strong", f"graphd routes the question to strong with performance weight 1 (got {expected})")
    answered = [(await ask(router))[0] for _ in range(6)]
    check(answered == ["strong"] * 6, f"LiteLLM served every request on graphd's choice: {answered}")
    check(plugin.stats["routed"] == 6 and plugin.stats["misses"] == 0, f"plugin stats {plugin.stats}")

    # Cost only, per request: graphd chooses the cheapest, flaky, which fails; LiteLLM's
    # retry goes to graphd's next choice, not a random one.
    decision = direct_route(performance_weight=0.0, cost_weight=1.0)
    check(decision.llm == "flaky-llm", f"graphd's choice by cost: {decision.llm}")
    model, content = await ask(router, {"graphd_performance_weight": 0, "graphd_cost_weight": 1})
    check(model == decision.fallback[0] and content == f"{model} answer",
          f"the failed choice was retried on graphd's first fallback {decision.fallback[0]}: {model}")
    check(plugin.stats["rerouted"] >= 1, f"the retry took graphd's order: {plugin.stats}")
    # With flaky cooling down in LiteLLM, graphd is asked among the healthy deployments only.
    rerouted = plugin.stats["rerouted"]
    model, _ = await ask(router, {"graphd_performance_weight": 0, "graphd_cost_weight": 1})
    check(model in ("cheap", "strong") and plugin.stats["rerouted"] == rerouted,
          f"flaky, cooling down, was left out of the allow-list: {model} at the first attempt")

    check(logger.flush(), "the feedback queue drained")
    after = outcomes()
    check(after["strong"] >= before["strong"] + 6, f"strong's successes fed back: {before['strong']} → {after['strong']}")
    check(after["flaky-llm"] >= before["flaky-llm"] + 1, f"flaky's failure fed back: {before['flaky-llm']} → {after['flaky-llm']}")
    check(logger.stats["failed"] == 0 and logger.stats["dropped"] == 0 and logger.stats["sent"] == logger.stats["queued"],
          f"logger stats {logger.stats}")
    litellm.callbacks = []


async def graphd_away_or_slow():
    for plugin, kind in ((GraphdRoutingPlugin(os.path.join(scratch, "nobody.sock")), "unavailable"),
                         (GraphdRoutingPlugin(socket_path, timeout=1e-6), "timeouts")):
        router = litellm.Router(model_list=DEPLOYMENTS[1:], plugins=[plugin], num_retries=0)
        plugin.attach(router)
        served = [(await ask(router))[0] for _ in range(3)]
        check(all(model in ("strong", "cheap") for model in served), f"served without graphd ({kind}): {served}")
        # (Connecting may be what runs out of time: that counts as graphd unavailable.)
        check(plugin.stats["misses"] == 3 and plugin.stats[kind] >= 1 and plugin.stats["routed"] == 0,
              f"misses counted, as {kind}: {plugin.stats}")
    # A plugin without its router leaves the choice to LiteLLM.
    orphan = GraphdRoutingPlugin(socket_path)
    router = litellm.Router(model_list=DEPLOYMENTS[1:], plugins=[orphan], num_retries=0)
    served = (await ask(router))[0]
    check(served in ("strong", "cheap") and orphan.stats["refused"] == 1, f"no router attached: served {served}, {orphan.stats}")


def bounded_queue():
    """A burst beyond the queue is dropped and counted, never blocking the caller."""
    logger = GraphdFeedbackLogger(socket_path, queue_size=1, update_steps=0,
                                  effect=lambda kwargs, response: kwargs["graphd_effect"])
    start = datetime.datetime.now()
    kwargs = {"litellm_params": {"model_info": {"id": "cheap"}, "metadata": {"graphd_task": "science"}},
              "messages": [{"role": "user", "content": "Name a noble gas."}], "response_cost": 0.0002, "graphd_effect": 0.5}
    began = time.monotonic()
    for _ in range(200):
        logger.log_success_event(kwargs, None, start, start + datetime.timedelta(milliseconds=120))
    elapsed = time.monotonic() - began
    check(logger.stats["queued"] + logger.stats["dropped"] == 200 and logger.stats["dropped"] > 0,
          f"a burst of 200 into a queue of 1: {logger.stats}")
    check(elapsed < 1.0, f"the burst never waited on graphd ({elapsed * 1000:.0f} ms)")
    check(logger.flush() and logger.stats["sent"] == logger.stats["queued"], f"what was queued was sent: {logger.stats}")
    request = logger.feedback_request(kwargs, None, start, start + datetime.timedelta(milliseconds=120), success=True)
    check(request.query == "Name a noble gas." and request.task == "science" and abs(request.outcomes[0].effect - 0.5) < 1e-9
          and abs(request.outcomes[0].latency_ms - 120) < 1e-6, "an unrouted call is fed back by its prompt, task and effect")
    failed = logger.feedback_request(kwargs, None, start, start, success=False)
    check(failed.outcomes[0].effect == 0 and not failed.outcomes[0].HasField("cost"), "a failure is effect 0")


def request_fields():
    """What the plugin puts in Route from its settings and a request's metadata."""
    plugin = GraphdRoutingPlugin(socket_path, performance_weight=0.7, cost_weight=0.3, explore_max_regret=0.05)
    plain = plugin.route_request("Which gas do plants absorb?", {"graphd_task": "science"})
    check(plain.task == "science" and plain.performance_weight == 0.7 and plain.cost_weight == 0.3
          and plain.HasField("explore_max_regret") and abs(plain.explore_max_regret - 0.05) < 1e-12, f"plugin settings: {plain}")
    per_request = plugin.route_request("Which gas?", {"graphd_cost_weight": 1, "graphd_max_cost": "0.002",
                                                      "graphd_max_latency_ms": 900, "graphd_explore_max_regret": 0})
    check(per_request.performance_weight == 0 and per_request.cost_weight == 1 and per_request.max_cost == 0.002
          and per_request.max_latency_ms == 900 and per_request.HasField("explore_max_regret") and per_request.explore_max_regret == 0
          and per_request.task == "", f"per-request metadata: {per_request}")
    default = GraphdRoutingPlugin(socket_path).route_request("Which gas?", {"graphd_task": 7})
    check(not default.HasField("explore_max_regret") and default.task == "", "graphd's exploration default; a non-text task is ignored")


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def proxy():
    """LiteLLM's proxy (tests/proxy-config.yaml, examples/config.yaml with mock deployments): an OpenAI-compatible `auto` model routed by graphd."""
    import openai
    import urllib.request
    port, key = free_port(), "sk-graphd-check-" + os.urandom(8).hex()
    environment = dict(os.environ, GRAPHD_SOCKET=socket_path, GRAPHD_PERFORMANCE_WEIGHT="1", GRAPHD_COST_WEIGHT="0",
                       GRAPHD_ROUTE_TIMEOUT="2", LITELLM_MASTER_KEY=key,
                       PYTHONPATH=os.pathsep.join([os.path.join(HERE, ".."), os.path.join(HERE, "..", "..", "python")]))
    log_path = os.path.join(scratch, "proxy.log")
    with open(log_path, "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "litellm.proxy.proxy_cli", "--config",
                                   os.path.join(HERE, "proxy-config.yaml"), "--host", "127.0.0.1", "--port", str(port)],
                                  env=environment, stdout=log, stderr=subprocess.STDOUT, cwd=scratch)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and server.poll() is None:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health/liveliness", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        check(server.poll() is None, "the proxy started")
        before = outcomes()
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key)
        answers = [client.chat.completions.create(model="auto", messages=[{"role": "user", "content": question()}],
                                                  extra_body={"metadata": {"graphd_task": "science"}}).choices[0].message.content
                   for _ in range(4)]
        check(answers == ["strong answer"] * 4, f"the proxy's auto model answered on graphd's choice: {answers}")
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and outcomes()["strong"] < before["strong"] + 4:
            time.sleep(0.2)
        check(outcomes()["strong"] >= before["strong"] + 4, "the proxy's logger fed the outcomes back")
    finally:
        server.terminate()
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    if failures:
        print(open(log_path).read()[-4000:])


seed_graphd()
request_fields()
asyncio.run(routed_by_graphd())
asyncio.run(graphd_away_or_slow())
bounded_queue()
if "--proxy" in sys.argv:
    proxy()
if failures:
    print(f"{len(failures)} litellm checks failed")
    sys.exit(1)
print("all litellm checks passed")
