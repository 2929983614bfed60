#!/usr/bin/env python3
"""Writes Graphs/demo.jsonl: a small, deterministic heterogeneous graph with a few
hundred nodes of every built-in type (user, item, query, task, llm, entity,
conversation) and typed edges between them. Run: python3 Graphs/make_demo.py"""
import json
import os
import random

rng = random.Random(20261126)
out = []


def emit(kind, value):
    out.append(json.dumps({kind: value}, sort_keys=True))


def ref(t, k):
    return {"type": t, "key": k}


GENRES = ["sci-fi", "drama", "comedy", "thriller", "documentary", "animation", "romance", "horror"]
TASKS = ["math", "code", "summarisation", "translation", "trivia", "reasoning", "chat", "extraction"]
FAMILIES = [("gpt-4o", 5.0), ("gpt-4o-mini", 0.15), ("claude-3-5-sonnet", 3.0), ("llama-3-70b", 0.9),
            ("mixtral-8x7b", 0.6), ("qwen-2-72b", 0.9), ("gemma-2-9b", 0.2), ("mistral-7b", 0.2)]

# Edge types beyond the built-in undirected user--item 'interacted'.
for name, directed, src, dst in [
    ("asked", True, "user", "query"), ("belongs_to", True, "query", "task"),
    ("routed", True, "query", "llm"), ("mentions", True, "conversation", "entity"),
    ("recommends", True, "conversation", "item"), ("describes", True, "entity", "item"),
    ("related", False, "entity", "entity"), ("participant", True, "user", "conversation"),
]:
    emit("edge_type", {"name": name, "directed": directed, "source_type": src, "target_type": dst})
emit("node_type", {"name": "item", "feature_dimension": 4})

users = [f"u{i:04d}" for i in range(300)]
items = [f"m{i:04d}" for i in range(300)]
entities = [f"e{i:04d}" for i in range(300)]
queries = [f"q{i:04d}" for i in range(300)]
convs = [f"c{i:04d}" for i in range(200)]
tasks = [f"{TASKS[i % len(TASKS)]}-{i // len(TASKS):02d}" for i in range(200)]
llms = [f"{FAMILIES[i % len(FAMILIES)][0]}" + ("" if i < len(FAMILIES) else f"-v{i // len(FAMILIES)}") for i in range(200)]

for i, u in enumerate(users):
    emit("node", {"type": "user", "key": u, "text": f"demo user {i}"})
for i, m in enumerate(items):
    genre = GENRES[i % len(GENRES)]
    emit("node", {"type": "item", "key": m, "text": f"{genre} title #{i}",
                  "features": [round(rng.uniform(-1, 1), 3) for _ in range(4)]})
for i, e in enumerate(entities):
    emit("node", {"type": "entity", "key": e, "text": f"entity {i} ({GENRES[i % len(GENRES)]})"})
for i, t in enumerate(tasks):
    emit("node", {"type": "task", "key": t, "text": f"{t.split('-')[0]} benchmark split {i}"})
for i, l in enumerate(llms):
    family, price = FAMILIES[i % len(FAMILIES)]
    emit("node", {"type": "llm", "key": l, "text": f"{family} family model, ${price:.2f} per million tokens"})
for i, q in enumerate(queries):
    emit("node", {"type": "query", "key": q, "text": f"question {i} about {TASKS[i % len(TASKS)]}"})
for i, c in enumerate(convs):
    emit("node", {"type": "conversation", "key": c, "text": f"dialogue {i}: looking for a {GENRES[i % len(GENRES)]} film"})


def edge(t, s, d, weight=None, **attributes):
    value = {"type": t, "source": ref(*s), "target": ref(*d)}
    if weight is not None:
        value["weight"] = weight
    if attributes:
        value["attributes"] = attributes
    emit("edge", value)


for i, u in enumerate(users):
    for m in rng.sample(items, 8):
        edge("interacted", ("user", u), ("item", m), weight=float(rng.randint(1, 5)))
    for q in rng.sample(queries, 2):
        edge("asked", ("user", u), ("query", q))
for i, q in enumerate(queries):
    edge("belongs_to", ("query", q), ("task", tasks[i % len(tasks)]))
    for l in rng.sample(llms[:len(FAMILIES) * 2], 4):
        price = dict(FAMILIES)[l.split("-v")[0]]
        edge("routed", ("query", q), ("llm", l), effect=round(rng.uniform(0.2, 1.0), 3),
             cost=round(price * rng.uniform(0.5, 2.0) / 1000, 6))
for i, e in enumerate(entities):
    for m in rng.sample(items, 3):
        edge("describes", ("entity", e), ("item", m))
    other = entities[(i * 7 + 3) % len(entities)]
    if other != e:
        edge("related", ("entity", e), ("entity", other))
for i, c in enumerate(convs):
    edge("participant", ("user", users[i % len(users)]), ("conversation", c))
    for e in rng.sample(entities, 3):
        edge("mentions", ("conversation", c), ("entity", e), weight=float(rng.randint(1, 3)))
    for m in rng.sample(items, 2):
        edge("recommends", ("conversation", c), ("item", m))

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.jsonl")
with open(path, "w") as f:
    f.write("\n".join(out) + "\n")
print(f"wrote {path}: {len(out)} lines")
