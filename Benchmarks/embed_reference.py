#!/usr/bin/env python3
"""Times the reference all-MiniLM-L6-v2 (sentence-transformers on PyTorch, CPU)
on the texts given on stdin (one per line): one text, and a batch, on 1 and 2
threads. Prints a JSON list like graphd-bench embed's "swift" rows.

usage: embed_reference.py --model DIR [--repetitions N] [--batch B] < texts
"""
import argparse
import json
import statistics
import sys
import time

import torch
from sentence_transformers import SentenceTransformer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--repetitions", type=int, default=200)
    ap.add_argument("--batch", type=int, default=32)
    a = ap.parse_args()
    texts = [line.rstrip("\n") for line in sys.stdin if line.strip()][: a.batch]
    model = SentenceTransformer(a.model, device="cpu")
    rows = []
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for label, batch in (("single", texts[:1]), ("batch", texts)):
            rounds = a.repetitions if label == "single" else max(10, a.repetitions // 10)
            for _ in range(5):
                model.encode(batch, batch_size=len(batch), normalize_embeddings=True)
            samples = []
            for _ in range(rounds):
                start = time.perf_counter()
                model.encode(batch, batch_size=len(batch), normalize_embeddings=True)
                samples.append((time.perf_counter() - start) * 1000)
            p50 = statistics.median(samples)
            rows.append({"case": label, "threads": threads, "texts": len(batch), "p50_ms": p50,
                         "texts_per_s": len(batch) / (p50 / 1000)})
    json.dump(rows, sys.stdout)


if __name__ == "__main__":
    main()
