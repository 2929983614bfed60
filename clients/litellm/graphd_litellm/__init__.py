"""graphd inside LiteLLM.

    import litellm
    from graphd_litellm import GraphdRoutingPlugin, GraphdFeedbackLogger

    plugin = GraphdRoutingPlugin("/run/graphd.sock", performance_weight=0.7, cost_weight=0.3)
    router = litellm.Router(model_list=deployments, plugins=[plugin])
    plugin.attach(router)                      # deployments, their graphd names, cooldowns
    litellm.callbacks = [GraphdFeedbackLogger("/run/graphd.sock")]

A deployment is the graphd LLM its `model_info.id` names, unless
`model_info.graphd_llm` names another. For each request to a model group, the
plugin asks graphd's Route which of the group's healthy deployments should
answer and narrows LiteLLM's choice to it; LiteLLM's retries take graphd's
fallback order. graphd away, or slower than `timeout`: LiteLLM chooses as it
would without the plugin, and the miss is counted (`plugin.stats`) and logged.
The logger sends each attempt's outcome back (Feedback by the decision's id)
through a bounded queue, off the response path. In LiteLLM's proxy, see
`graphd_litellm.proxy` and examples/config.yaml.
"""
from .feedback import GraphdFeedbackLogger
from .routing import GraphdRoutingPlugin

__all__ = ["GraphdFeedbackLogger", "GraphdRoutingPlugin"]
