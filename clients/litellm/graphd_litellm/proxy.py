"""Ready-made instances for LiteLLM's proxy, configured by environment variables:

    router_settings:
      plugins: ["graphd_litellm.proxy.routing_plugin"]
    litellm_settings:
      callbacks: ["graphd_litellm.proxy.feedback_logger"]

GRAPHD_SOCKET            graphd's address: a socket path, unix:PATH or tcp:HOST:PORT (default /tmp/graphd.sock)
GRAPHD_TOKEN             bearer token for a TCP listener (optional)
GRAPHD_PERFORMANCE_WEIGHT, GRAPHD_COST_WEIGHT   the objective (default 0.5, 0.5)
GRAPHD_ROUTE_TIMEOUT     seconds Route may take before LiteLLM chooses instead (default 0.05)
GRAPHD_PROMPT            last_user or conversation (default last_user)
GRAPHD_TASK_METADATA_KEY request-metadata key holding the task (default graphd_task)
GRAPHD_EXPLORE_MAX_REGRET  explore within this bound (default: graphd's --explore-max-regret)
GRAPHD_EFFECT            module:function giving a success's effect from (kwargs, response) (default: 1)

The plugin finds the proxy's router by itself.
"""
import importlib
import os

from .feedback import GraphdFeedbackLogger
from .routing import GraphdRoutingPlugin


def _effect(path):
    if not path:
        return None
    module, _, function = path.partition(":")
    if not function:
        raise ValueError(f"GRAPHD_EFFECT must be module:function, got {path!r}")
    return getattr(importlib.import_module(module), function)


_socket = os.environ.get("GRAPHD_SOCKET", "/tmp/graphd.sock")
_token = os.environ.get("GRAPHD_TOKEN") or None
_prompt = os.environ.get("GRAPHD_PROMPT", "last_user")
_task_key = os.environ.get("GRAPHD_TASK_METADATA_KEY", "graphd_task")

routing_plugin = GraphdRoutingPlugin(
    _socket, performance_weight=float(os.environ.get("GRAPHD_PERFORMANCE_WEIGHT", "0.5")),
    cost_weight=float(os.environ.get("GRAPHD_COST_WEIGHT", "0.5")), task_metadata_key=_task_key,
    timeout=float(os.environ.get("GRAPHD_ROUTE_TIMEOUT", "0.05")), prompt=_prompt, token=_token,
    explore_max_regret=float(os.environ["GRAPHD_EXPLORE_MAX_REGRET"]) if os.environ.get("GRAPHD_EXPLORE_MAX_REGRET") else None)

feedback_logger = GraphdFeedbackLogger(_socket, effect=_effect(os.environ.get("GRAPHD_EFFECT")), task_metadata_key=_task_key,
                                       prompt=_prompt, token=_token)
