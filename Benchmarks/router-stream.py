#!/usr/bin/env python3
"""The router under bandit feedback: routerbench rows replayed as a gateway sees them.

Each row, in a seeded order over all tasks: Route (the whole prompt, its task given) → only
the chosen LLM's outcome (its effect and cost from the file) → Feedback by the decision id.
Rewards (router_eval.py's: w_p·effect − w_c·cost normalised per task) are reported in windows
of --window requests against the best single LLM per task in hindsight (over the same rows),
the oracle and uniform random.

Modes:
  cold     the LLMs registered by a description and list prices only (no outcome, no training)
  warm     the first --warm-share of the stream imported (graphctl import routerbench) and
           trained on first; the rest streamed
  new-llm  cold, with --new-llm hidden for the first half and added by AddLLM at the midpoint:
           how many requests of the tasks it wins (best single in hindsight there) pass
           until graphd sends them to it
Each mode runs with exploration off and, with --explore-max-regret X, on (seeded per row).
--via-litellm also replays the cold stream through LiteLLM (graphd_litellm's plugin and
logger; mock deployments answering with the file's model_response) without exploration,
beside a direct run of the same stream.

usage: Benchmarks/router-stream.py --graphd PATH --graphctl PATH --data CSV.. --out DIR
       [--modes cold,warm,new-llm] [--seed 7] [--explore-max-regret 0.1] [--via-litellm]
"""
import argparse
import asyncio
import csv
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time

import numpy as np
import router_scorer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "clients", "python"))
sys.path.insert(0, os.path.join(HERE, "..", "clients", "litellm"))
from graphd_client import GraphdClient, router_pb2  # noqa: E402

# What a gateway operator knows before any outcome: a line about each LLM and its list
# price per token (input, output; US dollars), as published when RouterBench was made.
LLM_CARDS = {
    "gpt-3.5-turbo-1106": ("OpenAI GPT-3.5 Turbo: fast, inexpensive general chat model", 1e-6, 2e-6),
    "claude-instant-v1": ("Anthropic Claude Instant: fast, inexpensive assistant", 8e-7, 2.4e-6),
    "claude-v1": ("Anthropic Claude 1: capable general assistant", 8e-6, 2.4e-5),
    "claude-v2": ("Anthropic Claude 2: strong reasoning and long documents", 8e-6, 2.4e-5),
    "gpt-4-1106-preview": ("OpenAI GPT-4 Turbo: the strongest model for reasoning and code", 1e-5, 3e-5),
    "meta/llama-2-70b-chat": ("Meta Llama 2 70B chat: open model, fair general ability", 9e-7, 9e-7),
    "mistralai/mixtral-8x7b-chat": ("Mistral Mixtral 8x7B: open mixture of experts, good reasoning for its price", 6e-7, 6e-7),
    "zero-one-ai/Yi-34B-Chat": ("01.AI Yi 34B chat: open bilingual model", 8e-7, 8e-7),
    "WizardLM/WizardLM-13B-V1.2": ("WizardLM 13B: small open instruction-following model", 3e-7, 3e-7),
    "meta/code-llama-instruct-34b-chat": ("Meta Code Llama 34B instruct: open model for code", 7.76e-7, 7.76e-7),
    "mistralai/mistral-7b-chat": ("Mistral 7B instruct: small, very cheap open model", 2e-7, 2e-7),
}

TASK_CARDS = {
    "arc_challenge": "grade-school science questions with four options, answered by reasoning",
    "mbpp": "short Python functions written from a one-sentence description",
    "winograde": "commonsense fill-in-the-blank with two options",
}


def read_raw(paths):
    """Each file's header and rows, in the order router_eval.Data stacks them."""
    files = []
    for path in paths:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader)
            files.append((header, list(reader)))
    return files


class Graphd:
    def __init__(self, a, scratch, name, extra=()):
        self.sock = os.path.join(scratch, f"{name}.sock")
        self.graphctl = a.graphctl
        args = [a.graphd, "--socket", self.sock, "--store", os.path.join(scratch, f"{name}.sqlite"), "--sync", "normal",
                "--node-text-embedder", a.embedder, "--log-level", "warning", *extra]
        self.process = subprocess.Popen(args)
        for _ in range(600):
            if os.path.exists(self.sock) and subprocess.run([a.graphctl, "health", "--socket", self.sock],
                                                            capture_output=True).returncode == 0:
                return
            time.sleep(0.1)
        sys.exit("graphd did not start")

    def ctl(self, *words):
        subprocess.run([self.graphctl, *words, "--socket", self.sock, "--timeout", "7200"], check=True, stdout=subprocess.DEVNULL)

    def stop(self):
        self.process.terminate()
        self.process.wait()


def register_cold(client, llms, tasks):
    for name in llms:
        description, per_in, per_out = LLM_CARDS.get(name, (f"LLM {name}", 0.0, 0.0))
        add_llm(client, name, description, per_in, per_out)
    for task in tasks:
        client.set_task(router_pb2.SetTaskRequest(task=router_pb2.TaskInfo(
            name=task, description=TASK_CARDS.get(task, task), query_text=router_pb2.QUERY_TEXT_LAST_BLOCK)))


def add_llm(client, name, description, per_in, per_out):
    client.add_llm(router_pb2.AddLLMRequest(llm=router_pb2.LLMInfo(
        name=name, description=description,
        price=router_pb2.LLMPrice(per_input_token=per_in, per_output_token=per_out))))


def write_part(files, rows_by_file, scratch):
    """CSV files holding only the given rows of each file (for graphctl import routerbench)."""
    paths = []
    for f, (header, rows) in enumerate(files):
        path = os.path.join(scratch, f"part-{f}.csv")
        with open(path, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(header)
            writer.writerows(rows[r] for r in rows_by_file.get(f, []))
        paths.append(path)
    return paths


def stream(client, data, rows, wp, wc, explore, seed, hidden=None, midpoint=None, on_add=None):
    """Routes and feeds back each row; returns the chosen LLM indices and exploratory flags."""
    te, llms = data.test, data.llms
    index = {m: j for j, m in enumerate(llms)}
    chosen, exploratory = [], []
    for step, i in enumerate(rows):
        if hidden is not None and step == midpoint:
            on_add()
        request = router_pb2.RouteRequest(query=te["text"][i], task=str(te["task"][i]), performance_weight=wp, cost_weight=wc)
        if explore:
            request.explore_max_regret = explore
            request.explore_seed = seed * 1_000_003 + step + 1
        answer = client.route(request)
        m = index[answer.llm]
        client.feedback(router_pb2.FeedbackRequest(decision_id=answer.decision_id, outcomes=[router_pb2.Outcome(
            llm=answer.llm, effect=float(te["perf"][i, m]), cost=float(te["cost"][i, m]))]))
        chosen.append(m)
        exploratory.append(answer.exploratory)
    return np.array(chosen), exploratory


def report(data, rows, chosen, wp, wc, window):
    te = data.test
    r = wp * te["perf"][rows] - wc * te["cnorm"][rows]
    tasks = te["task"][rows]
    got = r[np.arange(len(rows)), chosen]
    half = len(rows) // 2

    def best_single(span):
        """Reward of the best single LLM per task, chosen in hindsight over `span` (row positions)."""
        out = np.zeros(len(span))
        for t in set(tasks[span]):
            mask = tasks[span] == t
            best = r[span][mask].mean(axis=0).argmax()
            out[mask] = r[span][mask][:, best]
        return out

    whole, second = np.arange(len(rows)), np.arange(half, len(rows))
    windows = []
    for start in range(0, len(rows), window):
        span = np.arange(start, min(start + window, len(rows)))
        windows.append({"start": int(start), "graphd": float(got[span].mean()), "best_single_per_task": float(best_single(span).mean()),
                        "oracle": float(r[span].max(axis=1).mean()), "random": float(r[span].mean(axis=1).mean())})
    return {
        "rows": len(rows),
        "second_half": {"graphd": float(got[second].mean()), "best_single_per_task": float(best_single(second).mean()),
                        "oracle": float(r[second].max(axis=1).mean()), "random": float(r[second].mean(axis=1).mean())},
        "whole": {"graphd": float(got.mean()), "best_single_per_task": float(best_single(whole).mean()),
                  "oracle": float(r.max(axis=1).mean()), "random": float(r.mean(axis=1).mean())},
        "windows": windows,
    }


def adoption(data, rows, chosen, wp, wc, hidden_index, midpoint):
    """After the midpoint, over the requests of the tasks where the hidden LLM is the best single
    LLM in hindsight (second half): the request count at its first choice, and at which the
    trailing 20 of those requests first send half or more to it."""
    te = data.test
    r = wp * te["perf"][rows] - wc * te["cnorm"][rows]
    tasks = te["task"][rows]
    second = np.arange(midpoint, len(rows))
    won = [t for t in set(tasks[second]) if r[second][tasks[second] == t].mean(axis=0).argmax() == hidden_index]
    picks = [chosen[p] == hidden_index for p in second if tasks[p] in won]
    first = next((k + 1 for k, hit in enumerate(picks) if hit), None)
    adopted = next((k + 1 for k in range(19, len(picks)) if sum(picks[k - 19:k + 1]) >= 10), None)
    return {"tasks_it_wins": sorted(map(str, won)), "requests_of_those_tasks": len(picks), "first_sent_after": first,
            "adopted_after": adopted, "share_sent_to_it": float(np.mean(picks)) if picks else None}


def dominant_llm(data, rows, wp, wc):
    """The LLM that is the best single LLM (in hindsight) of the tasks with the most rows."""
    te = data.test
    r = wp * te["perf"][rows] - wc * te["cnorm"][rows]
    tasks = te["task"][rows]
    wins = {}
    for t in set(tasks):
        best = data.llms[int(r[tasks == t].mean(axis=0).argmax())]
        wins[best] = wins.get(best, 0) + int((tasks == t).sum())
    return max(wins, key=wins.get)


def run_one(a, data, files, rows, mode, weighting, explore, scratch, name):
    w, wp, wc = weighting
    graphd = Graphd(a, scratch, name)
    try:
        with GraphdClient.unix(graphd.sock, timeout=600) as client:
            hidden = midpoint = on_add = None
            if mode == "warm":
                warm = int(len(rows) * a.warm_share)
                by_file = {}
                for i in rows[:warm]:
                    f, r = data.origin[i]
                    by_file.setdefault(f, []).append(r)
                graphd.ctl("import", "routerbench", *write_part(files, by_file, scratch))
                graphd.ctl("train", "router", "--quiet")
                streamed = rows[warm:]
            else:
                streamed = rows
                llms = list(data.llms)
                if mode == "new-llm":
                    hidden, midpoint = a.new_llm if a.new_llm != "auto" else dominant_llm(data, rows, wp, wc), len(rows) // 2
                    llms.remove(hidden)
                    description, per_in, per_out = LLM_CARDS[hidden]
                    on_add = lambda: add_llm(client, hidden, description, per_in, per_out)  # noqa: E731
                register_cold(client, llms, data.tasks)
            started = time.monotonic()
            chosen, exploratory = stream(client, data, streamed, wp, wc, explore, a.seed, hidden, midpoint, on_add)
            seconds = time.monotonic() - started
    finally:
        graphd.stop()
    result = report(data, streamed, chosen, wp, wc, a.window)
    result.update(mode=mode, weighting=w, explore_max_regret=explore, seconds=seconds,
                  exploratory_share=float(np.mean(exploratory)))
    if hidden is not None:
        result["new_llm"] = {"llm": hidden, **adoption(data, streamed, chosen, wp, wc, data.llms.index(hidden), midpoint)}
    with open(os.path.join(a.out, f"{name}.json"), "w") as f:
        json.dump({**result, "chosen": [data.llms[m] for m in chosen], "exploratory": exploratory}, f)
    return result, chosen


async def through_litellm(a, data, rows, weighting, scratch):
    """The cold stream through LiteLLM: graphd_litellm's plugin and logger, mock deployments."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm
    from graphd_litellm import GraphdFeedbackLogger, GraphdRoutingPlugin
    te = data.test
    w, wp, wc = weighting
    responses = read_responses(data)

    class FileAnswers(litellm.CustomLLM):
        async def acompletion(self, *args, **kwargs):
            row = ((kwargs.get("litellm_params") or {}).get("metadata") or {})["row"]
            llm = kwargs["model"]
            return litellm.ModelResponse(model=llm, choices=[{"index": 0, "finish_reason": "stop",
                                                              "message": {"role": "assistant", "content": responses[row][llm]}}])

    litellm.custom_provider_map = [{"provider": "routerbench", "custom_handler": FileAnswers()}]
    litellm.suppress_debug_info = True
    index = {m: j for j, m in enumerate(data.llms)}
    deployments = [{"model_name": "auto", "litellm_params": {"model": f"routerbench/{m}"}, "model_info": {"id": m}} for m in data.llms]
    graphd = Graphd(a, scratch, f"litellm-{w}")
    try:
        with GraphdClient.unix(graphd.sock, timeout=600) as client:
            register_cold(client, data.llms, data.tasks)
        plugin = GraphdRoutingPlugin(graphd.sock, performance_weight=wp, cost_weight=wc, timeout=10.0, prompt="last_user")
        router = litellm.Router(model_list=deployments, plugins=[plugin], num_retries=0)
        plugin.attach(router)

        def row_of(kwargs):
            return (kwargs.get("litellm_params") or {}).get("metadata", {})["row"]

        def effect(kwargs, response):
            return float(te["perf"][row_of(kwargs), index[kwargs["litellm_params"]["model_info"]["id"]]])

        def cost(kwargs, response):
            return float(te["cost"][row_of(kwargs), index[kwargs["litellm_params"]["model_info"]["id"]]])

        logger = GraphdFeedbackLogger(graphd.sock, effect=effect, cost=cost)
        litellm.callbacks = [logger]
        chosen = []
        for i in rows:
            response = await router.acompletion(model="auto", messages=[{"role": "user", "content": te["text"][i]}],
                                                metadata={"graphd_task": str(te["task"][i]), "row": int(i)})
            chosen.append(index[response._hidden_params["model_id"]])
            # The direct run feeds back before its next Route: so does this one.
            await asyncio.get_running_loop().run_in_executor(None, logger.flush)
        litellm.callbacks = []
        stats = {"plugin": dict(plugin.stats), "logger": dict(logger.stats)}
    finally:
        graphd.stop()
    return np.array(chosen), stats


def read_responses(data):
    """Each row's '<llm>|model_response' cells, by LLM name."""
    out = []
    for header, rows in data.raw:
        col = {h: i for i, h in enumerate(header)}
        for row in rows:
            out.append({m: row[col[m + "|model_response"]] for m in data.llms})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--graphd", required=True)
    ap.add_argument("--graphctl", required=True)
    ap.add_argument("--data", nargs="+", required=True, help="routerbench CSVs (one task each)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--modes", default="cold,warm,new-llm")
    ap.add_argument("--weightings", default="performance_first,balance,cost_first")
    ap.add_argument("--seed", type=int, default=7, help="the stream's order (and the exploration seeds)")
    ap.add_argument("--window", type=int, default=200)
    ap.add_argument("--warm-share", type=float, default=0.3)
    ap.add_argument("--new-llm", default="auto", help="the LLM hidden until the midpoint (auto: the best single LLM of the most rows)")
    ap.add_argument("--explore-max-regret", type=float, default=0.0, help="also run with exploration within this bound")
    ap.add_argument("--via-litellm", action="store_true")
    ap.add_argument("--embedder", default="minilm", choices=["minilm", "hashed"])
    router_scorer.add_argument(ap)
    a = ap.parse_args()
    ev = router_scorer.load(a.scorer)
    data = ev.Data(a.data, a.data, "full")
    data.raw = read_raw(a.data)
    data.origin = [(f, r) for f, (_, rows) in enumerate(data.raw) for r in range(len(rows))]
    os.makedirs(a.out, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix="router-stream-")
    rows = list(range(len(data.test["text"])))
    random.Random(a.seed).shuffle(rows)
    rows = np.array(rows)
    weightings = [w for w in ev.WEIGHTINGS if w[0] in a.weightings.split(",")]
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; rows {len(rows)}, seed {a.seed}",
          file=sys.stderr)
    results = []
    explores = [0.0] + ([a.explore_max_regret] if a.explore_max_regret > 0 else [])
    for mode in filter(None, a.modes.split(",")):
        for weighting in weightings:
            for explore in explores:
                name = f"{mode}-{weighting[0]}-explore{explore:g}-seed{a.seed}"
                result, _ = run_one(a, data, data.raw, rows, mode, weighting, explore, scratch, name)
                results.append(result)
                line = (f"{mode:8} {weighting[0]:17} explore {explore:<5g} second half: graphd {result['second_half']['graphd']:.4f} "
                        f"best-single/task {result['second_half']['best_single_per_task']:.4f} "
                        f"oracle {result['second_half']['oracle']:.4f} random {result['second_half']['random']:.4f}; "
                        f"whole: graphd {result['whole']['graphd']:.4f} best-single/task {result['whole']['best_single_per_task']:.4f}; "
                        f"explored {result['exploratory_share']:.3f}; {result['seconds']:.0f} s")
                if "new_llm" in result:
                    n = result["new_llm"]
                    line += (f"; new {n['llm']} wins {n['tasks_it_wins']}: first sent after {n['first_sent_after']}, "
                             f"adopted after {n['adopted_after']} of {n['requests_of_those_tasks']} (share {n['share_sent_to_it']})")
                print(line, flush=True)
    if a.via_litellm:
        for weighting in weightings:
            direct, _ = run_one(a, data, data.raw, rows, "cold", weighting, 0.0, scratch, f"direct-{weighting[0]}-seed{a.seed}")
            chosen, stats = asyncio.run(through_litellm(a, data, rows, weighting, scratch))
            via = report(data, rows, chosen, weighting[1], weighting[2], a.window)
            direct_chosen = json.load(open(os.path.join(a.out, f"direct-{weighting[0]}-seed{a.seed}.json")))["chosen"]
            agree = float(np.mean([data.llms[m] == d for m, d in zip(chosen, direct_chosen)]))
            results.append({"mode": "litellm", "weighting": weighting[0], "whole": via["whole"], "direct_whole": direct["whole"],
                            "same_choice_share": agree, **stats})
            print(f"litellm  {weighting[0]:17} whole: via LiteLLM {via['whole']['graphd']:.4f}, direct {direct['whole']['graphd']:.4f}; "
                  f"same choice on {agree:.3f} of rows; {stats}", flush=True)
    with open(os.path.join(a.out, f"summary-seed{a.seed}.json"), "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
