#!/usr/bin/env python3
"""Writes Graphs/demo.jsonl: a compact, deterministic demo graph for graphd's three
jobs, in the schemas the services read.

- router: 10 LLMs under their public names with their providers' published
  per-token list prices (2024-25; for the demo only), 4 tasks with descriptions,
  and 320 queries with an outcome per LLM (task_query, query_llm edges with
  effect, cost, latency_ms). The queries are written from templates and the
  OUTCOMES ARE GENERATED: each LLM succeeds on a plausible per-task share of
  the queries (the easiest for it, by a shared difficulty plus noise); cost =
  tokens x price. Nothing here was measured on a real model.
- recommendation: 160 users with tastes (one or two favourite genres) and a
  popularity skew, interacting with 48 real films (built-in 'interacted').
- conversation: the same films as 'item' nodes, their directors, stars and
  genres as 'entity' nodes joined by kg_director / kg_starring / kg_genre, and
  36 short dialogues ('conversation' nodes: 'ROLE: text' lines, 'mentions'
  edges weighted by how often each entity is named, 'recommended' edges to the
  films the recommender named) - the layout 'graphctl converse' reads.

Film facts are public knowledge; every text was written for this file.
Run: python3 Graphs/make_demo.py   (scripts/demo imports the result)
"""
import json
import math
import os
import random

rng = random.Random(20261207)
out = []


def emit(kind, value):
    out.append(json.dumps({kind: value}, sort_keys=True))


def ref(t, k):
    return {"type": t, "key": k}


def slug(name):
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-").replace("--", "-")


# ---------------------------------------------------------------------------
# Router: LLMs (public list prices in US$ per 1M tokens: input, output), tasks.
# success: plausible per-task rates (generated, not measured).
LLMS = [
    # name, description, in $/1M, out $/1M, context, ms/output token, success by task
    ("gpt-4o", "OpenAI GPT-4o: frontier multimodal model, strong at code, maths and writing",
     2.50, 10.00, 128000, 9, {"code": 0.90, "math": 0.86, "knowledge": 0.92, "writing": 0.93}),
    ("gpt-4o-mini", "OpenAI GPT-4o mini: small, fast and cheap general model",
     0.15, 0.60, 128000, 6, {"code": 0.79, "math": 0.70, "knowledge": 0.80, "writing": 0.86}),
    ("claude-3-5-sonnet", "Anthropic Claude 3.5 Sonnet: frontier model, best-in-class at code and careful writing",
     3.00, 15.00, 200000, 11, {"code": 0.93, "math": 0.84, "knowledge": 0.90, "writing": 0.94}),
    ("claude-3-5-haiku", "Anthropic Claude 3.5 Haiku: fast mid-size model for everyday tasks",
     0.80, 4.00, 200000, 7, {"code": 0.82, "math": 0.68, "knowledge": 0.81, "writing": 0.87}),
    ("gemini-1.5-pro", "Google Gemini 1.5 Pro: large model with a very long context window, good at reasoning",
     1.25, 5.00, 2000000, 10, {"code": 0.84, "math": 0.85, "knowledge": 0.89, "writing": 0.88}),
    ("gemini-1.5-flash", "Google Gemini 1.5 Flash: very cheap, fast model for high-volume simple tasks",
     0.075, 0.30, 1000000, 4, {"code": 0.82, "math": 0.66, "knowledge": 0.77, "writing": 0.82}),
    ("llama-3.1-70b-instruct", "Meta Llama 3.1 70B Instruct: open-weights model, solid all-rounder",
     0.88, 0.88, 128000, 8, {"code": 0.80, "math": 0.74, "knowledge": 0.84, "writing": 0.85}),
    ("llama-3.1-8b-instruct", "Meta Llama 3.1 8B Instruct: small open-weights model, fine for simple questions",
     0.18, 0.18, 128000, 4, {"code": 0.58, "math": 0.45, "knowledge": 0.64, "writing": 0.74}),
    ("mistral-large", "Mistral Large 2: large multilingual model, strong at code and reasoning",
     2.00, 6.00, 128000, 10, {"code": 0.86, "math": 0.78, "knowledge": 0.86, "writing": 0.88}),
    ("deepseek-v3", "DeepSeek-V3: large open mixture-of-experts model, strong at code and maths at a low price",
     0.27, 1.10, 64000, 12, {"code": 0.87, "math": 0.87, "knowledge": 0.85, "writing": 0.85}),
]
TASKS = {
    "code": ("Programming: write or fix a short function from a plain-language specification", 220),
    "math": ("Grade-school maths word problems with a numeric answer, reasoning step by step", 260),
    "knowledge": ("Short factual questions about geography, history, science and literature", 40),
    "writing": ("Everyday writing: emails, summaries and rewording in a given tone", 300),
}

CODE_ACTIONS = [
    "reverses a string", "checks whether a number is prime", "merges two sorted lists into one sorted list",
    "returns the n-th Fibonacci number", "counts the vowels in a sentence", "removes duplicates from a list while keeping order",
    "finds the largest element of a list without using max", "checks whether a word is a palindrome",
    "flattens a nested list", "converts Celsius to Fahrenheit", "returns the factorial of n",
    "splits a list into chunks of size k", "finds the second largest number in a list",
    "computes the greatest common divisor of two integers", "sorts a list of dictionaries by a given key",
    "counts how often each word occurs in a text", "checks whether two strings are anagrams",
    "rotates a list by k positions", "returns the transpose of a matrix", "validates an e-mail address with a regular expression",
    "parses a CSV line into fields, honouring quotes", "returns the indices of two numbers that add up to a target",
    "computes the running average of a list", "converts a Roman numeral to an integer",
    "finds the longest common prefix of a list of strings", "checks whether brackets in a string are balanced",
    "returns the binary representation of an integer", "computes the dot product of two vectors",
]
LANGUAGES = ["Python", "Python", "Python", "JavaScript", "Go", "Rust"]
MATH_TEMPLATES = [
    "A shop sells notebooks at ${p} each. How much do {n} notebooks cost after a {d}% discount?",
    "A train travels {n} km in {h} hours. What is its average speed in km per hour?",
    "Sara has {n} marbles and gives {d} to each of her {h} friends. How many marbles does she have left?",
    "A rectangle is {n} cm long and {h} cm wide. What is its area and what is its perimeter?",
    "A recipe needs {h} eggs for {d} pancakes. How many eggs are needed for {n} pancakes?",
    "Tom saves ${p} a week. How many weeks does he need to save ${n}?",
    "A tank holds {n} litres and drains at {h} litres per minute. How long until it is empty?",
    "The price of a bike rose from ${n} to ${p}. By what percentage did it rise?",
]
KNOWLEDGE_QUESTIONS = [
    "What is the capital of {x}?",
    "Which ocean lies to the west of {x}?",
    "What is the official language of {x}?",
    "Who wrote {y}?",
    "In which century was {y} first published?",
    "What is the chemical symbol for {z}?",
    "What is the atomic number of {z}?",
]
COUNTRIES = ["Portugal", "Chile", "Morocco", "Norway", "Peru", "Australia", "Ireland", "Senegal", "Canada", "Mexico",
             "Namibia", "Iceland", "New Zealand", "Spain", "Ecuador"]
BOOKS = ["Pride and Prejudice", "Moby-Dick", "Don Quixote", "War and Peace", "Frankenstein", "The Odyssey",
         "One Hundred Years of Solitude", "Jane Eyre", "The Trial", "Middlemarch"]
ELEMENTS = ["iron", "gold", "sodium", "potassium", "silver", "tin", "lead", "mercury", "copper", "helium"]
WRITING_TEMPLATES = [
    "Write a polite email to {who} asking to move our meeting from {day} to the following week.",
    "Summarise the following paragraph in two sentences for {who}: our quarterly sales grew by {n}% while costs stayed flat, mostly thanks to the new online shop.",
    "Rewrite this sentence in a friendly tone for {who}: 'Your request has been rejected because the form was incomplete.'",
    "Draft a short thank-you note to {who} for their help with the {day} workshop.",
    "Write a two-line product description of a reusable water bottle for {who}.",
    "Turn these notes into a short status update for {who}: migration done, {n} tests failing, release on {day}.",
]
WHO = ["a customer", "my manager", "the whole team", "a new colleague", "our landlord", "a supplier", "the school board"]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday"]


def make_queries():
    queries = []  # (task, text)
    actions = CODE_ACTIONS[:]
    rng.shuffle(actions)
    for i in range(80):
        queries.append(("code", f"Write a {LANGUAGES[i % len(LANGUAGES)]} function that {actions[i % len(actions)]}."))
    for i in range(80):
        t = MATH_TEMPLATES[i % len(MATH_TEMPLATES)]
        queries.append(("math", t.format(p=rng.randint(2, 40), n=rng.randint(30, 600), d=rng.randint(2, 30), h=rng.randint(2, 9))))
    for i in range(80):
        t = KNOWLEDGE_QUESTIONS[i % len(KNOWLEDGE_QUESTIONS)]
        queries.append(("knowledge", t.format(x=rng.choice(COUNTRIES), y=rng.choice(BOOKS), z=rng.choice(ELEMENTS))))
    for i in range(80):
        t = WRITING_TEMPLATES[i % len(WRITING_TEMPLATES)]
        queries.append(("writing", t.format(who=rng.choice(WHO), day=rng.choice(DAYS), n=rng.randint(3, 40))))
    return queries


def router():
    for name, description, price_in, price_out, context, _, _ in LLMS:
        emit("llm", {"name": name, "description": description, "context_window": context,
                     "price": {"per_input_token": price_in / 1e6, "per_output_token": price_out / 1e6}})
    for name, (description, _) in TASKS.items():
        emit("task", {"name": name, "description": description})
    queries = make_queries()
    # Outcomes: each LLM succeeds on exactly its rate's share of a task's queries
    # (so the demo's rates are the table's), the ones it finds easiest: a shared
    # per-query difficulty (hard questions are hard for all) plus the LLM's own noise.
    difficulty = [rng.gauss(0, 1) for _ in queries]
    succeeded = {}
    for name, _, _, _, _, _, success in LLMS:
        for task in TASKS:
            members = [q for q, (t, _) in enumerate(queries) if t == task]
            members.sort(key=lambda q: difficulty[q] + rng.gauss(0, 0.7))
            for q in members[:round(success[task] * len(members))]:
                succeeded[(name, q)] = True
    for q, (task, text) in enumerate(queries):
        key = f"{task}-{q:03d}"
        emit("node", {"type": "query", "key": key, "text": text})
        emit("edge", {"type": "task_query", "source": ref("task", task), "target": ref("query", key)})
        prompt_tokens = max(8, len(text) // 4)
        for name, _, price_in, price_out, _, ms_per_token, _ in LLMS:
            output_tokens = int(TASKS[task][1] * math.exp(rng.gauss(0, 0.3)))
            cost = prompt_tokens * price_in / 1e6 + output_tokens * price_out / 1e6
            latency = 250 + output_tokens * ms_per_token * math.exp(rng.gauss(0, 0.15))
            emit("edge", {"type": "query_llm", "source": ref("query", key), "target": ref("llm", name),
                          "attributes": {"effect": 1.0 if succeeded.get((name, q)) else 0.0, "cost": round(cost, 9),
                                         "latency_ms": round(latency, 1)}})


# ---------------------------------------------------------------------------
# Films: title, year, director, stars, genres (public facts).
FILMS = [
    ("Inception", 2010, "Christopher Nolan", ["Leonardo DiCaprio"], ["science fiction", "thriller"]),
    ("Interstellar", 2014, "Christopher Nolan", ["Matthew McConaughey", "Anne Hathaway"], ["science fiction", "drama"]),
    ("The Dark Knight", 2008, "Christopher Nolan", ["Christian Bale", "Heath Ledger"], ["action", "crime"]),
    ("Memento", 2000, "Christopher Nolan", ["Guy Pearce"], ["thriller", "mystery"]),
    ("The Prestige", 2006, "Christopher Nolan", ["Christian Bale", "Hugh Jackman"], ["mystery", "drama"]),
    ("Arrival", 2016, "Denis Villeneuve", ["Amy Adams"], ["science fiction", "drama"]),
    ("Blade Runner 2049", 2017, "Denis Villeneuve", ["Ryan Gosling", "Harrison Ford"], ["science fiction", "thriller"]),
    ("Sicario", 2015, "Denis Villeneuve", ["Emily Blunt", "Benicio del Toro"], ["crime", "thriller"]),
    ("Prisoners", 2013, "Denis Villeneuve", ["Hugh Jackman", "Jake Gyllenhaal"], ["crime", "mystery"]),
    ("Dune", 2021, "Denis Villeneuve", ["Timothée Chalamet", "Zendaya"], ["science fiction", "adventure"]),
    ("The Matrix", 1999, "Lana Wachowski", ["Keanu Reeves"], ["science fiction", "action"]),
    ("John Wick", 2014, "Chad Stahelski", ["Keanu Reeves"], ["action", "thriller"]),
    ("Mad Max: Fury Road", 2015, "George Miller", ["Tom Hardy", "Charlize Theron"], ["action", "adventure"]),
    ("Edge of Tomorrow", 2014, "Doug Liman", ["Tom Cruise", "Emily Blunt"], ["science fiction", "action"]),
    ("Mission: Impossible – Fallout", 2018, "Christopher McQuarrie", ["Tom Cruise"], ["action", "thriller"]),
    ("Top Gun: Maverick", 2022, "Joseph Kosinski", ["Tom Cruise"], ["action", "drama"]),
    ("Knives Out", 2019, "Rian Johnson", ["Daniel Craig", "Ana de Armas"], ["mystery", "comedy"]),
    ("Glass Onion", 2022, "Rian Johnson", ["Daniel Craig"], ["mystery", "comedy"]),
    ("Looper", 2012, "Rian Johnson", ["Joseph Gordon-Levitt", "Bruce Willis"], ["science fiction", "action"]),
    ("Gone Girl", 2014, "David Fincher", ["Ben Affleck", "Rosamund Pike"], ["thriller", "mystery"]),
    ("Zodiac", 2007, "David Fincher", ["Jake Gyllenhaal", "Mark Ruffalo"], ["crime", "mystery"]),
    ("Se7en", 1995, "David Fincher", ["Brad Pitt", "Morgan Freeman"], ["crime", "thriller"]),
    ("Fight Club", 1999, "David Fincher", ["Brad Pitt", "Edward Norton"], ["drama", "thriller"]),
    ("The Social Network", 2010, "David Fincher", ["Jesse Eisenberg"], ["drama"]),
    ("Parasite", 2019, "Bong Joon-ho", ["Song Kang-ho"], ["thriller", "drama"]),
    ("Snowpiercer", 2013, "Bong Joon-ho", ["Chris Evans", "Tilda Swinton"], ["science fiction", "action"]),
    ("Memories of Murder", 2003, "Bong Joon-ho", ["Song Kang-ho"], ["crime", "mystery"]),
    ("The Grand Budapest Hotel", 2014, "Wes Anderson", ["Ralph Fiennes"], ["comedy", "adventure"]),
    ("Moonrise Kingdom", 2012, "Wes Anderson", ["Bill Murray", "Bruce Willis"], ["comedy", "romance"]),
    ("Fantastic Mr. Fox", 2009, "Wes Anderson", ["George Clooney", "Meryl Streep"], ["animation", "comedy"]),
    ("Lost in Translation", 2003, "Sofia Coppola", ["Bill Murray", "Scarlett Johansson"], ["drama", "romance"]),
    ("Her", 2013, "Spike Jonze", ["Joaquin Phoenix", "Scarlett Johansson"], ["science fiction", "romance"]),
    ("La La Land", 2016, "Damien Chazelle", ["Ryan Gosling", "Emma Stone"], ["romance", "musical"]),
    ("Whiplash", 2014, "Damien Chazelle", ["Miles Teller", "J. K. Simmons"], ["drama", "musical"]),
    ("Crazy, Stupid, Love", 2011, "Glenn Ficarra", ["Steve Carell", "Ryan Gosling", "Emma Stone"], ["comedy", "romance"]),
    ("Before Sunrise", 1995, "Richard Linklater", ["Ethan Hawke", "Julie Delpy"], ["romance", "drama"]),
    ("Spirited Away", 2001, "Hayao Miyazaki", [], ["animation", "fantasy"]),
    ("My Neighbor Totoro", 1988, "Hayao Miyazaki", [], ["animation", "fantasy"]),
    ("Princess Mononoke", 1997, "Hayao Miyazaki", [], ["animation", "adventure"]),
    ("Toy Story", 1995, "John Lasseter", ["Tom Hanks", "Tim Allen"], ["animation", "comedy"]),
    ("Up", 2009, "Pete Docter", ["Ed Asner"], ["animation", "adventure"]),
    ("Inside Out", 2015, "Pete Docter", ["Amy Poehler"], ["animation", "comedy"]),
    ("Paddington 2", 2017, "Paul King", ["Ben Whishaw", "Hugh Grant"], ["comedy", "family"]),
    ("Get Out", 2017, "Jordan Peele", ["Daniel Kaluuya"], ["horror", "mystery"]),
    ("Hereditary", 2018, "Ari Aster", ["Toni Collette"], ["horror", "drama"]),
    ("A Quiet Place", 2018, "John Krasinski", ["Emily Blunt", "John Krasinski"], ["horror", "science fiction"]),
    ("The Shining", 1980, "Stanley Kubrick", ["Jack Nicholson"], ["horror", "thriller"]),
    ("2001: A Space Odyssey", 1968, "Stanley Kubrick", ["Keir Dullea"], ["science fiction", "adventure"]),
]


def film_key(title):
    return slug(title)


def knowledge_graph():
    for relation in ("director", "starring", "genre"):
        emit("edge_type", {"name": f"kg_{relation}", "directed": False})
    emit("edge_type", {"name": "mentions", "directed": False, "source_type": "conversation"})
    emit("edge_type", {"name": "recommended", "directed": True, "source_type": "conversation", "target_type": "item"})
    people, genres = set(), set()
    for title, year, director, stars, film_genres in FILMS:
        emit("node", {"type": "item", "key": film_key(title), "text": f"{title} ({year})"})
        people.update([director] + stars)
        genres.update(film_genres)
    for name in sorted(people):
        emit("node", {"type": "entity", "key": slug(name), "text": name})
    for genre in sorted(genres):
        emit("node", {"type": "entity", "key": "genre-" + slug(genre), "text": genre})
    for title, _, director, stars, film_genres in FILMS:
        emit("edge", {"type": "kg_director", "source": ref("item", film_key(title)), "target": ref("entity", slug(director))})
        for star in stars:
            emit("edge", {"type": "kg_starring", "source": ref("item", film_key(title)), "target": ref("entity", slug(star))})
        for genre in film_genres:
            emit("edge", {"type": "kg_genre", "source": ref("item", film_key(title)), "target": ref("entity", "genre-" + slug(genre))})


def interactions():
    genres = sorted({g for f in FILMS for g in f[4]})
    # Popularity: a Zipf-like weight by a fixed shuffled rank.
    order = list(range(len(FILMS)))
    rng.shuffle(order)
    popularity = {i: 1 / (1 + rank) ** 0.7 for rank, i in enumerate(order)}
    for u in range(160):
        tastes = rng.sample(genres, 2 if rng.random() < 0.6 else 1)
        key = f"u{u:03d}"
        emit("node", {"type": "user", "key": key, "text": "likes " + " and ".join(tastes)})
        weights = [popularity[i] * (10.0 if set(FILMS[i][4]) & set(tastes) else 0.15) for i in range(len(FILMS))]
        chosen = set()
        for _ in range(rng.randint(5, 14)):
            chosen.add(rng.choices(range(len(FILMS)), weights)[0])
        for i in sorted(chosen):
            emit("edge", {"type": "interacted", "source": ref("user", key), "target": ref("item", film_key(FILMS[i][0])),
                          "weight": 1.0})


# Dialogues: the seeker names what they liked (a film, a director, an actor or
# a genre); the recommender answers with films from the catalogue that share it.
OPENINGS = ["Hi! I'm looking for a movie for tonight.", "Hello, can you suggest a film?",
            "Hey, I need something to watch this weekend.", "Hi there, any movie ideas?"]
ASKS = ["What kind of movies do you enjoy?", "What have you liked recently?", "Tell me a film you loved."]
LIKES = {
    "film": ["I really loved {x}.", "{x} is one of my favourites.", "I watched {x} last week and it was great."],
    "director": ["I like anything by {x}.", "I'm a big fan of {x}."],
    "star": ["I'll watch anything with {x}.", "I like films with {x}."],
    "genre": ["I'm in the mood for some {x}.", "Something in the {x} genre would be nice."],
}
CLOSINGS = ["Great, I'll watch that tonight, thanks!", "Sounds perfect, thank you.", "I haven't seen that one, I'll try it!"]


def conversations():
    by = {"director": {}, "star": {}, "genre": {}}
    for i, (_, _, director, stars, film_genres) in enumerate(FILMS):
        by["director"].setdefault(director, []).append(i)
        for s in stars:
            by["star"].setdefault(s, []).append(i)
        for g in film_genres:
            by["genre"].setdefault(g, []).append(i)
    for d in range(36):
        kind = ["film", "director", "star", "genre"][d % 4]
        mentions = {}  # (type, key) -> count

        def named(t, k):
            mentions[(t, k)] = mentions.get((t, k), 0) + 1

        if kind == "film":
            seed = rng.randrange(len(FILMS))
            title, _, director, _, film_genres = FILMS[seed]
            liked = title
            named("item", film_key(title))
            if len(by["director"][director]) >= 3 and rng.random() < 0.5:
                pool, why = by["director"][director], f", also by {director}."
                named("entity", slug(director))
            else:
                pool, why = by["genre"][film_genres[0]], f", more {film_genres[0]}."
                named("entity", "genre-" + slug(film_genres[0]))
            pool = [i for i in pool if i != seed]
        else:
            choices = [k for k, v in by[kind].items() if len(v) >= 2]
            liked = rng.choice(sorted(choices))
            pool = by[kind][liked]
            why = {"director": f", both directed by {liked}.", "star": f", both with {liked}.",
                   "genre": f", both great {liked} films."}[kind]
            named("entity", ("genre-" if kind == "genre" else "") + slug(liked))
            named("entity", ("genre-" if kind == "genre" else "") + slug(liked))  # named again in the reply
        picks = rng.sample(sorted(set(pool)), min(2, len(set(pool))))
        turns = [("SEEKER", rng.choice(OPENINGS)), ("RECOMMENDER", rng.choice(ASKS)),
                 ("SEEKER", rng.choice(LIKES[kind]).format(x=liked))]
        reply = "Then try " + " or ".join(FILMS[i][0] for i in picks) + why
        for i in picks:
            named("item", film_key(FILMS[i][0]))
        turns += [("RECOMMENDER", reply), ("SEEKER", rng.choice(CLOSINGS))]
        key = f"demo/{d:02d}"
        emit("node", {"type": "conversation", "key": key, "text": "\n".join(f"{r}: {t}" for r, t in turns)})
        for (t, k), count in sorted(mentions.items()):
            emit("edge", {"type": "mentions", "source": ref("conversation", key), "target": ref(t, k), "weight": float(count)})
        for i in picks:
            emit("edge", {"type": "recommended", "source": ref("conversation", key), "target": ref("item", film_key(FILMS[i][0]))})


out.append("# graphd demo graph, written by Graphs/make_demo.py (see its docstring). Router outcomes are GENERATED,")
out.append("# not measured: plausible per-task success rates; prices are providers' public list prices (2024-25).")
knowledge_graph()
interactions()
conversations()
router()
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.jsonl"), "w") as f:
    f.write("\n".join(out) + "\n")
print(f"wrote {len(out)} lines")
