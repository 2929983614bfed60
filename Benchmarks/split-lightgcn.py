#!/usr/bin/env python3
"""Carve a validation split out of a LightGCN-format training file, the way the
published test splits were made: a share (default 20 %) of each user's
interactions held out at random, per user.

usage: split-lightgcn.py TRAIN --out DIR [--seeds 1,2,3] [--share 0.2]
Writes DIR/seed-S/train.txt and DIR/seed-S/test.txt for each seed; users with
fewer than two interactions keep them all in train. Score predictions made from
train.txt with ../shared/bench/recsys_eval.py DIR/seed-S/train.txt DIR/seed-S/test.txt OUT.
"""
import argparse
import os
import random


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("train", help="LightGCN text format: 'user item item …' per line")
    ap.add_argument("--out", required=True, help="output directory (one sub-directory per seed)")
    ap.add_argument("--seeds", default="1,2,3", help="comma-separated seeds (default 1,2,3)")
    ap.add_argument("--share", type=float, default=0.2, help="share of each user's items held out (default 0.2)")
    a = ap.parse_args()
    if not 0 < a.share < 1:
        ap.error("--share must lie strictly between 0 and 1")
    users = []
    with open(a.train) as f:
        for number, line in enumerate(f, 1):
            parts = line.split()
            if not parts:
                continue
            try:
                users.append((int(parts[0]), [int(x) for x in parts[1:]]))
            except ValueError:
                ap.error(f"{a.train}:{number}: not 'user item item …' integers")
    for seed in (int(s) for s in a.seeds.split(",") if s.strip()):
        rng = random.Random(seed)
        directory = os.path.join(a.out, f"seed-{seed}")
        os.makedirs(directory, exist_ok=True)
        held = 0
        with open(os.path.join(directory, "train.txt"), "w") as train, open(os.path.join(directory, "test.txt"), "w") as test:
            for user, items in users:
                count = round(len(items) * a.share) if len(items) >= 2 else 0
                count = min(max(count, 1 if len(items) >= 2 else 0), len(items) - 1)
                chosen = set(rng.sample(range(len(items)), count))
                kept = [i for k, i in enumerate(items) if k not in chosen]
                out = [i for k, i in enumerate(items) if k in chosen]
                train.write(" ".join(map(str, [user] + kept)) + "\n")
                if out:
                    test.write(" ".join(map(str, [user] + out)) + "\n")
                held += len(out)
        print(f"seed {seed}: {held} interactions held out of {sum(len(i) for _, i in users)} -> {directory}")


if __name__ == "__main__":
    main()
