#!/usr/bin/env python3
"""Retrieve latency while live dialogues arrive (issue 6, online learning).

Starts a fresh graphd on a scratch store, imports the INSPIRED training dialogues
with `graphctl import inspired`, trains the reasoner, then, for the first
--dialogues valid dialogues, sends one Retrieve (the dialogue up to its last
turn, text only) with and without the reasoner:

  steady  the graph did not change since the previous call (and --settle
          seconds passed, so no rebuild runs aside);
  live    the call right after the whole dialogue was stored with
          Conversation/AddConversation (what a gateway does after each session;
          its own latency is printed too, durable write included).

Prints p50/p99 per case (milliseconds, over the Unix socket, this client's
clock). Run from a release build:

  swift build -c release
  Benchmarks/crs-live.py --data-dir ../shared/data/inspired
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))
from graphd_client import GraphdClient, conversation_pb2  # noqa: E402


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--bin", default=os.path.join(HERE, "..", ".build", "release"), help="folder with graphd and graphctl")
    parser.add_argument("--graphd", help="graphd executable (default: BIN/graphd)")
    parser.add_argument("--dialogues", type=int, default=60)
    parser.add_argument("--settle", type=float, default=0.5, help="seconds to wait before each steady call")
    args = parser.parse_args()
    graphd = args.graphd or os.path.join(args.bin, "graphd")
    graphctl = os.path.join(args.bin, "graphctl")
    scratch = tempfile.mkdtemp(prefix="crs-live-")
    socket_path = os.path.join(scratch, "graphd.sock")
    daemon = subprocess.Popen([graphd, "--socket", socket_path, "--store", os.path.join(scratch, "graph.sqlite"), "--sync", "normal"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            if os.path.exists(socket_path):
                break
            time.sleep(0.05)
        env = dict(os.environ, GRAPHD_SOCKET=socket_path)
        run = lambda *cmd: subprocess.run([graphctl, *cmd], env=env, check=True, stdout=subprocess.DEVNULL)
        run("import", "inspired", "--data-dir", args.data_dir, os.path.join(args.data_dir, "train_data_dbpedia.jsonl"))
        run("train", "reasoner")
        with open(os.path.join(args.data_dir, "valid_data_dbpedia.jsonl")) as f:
            dialogues = [json.loads(line) for line in f][: args.dialogues]
        times = {(case, reasoner): [] for case in ("steady", "live") for reasoner in (False, True)}
        adds = []
        with GraphdClient.unix(socket_path, timeout=60) as client:
            def retrieve(turns, reasoner):
                request = conversation_pb2.RetrieveRequest(k=50, use_reasoner=reasoner,
                    turns=[conversation_pb2.DialogueTurn(role=t["role"], text=t["text"]) for t in turns])
                start = time.perf_counter()
                response = client.retrieve(request)
                return (time.perf_counter() - start) * 1000, response

            for number, dialogue in enumerate(dialogues):
                context = dialogue[:-1] or dialogue
                time.sleep(args.settle)  # let rebuilds started by the previous live dialogue end
                for reasoner in (False, True):
                    retrieve(context, reasoner)  # warm
                    times[("steady", reasoner)].append(retrieve(context, reasoner)[0])
                for reasoner in (False, True):
                    # A live dialogue, stored as a gateway would after the session (AddConversation).
                    request = conversation_pb2.AddConversationRequest(key=f"live-{number}-{int(reasoner)}",
                        turns=[conversation_pb2.DialogueTurn(role=t["role"], text=t["text"]) for t in dialogue])
                    start = time.perf_counter()
                    client.add_conversation(request)
                    adds.append((time.perf_counter() - start) * 1000)
                    times[("live", reasoner)].append(retrieve(context, reasoner)[0])
        print(f"Retrieve over the Unix socket, {len(dialogues)} valid dialogues, k = 50 (ms)")
        for (case, reasoner), values in times.items():
            print(f"  {case:6s} reasoner {'on ' if reasoner else 'off'}  p50 {statistics.median(values):7.2f}  p99 {percentile(values, 0.99):7.2f}")
        print(f"  AddConversation (durable)  p50 {statistics.median(adds):7.2f}  p99 {percentile(adds, 0.99):7.2f}")
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)


if __name__ == "__main__":
    main()
