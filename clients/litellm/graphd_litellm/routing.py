"""GraphdRoutingPlugin: graphd's Route chooses among a LiteLLM model group's deployments."""
import asyncio
import logging
import sys
import time
import weakref

from ._common import (
    COST_WEIGHT_KEY, EXPLORE_KEY, MAX_COST_KEY, MAX_LATENCY_KEY, PERFORMANCE_WEIGHT_KEY, SIGNAL, graphd_address, llm_name, number,
    prompt_text,
)

# (after ._common, which puts graphd_client on the path when run from a checkout)
from graphd_client import GraphdError, router_pb2
from graphd_client.aio import AsyncGraphdClient

log = logging.getLogger("graphd_litellm")


class GraphdRoutingPlugin:
    """A LiteLLM routing plugin (`litellm.Router(plugins=[plugin])`, or the
    proxy's `router_settings.plugins`): for each request it sends graphd's Route
    the prompt (`prompt`: "last_user" or "conversation"), the task from request
    metadata (`task_metadata_key`; else graphd infers it), the objective
    (`performance_weight`, `cost_weight`; per request `graphd_performance_weight`,
    `graphd_cost_weight`, `graphd_max_cost`, `graphd_max_latency_ms` in metadata),
    exploration (`explore_max_regret`, per request `graphd_explore_max_regret`;
    None: graphd's default) and the group's healthy deployments as the allow-list, then narrows
    LiteLLM's candidates to graphd's choice. A retry takes the next deployment
    in graphd's fallback order. Whenever graphd cannot answer within `timeout`
    seconds (down, slow, no registered LLM among the deployments, a refused
    request), the candidates are left as they are: LiteLLM chooses, and the
    miss is counted in `stats` and logged (at most once a minute).

    The plugin needs the router whose deployments it routes (their
    `model_info`, and which are cooling down): pass it as `router`, call
    `attach(router)`, or, in LiteLLM's proxy, it is found by itself."""

    #: How long the list of LLMs registered in graphd is reused.
    REGISTERED_TTL = 30.0

    def __init__(self, socket="/tmp/graphd.sock", performance_weight=0.5, cost_weight=0.5, task_metadata_key="graphd_task",
                 timeout=0.05, prompt="last_user", explore_max_regret=None, router=None, token=None, tls=False, tls_ca=None):
        if prompt not in ("last_user", "conversation"):
            raise ValueError(f"prompt must be 'last_user' or 'conversation', got {prompt!r}")
        if performance_weight < 0 or cost_weight < 0 or performance_weight + cost_weight == 0:
            raise ValueError("performance_weight and cost_weight must be ≥ 0 and not both 0")
        if not timeout > 0:
            raise ValueError("timeout must be positive (seconds)")
        self.address, self.family = graphd_address(socket)
        self.performance_weight, self.cost_weight = float(performance_weight), float(cost_weight)
        self.task_metadata_key = task_metadata_key
        self.timeout = float(timeout)
        self.prompt = prompt
        if explore_max_regret is not None and not explore_max_regret >= 0:
            raise ValueError("explore_max_regret must be ≥ 0 (0: no exploration; None: graphd's default)")
        self.explore_max_regret = explore_max_regret
        self._client_options = dict(token=token, tls=tls, tls_ca=tls_ca)
        self._router = router
        self._clients = weakref.WeakKeyDictionary()  # one connection per event loop
        self._registered = (0.0, frozenset())
        self.stats = {"routed": 0, "rerouted": 0, "misses": 0, "timeouts": 0, "unavailable": 0, "refused": 0,
                      "unregistered": 0}
        self._last_warning = 0.0

    def attach(self, router):
        """Routes `router`'s deployments (call once the router is made with this plugin)."""
        self._router = router
        return self

    # ------------------------------------------------------------ LiteLLM hook

    async def run(self, context):
        """LiteLLM's RoutingPlugin hook: narrows `context.candidate_models`."""
        metadata = context.metadata
        try:
            deployments = await self._healthy_deployments(metadata.get("model_group"), context.candidate_models)
            if not deployments:
                return context
            previous = (metadata.get("routing_plugin_signals") or {}).get(SIGNAL)
            if previous and (metadata.get("previous_models") or metadata.get("deployment")):  # a retry
                decision = self._next_in_order(previous, metadata, deployments)
            else:
                decision = await self._route(context, metadata, deployments)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # never fail the user's call for the router
            self._missed("refused", f"graphd routing failed: {error}")
            return context
        if decision is None:
            return context
        chosen = next(d for d in deployments
                      if llm_name(d) == decision["llm"] and (d.get("model_info") or {}).get("id") not in decision["tried"])
        context.candidate_models = [chosen["litellm_params"]["model"]]
        context.signals[SIGNAL] = decision
        return context

    # ------------------------------------------------------------ internals

    def _router_now(self):
        if self._router is None:
            proxy = sys.modules.get("litellm.proxy.proxy_server")
            return getattr(proxy, "llm_router", None)
        return self._router

    async def _healthy_deployments(self, group, candidate_models):
        """The group's deployments LiteLLM may still pick: among its candidates and not cooling down."""
        router = self._router_now()
        if router is None:
            self._missed("refused", "GraphdRoutingPlugin has no router: pass router= or call attach(router)")
            return []
        try:
            deployments = router.registry().deployments(group)
        except AttributeError:  # LiteLLM before the registry
            deployments = router.get_model_list(model_name=group)
        cooling = set()
        try:
            from litellm.router_utils.cooldown_handlers import _async_get_cooldown_deployments
            cooling = set(await _async_get_cooldown_deployments(router, None))
        except Exception as error:  # a LiteLLM without this helper: all count as healthy
            log.debug("cannot read LiteLLM's cooldowns: %s", error)
        candidates = set(candidate_models)
        return [d for d in deployments or []
                if (d.get("litellm_params") or {}).get("model") in candidates
                and (d.get("model_info") or {}).get("id") not in cooling and llm_name(d)]

    def _client(self):
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = AsyncGraphdClient(self.address, self.family, timeout=self.timeout, **self._client_options)
            self._clients[loop] = client
        return client

    async def _registered_llms(self, client):
        fetched, names = self._registered
        if time.monotonic() - fetched > self.REGISTERED_TTL:
            listed = await client.list_llms(timeout=self.timeout)
            names = frozenset(llm.name for llm in listed.llms)
            self._registered = (time.monotonic(), names)
        return names

    async def _route(self, context, metadata, deployments):
        text = prompt_text(context.structured_messages or context.raw_messages, self.prompt)
        if not text:
            return None  # nothing to route on (e.g. an embedding request): LiteLLM chooses
        request = self.route_request(text, metadata)
        client = self._client()
        try:
            registered = await asyncio.wait_for(self._registered_llms(client), self.timeout)
            names = [name for name in dict.fromkeys(llm_name(d) for d in deployments) if name in registered]
            if not names:
                self._missed("unregistered", "no deployment of the group is an LLM registered in graphd "
                             "(name them by model_info.id or model_info.graphd_llm; graphctl llm add)")
                return None
            request.allowed_llms.extend(names)
            answer = await asyncio.wait_for(client.route(request, timeout=self.timeout), self.timeout)
        except asyncio.TimeoutError:
            self._missed("timeouts", f"graphd did not answer Route within {self.timeout * 1000:.0f} ms")
            return None
        except GraphdError as error:
            kind = "unavailable" if type(error).__name__ in ("Unavailable", "DeadlineExceeded") else "refused"
            self._missed(kind, f"graphd Route failed: {error}")
            return None
        self.stats["routed"] += 1
        return {"decision_id": answer.decision_id, "llm": answer.llm, "order": [answer.llm, *answer.fallback],
                "task": answer.task, "tried": []}

    def route_request(self, text, metadata):
        """The RouteRequest for a prompt and its request metadata (the allow-list is added later)."""
        request = router_pb2.RouteRequest(query=text, performance_weight=self.performance_weight, cost_weight=self.cost_weight)
        task = metadata.get(self.task_metadata_key)
        if isinstance(task, str):
            request.task = task
        performance, cost = number(metadata.get(PERFORMANCE_WEIGHT_KEY)), number(metadata.get(COST_WEIGHT_KEY))
        if performance is not None or cost is not None:
            request.performance_weight = performance if performance is not None else 0.0
            request.cost_weight = cost if cost is not None else 0.0
        if self.explore_max_regret is not None:
            request.explore_max_regret = self.explore_max_regret
        for key, field in ((MAX_COST_KEY, "max_cost"), (MAX_LATENCY_KEY, "max_latency_ms"), (EXPLORE_KEY, "explore_max_regret")):
            value = number(metadata.get(key))
            if value is not None:
                setattr(request, field, value)
        return request

    def _next_in_order(self, previous, metadata, deployments):
        """A retry: the next LLM in graphd's order with a deployment not tried yet."""
        decision = dict(previous)
        tried = list(decision.get("tried") or [])
        last = (metadata.get("model_info") or {}).get("id")
        if last and last not in tried:
            tried.append(last)
        decision["tried"] = tried
        untried = {llm_name(d) for d in deployments if (d.get("model_info") or {}).get("id") not in tried}
        for name in decision.get("order") or []:
            if name in untried:
                decision["llm"] = name
                self.stats["rerouted"] += 1
                return decision
        return None

    def _missed(self, kind, message):
        self.stats["misses"] += 1
        self.stats[kind] += 1
        now = time.monotonic()
        if now - self._last_warning >= 60:
            self._last_warning = now
            log.warning("%s; LiteLLM chooses instead (misses so far: %d)", message, self.stats["misses"])
