#!/usr/bin/env python3
"""AIQ of graphd's router, computed the way ../shared/bench/router_eval.py computes it.

`graphd-bench router --predictions DIR` writes DIR/estimates.jsonl: per test row, the
router's predicted effect and cost of every LLM. This script sweeps the willingness to pay
over router_eval's lambda grid (argmax effect - cost/lambda, the RouterBench family), and
reports AIQ per task and pooled beside router_eval's own curves (oracle, kNN on TF-IDF,
the fixed single LLMs) with the same x_max per task, using router_eval's functions.

usage: Benchmarks/router-aiq.py --train T.csv.. --test S.csv.. --estimates DIR/estimates.jsonl
       [--scorer ../shared/bench/router_eval.py]
"""
import argparse
import json

import numpy as np

import router_scorer


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", nargs="+", required=True)
    ap.add_argument("--test", nargs="+", required=True)
    ap.add_argument("--estimates", required=True)
    router_scorer.add_argument(ap)
    a = ap.parse_args()
    ev = router_scorer.load(a.scorer)

    data = ev.Data(a.train, a.test, "last")
    te, tr = data.test, data.train
    key_to_row = {k: i for i, k in enumerate(te["key"])}
    q_hat = np.full(te["perf"].shape, np.nan)
    c_hat = np.full(te["perf"].shape, np.nan)
    with open(a.estimates, encoding="utf-8") as f:
        for line in f:
            o = json.loads(line)
            i = key_to_row[str(o["row"])]
            for j, m in enumerate(data.llms):
                q_hat[i, j] = o["effects"][m]
                c_hat[i, j] = o["costs"][m]
    if np.isnan(q_hat).any():
        raise SystemExit("estimates do not cover every test row and LLM")
    A, B = ev.tfidf(tr["text"], te["text"])
    nbr = ev.knn_from_sim((B @ A.T).toarray(), 10)
    out = {}
    for t in data.tasks:
        m = te["task"] == t
        curves = {"oracle": ev.sweep(te, m, te["perf"][m], te["cost"][m]),
                  "knn_tfidf_last": ev.sweep(te, m, tr["perf"][nbr[m]].mean(1), tr["cost"][nbr[m]].mean(1)),
                  "single_llms": [(float(x), float(y)) for x, y in zip(te["cost"][m].mean(0), te["perf"][m].mean(0))],
                  "graphd": ev.sweep(te, m, q_hat[m], c_hat[m])}
        xmax = max(x for pts in curves.values() for x, _ in pts)
        out[t] = {name: ev.aiq(ev.nd_hull(pts), xmax) for name, pts in curves.items()}
        out[t]["x_max_usd"] = xmax
    names = ["oracle", "knn_tfidf_last", "single_llms", "graphd"]
    out["pooled_mean_over_tasks"] = {n: float(np.mean([out[t][n] for t in data.tasks])) for n in names}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
