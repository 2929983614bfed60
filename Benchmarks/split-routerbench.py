#!/usr/bin/env python3
"""Split RouterBench training CSVs into our own train/holdout files for tuning.

The official test split is evaluated independently; every figure we tune on comes
from holding out rows of the training files. Rows are assigned by a seeded shuffle
per file; the CSV layout (leading index column included) is kept byte-for-byte per row.

usage: Benchmarks/split-routerbench.py --out DIR [--holdout 0.2] [--seed 7] FILE...
writes DIR/<name>_train.csv and DIR/<name>_test.csv for each FILE (<name>_train.csv in).
"""
import argparse
import csv
import os
import random
import sys

csv.field_size_limit(sys.maxsize)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--holdout", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("files", nargs="+")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    for path in a.files:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
        header, body = rows[0], rows[1:]
        order = list(range(len(body)))
        random.Random(a.seed).shuffle(order)
        cut = int(round(len(body) * a.holdout))
        held = set(order[:cut])
        name = os.path.basename(path).replace("_train.csv", "")
        for suffix, keep in (("train", lambda i: i not in held), ("test", lambda i: i in held)):
            with open(os.path.join(a.out, f"{name}_{suffix}.csv"), "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(header)
                for i, r in enumerate(body):
                    if keep(i):
                        w.writerow(r)
        print(f"{name}: {len(body) - cut} train, {cut} holdout", file=sys.stderr)


if __name__ == "__main__":
    main()
