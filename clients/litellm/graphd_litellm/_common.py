"""What the plugin and the logger share: reaching graphd, naming deployments, reading prompts."""
import os
import socket
import sys

_PYTHON_CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python")
try:
    import graphd_client  # noqa: F401
except ImportError:  # run from a checkout: the client sits beside this package
    sys.path.insert(0, os.path.normpath(_PYTHON_CLIENT))
    import graphd_client  # noqa: F401

#: The request-metadata keys read besides the task's (per-request objective and limits).
PERFORMANCE_WEIGHT_KEY = "graphd_performance_weight"
COST_WEIGHT_KEY = "graphd_cost_weight"
MAX_COST_KEY = "graphd_max_cost"
MAX_LATENCY_KEY = "graphd_max_latency_ms"
EXPLORE_KEY = "graphd_explore_max_regret"
#: Where the plugin leaves its decision in the request's routing signals (read by the logger).
SIGNAL = "graphd"


def graphd_address(address):
    """A socket path, `unix:PATH` or `tcp:HOST:PORT` as (address, family)."""
    if address.startswith("tcp:"):
        host, _, port = address[len("tcp:"):].rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"graphd address {address!r} is not tcp:HOST:PORT")
        return (host.strip("[]"), int(port)), socket.AF_INET6 if ":" in host else socket.AF_INET
    return address[len("unix:"):] if address.startswith("unix:") else address, socket.AF_UNIX


def llm_name(deployment):
    """The graphd LLM a LiteLLM deployment is: model_info.graphd_llm, else model_info.id."""
    info = deployment.get("model_info") or {}
    return info.get("graphd_llm") or info.get("id")


def message_text(message):
    """A chat message's text: its content, or the text parts of a multi-part content."""
    content = message.get("content") if isinstance(message, dict) else None
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")
    return ""


def prompt_text(messages, prompt="last_user"):
    """What graphd routes on: the last user message ("last_user"), or the whole
    conversation, one "role: text" block per message ("conversation")."""
    messages = [m for m in messages or [] if isinstance(m, dict)]
    if prompt == "conversation":
        return "\n\n".join(f"{m.get('role', 'user')}: {message_text(m)}" for m in messages if message_text(m))
    for message in reversed(messages):
        if message.get("role") == "user" and message_text(message):
            return message_text(message)
    return ""


def number(value):
    """A metadata value as a float, or None when it is absent or not a number."""
    try:
        return None if value is None or isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        return None
