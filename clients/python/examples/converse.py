#!/usr/bin/env python3
"""What a conversational-recommendation gateway does around each recommender
turn: ask graphd for candidates and a prompt (Conversation/Retrieve), let its
LLM pick from the candidates, and, once the session ends, store the dialogue so
later retrievals learn from it (Conversation/AddConversation).

usage: converse.py [--socket PATH] [--session KEY] [-k K] [DIALOGUE]

DIALOGUE holds the dialogue so far, one 'ROLE: text' line per turn (stdin
without it). The LLM call is a stand-in (`ask_llm`: it takes the first
candidate); a gateway puts its provider SDK there.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from graphd_client import GraphdError, GraphdClient, conversation_pb2  # noqa: E402


def ask_llm(prompt, candidates):
    """Stand-in for the LLM: returns (reply text, the candidate it recommends)."""
    choice = candidates[0]
    return f"You might like {choice.name}.", choice


def read_turns(lines):
    turns = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        role, sep, text = line.partition(":")
        if not sep or not role.replace("_", "").isalpha():
            role, text = "SEEKER", line
        turns.append(conversation_pb2.DialogueTurn(role=role.strip().upper(), text=text.strip()))
    return turns


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--socket", default=os.environ.get("GRAPHD_SOCKET", "/tmp/graphd.sock"))
    ap.add_argument("--session", default="session-1", help="key of the conversation node the session is stored as")
    ap.add_argument("-k", type=int, default=10, help="candidates to ask for")
    ap.add_argument("dialogue", nargs="?", help="file of 'ROLE: text' lines (default: stdin)")
    a = ap.parse_args()
    with open(a.dialogue) if a.dialogue else sys.stdin as f:
        turns = read_turns(f)
    if not turns:
        sys.exit("the dialogue is empty")

    with GraphdClient.unix(a.socket, timeout=1.0) as client:
        try:
            retrieved = client.retrieve(conversation_pb2.RetrieveRequest(turns=turns, k=a.k, n=3))
        except GraphdError as error:
            sys.exit(f"no candidates ({error}); a gateway would let its LLM answer unaided here")
        if not retrieved.candidates:
            sys.exit("graphd has no items to recommend")
        linked = ", ".join(f"{l.surface!r} → {l.node.key}" for l in retrieved.linked) or "nothing"
        print(f"linked: {linked}; {len(retrieved.candidates)} candidates", file=sys.stderr)
        reply, choice = ask_llm(retrieved.prompt.text, retrieved.candidates)
        print(f"RECOMMENDER: {reply}")

        # The session ends: store it with the recommender's reply and the item it chose.
        turns.append(conversation_pb2.DialogueTurn(role="RECOMMENDER", text=reply))
        stored = client.add_conversation(conversation_pb2.AddConversationRequest(
            key=a.session, turns=turns, recommended_item_keys=[choice.item.key]))
        print(f"{'stored' if stored.created else 'updated'} conversation {stored.conversation.key}: "
              f"{stored.mentions} mentioned, recommended {', '.join(r.key for r in stored.recommended)}", file=sys.stderr)


if __name__ == "__main__":
    main()
