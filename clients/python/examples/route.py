#!/usr/bin/env python3
"""What an LLM gateway does around every model call: ask graphd which LLM should
answer, call it (falling back in graphd's order if it fails), then report what
happened so the router learns.

usage: route.py [--socket PATH] [--task TASK] [--balance | --cost-first] [--max-latency-ms MS] QUERY

The model call here is a stand-in (`call_llm`); a gateway puts its provider SDKs there.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from graphd_client import (  # noqa: E402
    DeadlineExceeded, FailedPrecondition, GraphdClient, Unavailable, router_pb2,
)


def call_llm(name, query):
    """Stand-in for the real provider call: returns (answer, cost_usd) or raises."""
    return f"[{name}] answer to: {query[:40]}", 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--socket", default=os.environ.get("GRAPHD_SOCKET", "/tmp/graphd.sock"))
    ap.add_argument("--task", default="")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--balance", action="store_true", help="weights (0.5, 0.5)")
    mode.add_argument("--cost-first", action="store_true", help="weights (0.2, 0.8)")
    ap.add_argument("--max-latency-ms", type=float, default=0,
                    help="leave out LLMs slower than this on average (from the latencies fed back)")
    ap.add_argument("query")
    a = ap.parse_args()
    wp, wc = (0.5, 0.5) if a.balance else (0.2, 0.8) if a.cost_first else (1.0, 0.0)

    # A short deadline: routing must never hold up the request it serves.
    with GraphdClient.unix(a.socket, timeout=0.05) as client:
        try:
            decision = client.route(router_pb2.RouteRequest(
                query=a.query, task=a.task, performance_weight=wp, cost_weight=wc, max_latency_ms=a.max_latency_ms))
            # Try the choice, then at most five fallbacks: a request should not
            # walk through every registered model.
            order = [decision.llm] + list(decision.fallback)[:5]
            chosen = next((c for c in decision.ranked if c.llm == decision.llm), None)
            predicted = f"predicted effect {chosen.effect:.2f}, cost ${chosen.cost:.6f}, " if chosen else ""
            more = len(decision.fallback) - 5
            print(f"graphd chose {decision.llm} (task {decision.task}{', inferred' if decision.task_inferred else ''}, "
                  f"{predicted}model {decision.model}"
                  f"{', by a labelled variant' if decision.effects_from_variant else ''}"
                  f"{', with outcomes seen for this text' if decision.llms_observed_on_text else ''}, "
                  f"{decision.decision_micros:.0f} µs); fallback {', '.join(order[1:])}{f' (+{more} more)' if more > 0 else ''}",
                  file=sys.stderr)
        except (Unavailable, DeadlineExceeded, FailedPrecondition) as error:
            sys.exit(f"no routing decision ({error}); a gateway would use its default model here")

        for name in order:
            started = time.monotonic()
            try:
                answer, cost = call_llm(name, a.query)
            except Exception as error:  # noqa: BLE001  (provider failure: try the next one)
                print(f"{name} failed: {error}", file=sys.stderr)
                continue
            latency_ms = (time.monotonic() - started) * 1000
            print(answer)
            # Report the outcome once it is known (here: the call succeeded; a real gateway
            # sends its quality signal, e.g. a user rating or a test result, later, by the
            # same decision id: it stays resolvable for graphd's --decision-ttl). The
            # answer itself goes along: for a multiple-choice query graphd keeps the option
            # it names, which routes later variants of the question; otherwise it is ignored.
            client.feedback(router_pb2.FeedbackRequest(
                decision_id=decision.decision_id, outcomes=[router_pb2.Outcome(
                    llm=name, effect=1.0, cost=cost, latency_ms=latency_ms, answer=answer.encode()[:65536].decode(errors="ignore"))]), timeout=1.0)
            return
        sys.exit("every LLM failed")


if __name__ == "__main__":
    main()
