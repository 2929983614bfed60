#!/usr/bin/env python3
"""The router as a gateway uses it: whole prompts over the socket, scored with router_eval.py.

`graphd-bench router` trains and routes in-process on the text graphctl cuts out of each
prompt. A gateway instead sends graphd the whole prompt, few-shot examples included. This
script starts a graphd, imports the --train files with its graphctl (`import routerbench`:
the last block of each prompt is stored), trains the router, then sends every --test row's
whole prompt to Router/Route under the three weightings (with the row's task, or with none
given --no-task) and scores the choices with ../shared/bench/router_eval.py's functions.
Run it with two builds (--graphd/--graphctl) to compare them in one invocation.

usage: Benchmarks/router-gateway.py --graphd PATH --graphctl PATH --train T.csv.. --test S.csv..
       --out DIR [--embedder minilm|hashed] [--query-text full|last] [--no-task]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import router_scorer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))
from graphd_client import GraphdClient, router_pb2  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--graphd", required=True)
    ap.add_argument("--graphctl", required=True)
    ap.add_argument("--train", nargs="+", required=True)
    ap.add_argument("--test", nargs="+", required=True)
    ap.add_argument("--out", required=True, help="directory for the predictions and summary.json")
    ap.add_argument("--embedder", default="minilm", choices=["minilm", "hashed"])
    ap.add_argument("--query-text", choices=["full", "last"], help="graphd --query-text (default: graphd's)")
    ap.add_argument("--no-task", action="store_true", help="send no task: graphd infers it")
    router_scorer.add_argument(ap)
    a = ap.parse_args()
    ev = router_scorer.load(a.scorer)
    data = ev.Data(a.train, a.test, "full")
    te = data.test
    os.makedirs(a.out, exist_ok=True)

    scratch = tempfile.mkdtemp(prefix="router-gateway-")
    sock = os.path.join(scratch, "g.sock")
    args = [a.graphd, "--socket", sock, "--store", os.path.join(scratch, "g.sqlite"), "--sync", "normal",
            "--node-text-embedder", a.embedder, "--log-level", "warning"]
    if a.query_text:
        args += ["--query-text", a.query_text]
    daemon = subprocess.Popen(args)
    try:
        for _ in range(600):
            if os.path.exists(sock) and subprocess.run([a.graphctl, "health", "--socket", sock],
                                                       capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        else:
            sys.exit("graphd did not start")
        def graphctl(*words):
            subprocess.run([a.graphctl, *words, "--socket", sock, "--timeout", "7200"], check=True, stdout=subprocess.DEVNULL)
        start = time.monotonic()
        graphctl("import", "routerbench", *a.train)
        graphctl("train", "router", "--quiet")
        print(f"imported and trained in {time.monotonic() - start:.0f} s", file=sys.stderr)

        choices = {w: [] for w, _, _ in ev.WEIGHTINGS}
        inferred_right = variant_rows = observed_rows = 0
        micros = []
        with GraphdClient.unix(sock, timeout=60) as client:
            for i, text in enumerate(te["text"]):
                task = "" if a.no_task else str(te["task"][i])
                for w, wp, wc in ev.WEIGHTINGS:
                    r = client.route(router_pb2.RouteRequest(query=text, task=task, performance_weight=wp, cost_weight=wc))
                    choices[w].append(r.llm)
                    micros.append(r.decision_micros)
                inferred_right += r.task == te["task"][i]
                variant_rows += r.effects_from_variant
                observed_rows += r.llms_observed_on_text > 0
                query_text = router_pb2.QueryText.Name(r.query_text)
    finally:
        daemon.terminate()
        daemon.wait()

    summary = {"graphd": a.graphd, "rows": len(te["text"]), "task_given": not a.no_task,
               "task_right_share": inferred_right / len(te["text"]), "rows_by_variant": variant_rows,
               "rows_with_outcomes_on_text": observed_rows, "query_text_last_row": query_text,
               "decision_micros_p50": statistics.median(micros), "reward": {}}
    for w, _, _ in ev.WEIGHTINGS:
        path = os.path.join(a.out, f"{w}.jsonl")
        with open(path, "w") as f:
            for key, sid, model in zip(te["key"], te["sid"], choices[w]):
                f.write(json.dumps({"row": key, "sample_id": sid, "model": model, "weighting": w}) + "\n")
        choice, unknown, invalid = ev.resolve_preds(data, path)
        if (choice < 0).any() or unknown or invalid:
            sys.exit(f"{path}: {int((choice < 0).sum())} rows without a valid prediction")
        summary["reward"][w] = ev.metrics(te, ev.fill_missing(data, choice))[w]["reward"]
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
