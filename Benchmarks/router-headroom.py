#!/usr/bin/env python3
"""How far knowing a multiple-choice query's right option can take a router on RouterBench files.

On ARC and Winogrande several LLMs answer by letter more than by content (claude-instant-v1
says "A" to nearly every Winogrande question), so which LLM is right depends mostly on where
the right option sits. graphd knows that position only for queries with a labelled variant
(Winogrande twins). This script measures the ceiling of that signal on a holdout split, so
that a gain target can be checked against what the files can give:

  best single      the best LLM per task on the training rows (router_eval's baseline)
  graphd           graphd's own choices (--predictions DIR), scored the same way
  variant rows     the right option known on the rows graphd routed by a variant
                   (DIR/estimates.jsonl "from_variant"), best single elsewhere
  every MC row     the right option known on every multiple-choice test row
  needed accuracy  the accuracy an answer predictor would need on the multiple-choice rows
                   without a variant (variant rows as above) to reach best single + --gain,
                   on every multiple-choice task at once and on each task alone

With the right option j of a row known (or predicted), the policy picks, per task, the LLM
with the best mean training reward over training rows whose right option is j. A row's right
option is the letter most of the LLMs scored correct answered (rows where that is not unique
count as unknown and get the best single LLM). Knowing it on test rows is an oracle quantity:
this is a bound, not a router. A predictor of accuracy p is modelled as right with
probability p and otherwise naming one of the other options uniformly; its expected reward is
computed exactly.

usage: Benchmarks/router-headroom.py --train T.csv.. --test S.csv.. [--predictions DIR]
       [--gain 0.01] [--scorer ../shared/bench/router_eval.py]
"""
import argparse
import ast
import csv
import functools
import json
import os
import re
import sys
from collections import Counter

import numpy as np

import router_scorer

csv.field_size_limit(sys.maxsize)
OPTION_LINE = re.compile(r"^\(?([A-Z])[\)\.:]\s")
LEADING_LETTER = re.compile(r"^\(?([A-Z])(?:[\)\.:\s]|$)")


def option_letters(prompt_cell, query_text):
    block = query_text(prompt_cell, "last")
    return [m.group(1) for m in (OPTION_LINE.match(line.strip()) for line in block.split("\n")) if m]


def answer_letter(cell):
    try:
        value = ast.literal_eval(cell)
        text = " ".join(str(s) for s in value) if isinstance(value, (list, tuple)) else str(value)
    except (ValueError, SyntaxError):
        text = cell
    m = LEADING_LETTER.match(text.strip())
    return m.group(1) if m else None


def right_options(paths, llms, query_text):
    """{(task, row key): (index of the right option or None, option count)} from the LLMs' answers."""
    out = {}
    for path in paths:
        with open(path, newline="", encoding="utf-8") as f:
            rd = csv.reader(f)
            header = next(rd)
            col = {h: i for i, h in enumerate(header)}
            for r in rd:
                letters = option_letters(r[col["prompt"]], query_text)
                votes = Counter()
                for m in llms:
                    p = r[col[m]].strip()
                    if p and float(p) == 1.0:
                        a = answer_letter(r[col[m + "|model_response"]])
                        if a in letters:
                            votes[a] += 1
                top = votes.most_common(2)
                right = None
                if top and (len(top) == 1 or top[0][1] > top[1][1]):
                    right = letters.index(top[0][0])
                out[(r[col["eval_name"]], r[0])] = (right, len(letters))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", nargs="+", required=True)
    ap.add_argument("--test", nargs="+", required=True)
    ap.add_argument("--predictions", help="graphd-bench router's output directory")
    ap.add_argument("--gain", type=float, default=0.01, help="pooled reward gain over best single to reach")
    router_scorer.add_argument(ap)
    a = ap.parse_args()
    ev = router_scorer.load(a.scorer)

    data = ev.Data(a.train, a.test, "last")
    tr, te = data.train, data.test
    right = right_options(a.train + a.test, data.llms, ev.query_text)
    # The CSVs' own eval_name is the task; Data keeps it per row.
    tr_right = np.array([right[(t, k)][0] if right[(t, k)][0] is not None else -1 for t, k in zip(tr["task"], tr["key"])])
    te_right = np.array([right[(t, k)][0] if right[(t, k)][0] is not None else -1 for t, k in zip(te["task"], te["key"])])
    te_options = np.array([right[(t, k)][1] for t, k in zip(te["task"], te["key"])])
    # A task counts as multiple-choice when nearly all its training rows have a right option.
    mc_tasks = {t for t in data.tasks if np.mean(tr_right[tr["task"] == t] >= 0) >= 0.9}

    from_variant = np.zeros(len(te["key"]), bool)
    if a.predictions:
        key_row = {k: i for i, k in enumerate(te["key"])}
        with open(os.path.join(a.predictions, "estimates.jsonl"), encoding="utf-8") as f:
            for line in f:
                o = json.loads(line)
                from_variant[key_row[str(o["row"])]] = bool(o.get("from_variant", False))

    report = {"multiple_choice_tasks": sorted(mc_tasks), "test_rows": len(te["key"]),
              "variant_rows": int(from_variant.sum()),
              "mc_rows_with_right_option": int(sum(1 for t, r in zip(te["task"], te_right) if t in mc_tasks and r >= 0)),
              "weightings": {}}
    rows = np.arange(len(te["key"]))
    for w, wp, wc in ev.WEIGHTINGS:
        r_tr, r_te = ev.reward(tr, wp, wc), ev.reward(te, wp, wc)
        best = {}      # task -> LLM index (best single, scorer's tie-break by mean train cost)
        by_option = {}  # (task, option) -> mean training reward per LLM
        for t in data.tasks:
            m = tr["task"] == t
            best[t] = int(ev.pick(r_tr[m].mean(0), tr["cost"][m].mean(0))[0])
            if t in mc_tasks:
                for j in range(int(tr_right[m].max()) + 1):
                    sel = m & (tr_right == j)
                    if sel.any():
                        by_option[(t, j)] = r_tr[sel].mean(0)
        best_row = np.array([r_te[i, best[t]] for i, t in enumerate(te["task"])])

        def known(i):
            """Reward of row i when its right option is known (best single when it has none)."""
            t, j = te["task"][i], te_right[i]
            if t in mc_tasks and j >= 0 and (t, j) in by_option:
                return r_te[i, int(np.argmax(by_option[(t, j)]))]
            return best_row[i]

        @functools.lru_cache(maxsize=None)
        def choices(t, k, p):
            """Per option the predictor names: the LLM with the best expected training reward."""
            out = []
            for guess in range(k):
                posterior = np.full(k, (1 - p) / (k - 1))
                posterior[guess] = p
                expected = sum(posterior[o] * by_option[(t, o)] for o in range(k) if (t, o) in by_option)
                out.append(int(np.argmax(expected)))
            return out

        def predicted(i, p):
            """Expected reward of row i under a right-option predictor of accuracy p."""
            t, j, k = te["task"][i], te_right[i], int(te_options[i])
            if t not in mc_tasks or j < 0 or k < 2:
                return best_row[i]
            choice = choices(t, k, p)
            return p * r_te[i, choice[j]] + (1 - p) / (k - 1) * sum(r_te[i, choice[g]] for g in range(k) if g != j)

        known_row = np.array([known(i) for i in rows])
        variant_known = np.where(from_variant, known_row, best_row)
        entry = {"best_single": float(best_row.mean()),
                 "right_option_known_on_variant_rows": float(variant_known.mean()),
                 "right_option_known_on_every_mc_row": float(known_row.mean())}
        if a.predictions:
            path = os.path.join(a.predictions, f"{w}.jsonl")
            chosen = {}
            with open(path, encoding="utf-8") as f:
                for line in f:
                    o = json.loads(line)
                    chosen[str(o["row"])] = data.llms.index(o["model"])
            entry["graphd"] = float(np.mean([r_te[i, chosen[k]] for i, k in enumerate(te["key"])]))
        # Smallest accuracy on the MC rows without a variant that reaches the gain: on all MC
        # tasks at once, and on one task alone (the others at the best single LLM). A row never
        # gets less than chance (1/options): a predictor below chance is informative too.
        target = best_row.mean() + a.gain

        def needed(tasks):
            if variant_known.mean() >= target - 1e-12:
                return "met at chance"
            for p in np.arange(0.25, 1.0001, 0.01):
                total = [variant_known[i] if from_variant[i] or te["task"][i] not in tasks
                         else predicted(i, max(p, 1.0 / max(te_options[i], 2))) for i in rows]
                if np.mean(total) >= target - 1e-12:
                    return round(float(p), 2)
            return None
        entry["target"] = float(target)
        entry["needed_accuracy_on_other_mc_rows"] = needed(mc_tasks)
        entry["needed_accuracy_one_task_alone"] = {t: needed({t}) for t in sorted(mc_tasks)}
        report["weightings"][w] = entry

    print(json.dumps(report, indent=1))
    print()
    print(f"{'weighting':<18} {'best single':>11} {'graphd':>8} {'variant rows':>12} {'every MC row':>12} "
          f"{'target':>8} {'accuracy needed':>15}")
    for w, e in report["weightings"].items():
        g = f"{e['graphd']:.4f}" if "graphd" in e else "-"
        n = e["needed_accuracy_on_other_mc_rows"]
        n = f"{n:.2f}" if isinstance(n, float) else (n or "unreachable")
        print(f"{w:<18} {e['best_single']:>11.4f} {g:>8} {e['right_option_known_on_variant_rows']:>12.4f} "
              f"{e['right_option_known_on_every_mc_row']:>12.4f} {e['target']:>8.4f} {n:>15}")


if __name__ == "__main__":
    main()
