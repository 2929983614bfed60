"""GraphdFeedbackLogger: each LiteLLM attempt's outcome goes back to graphd as Feedback."""
import logging
import queue
import threading
import time

from ._common import SIGNAL, graphd_address, llm_name, prompt_text

# (after ._common, which puts graphd_client on the path when run from a checkout)
from graphd_client import GraphdClient, GraphdError, router_pb2
from litellm.integrations.custom_logger import CustomLogger

log = logging.getLogger("graphd_litellm")


class GraphdFeedbackLogger(CustomLogger):
    """A LiteLLM logger (`litellm.callbacks = [logger]`, or the proxy's
    `litellm_settings.callbacks`) that sends graphd one Feedback per attempt:
    the deployment's graphd LLM (model_info.graphd_llm, else model_info.id),
    its cost (`response_cost`), latency and effect — 0 for a failure; for a
    success `effect(kwargs, response)` if given (a number in [0, 1], or None
    to send nothing), else 1; the cost is `cost(kwargs, response)` if given
    (US dollars, e.g. from the gateway's own price list). An attempt GraphdRoutingPlugin routed is reported
    by its decision id; any other by its prompt and the task in metadata.

    The call never waits: outcomes go through a queue of `queue_size` to one
    thread that sends them; when it is full they are dropped and counted
    (`stats["dropped"]`). `flush()` waits for the queue to empty."""

    def __init__(self, socket="/tmp/graphd.sock", effect=None, cost=None, task_metadata_key="graphd_task", prompt="last_user",
                 queue_size=10_000, update_steps=None, timeout=5.0, token=None, tls=False, tls_ca=None):
        super().__init__()
        if prompt not in ("last_user", "conversation"):
            raise ValueError(f"prompt must be 'last_user' or 'conversation', got {prompt!r}")
        self.address, self.family = graphd_address(socket)
        self.effect = effect
        self.cost = cost
        self.task_metadata_key = task_metadata_key
        self.prompt = prompt
        self.update_steps = update_steps
        self._client_options = dict(timeout=timeout, token=token, tls=tls, tls_ca=tls_ca)
        self._queue = queue.Queue(maxsize=queue_size)
        self.stats = {"queued": 0, "sent": 0, "dropped": 0, "failed": 0, "skipped": 0}
        self._lock = threading.Lock()
        self._worker = None
        self._last_warning = 0.0

    # ------------------------------------------------------------ LiteLLM hooks

    def log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._enqueue(kwargs, response_obj, start_time, end_time, success=True)

    def log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._enqueue(kwargs, response_obj, start_time, end_time, success=False)

    async def async_log_success_event(self, kwargs, response_obj, start_time, end_time):
        self._enqueue(kwargs, response_obj, start_time, end_time, success=True)

    async def async_log_failure_event(self, kwargs, response_obj, start_time, end_time):
        self._enqueue(kwargs, response_obj, start_time, end_time, success=False)

    def flush(self, timeout=10.0):
        """Waits until every queued outcome was sent (or failed); False on timeout."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.01)
        return not self._queue.unfinished_tasks

    # ------------------------------------------------------------ internals

    def feedback_request(self, kwargs, response_obj, start_time, end_time, success):
        """The Feedback for one attempt, or None when there is nothing to send."""
        params = kwargs.get("litellm_params") or {}
        metadata = params.get("metadata") or {}
        llm = llm_name({"model_info": params.get("model_info") or {}})
        if not llm:
            return None  # not a router deployment: nothing graphd knows
        if success:
            effect = 1.0 if self.effect is None else self.effect(kwargs, response_obj)
            if effect is None:
                return None
        else:
            effect = 0.0
        outcome = router_pb2.Outcome(llm=llm, effect=min(1.0, max(0.0, float(effect))))
        cost = kwargs.get("response_cost") if self.cost is None else self.cost(kwargs, response_obj)
        if success and isinstance(cost, (int, float)) and cost >= 0:
            outcome.cost = float(cost)
        if success and start_time is not None and end_time is not None:
            outcome.latency_ms = max(0.0, (end_time - start_time).total_seconds() * 1000)
        request = router_pb2.FeedbackRequest(outcomes=[outcome])
        if self.update_steps is not None:
            request.update_steps = self.update_steps
        decision = ((metadata.get("routing_plugin_signals") or {}).get(SIGNAL) or {}).get("decision_id")
        if decision:
            request.decision_id = decision
        else:
            text = prompt_text(kwargs.get("messages"), self.prompt)
            if not text:
                return None
            request.query = text
            task = metadata.get(self.task_metadata_key)
            if isinstance(task, str):
                request.task = task
        return request

    def _enqueue(self, kwargs, response_obj, start_time, end_time, success):
        try:
            request = self.feedback_request(kwargs, response_obj, start_time, end_time, success)
        except Exception as error:  # a failing effect function must not fail the call
            self._count("failed", f"cannot make graphd Feedback: {error}")
            return
        if request is None:
            self.stats["skipped"] += 1
            return
        self._start_worker()
        try:
            self._queue.put_nowait(request)
            self.stats["queued"] += 1
        except queue.Full:
            self._count("dropped", f"graphd Feedback queue full ({self._queue.maxsize})")

    def _start_worker(self):
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._send_forever, name="graphd-feedback", daemon=True)
                self._worker.start()

    def _send_forever(self):
        client = GraphdClient(self.address, self.family, **self._client_options)
        while True:
            request = self._queue.get()
            try:
                client.feedback(request)
                self.stats["sent"] += 1
            except GraphdError as error:
                self._count("failed", f"graphd Feedback failed: {error}")
            except Exception as error:  # keep the worker alive whatever happens
                self._count("failed", f"graphd Feedback failed: {error}")
            finally:
                self._queue.task_done()

    def _count(self, kind, message):
        self.stats[kind] += 1
        now = time.monotonic()
        if now - self._last_warning >= 60:
            self._last_warning = now
            log.warning("%s (%s so far: %d)", message, kind, self.stats[kind])
