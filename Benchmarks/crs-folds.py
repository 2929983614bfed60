#!/usr/bin/env python3
"""K-fold cross-validation of G-CRS retrieval on pooled INSPIRED dialogues.

  crs-folds.py split DIALOGS.jsonl [DIALOGS.jsonl …] --out DIR [--folds 5] [--seed 1]
      Pools the files' dialogues, puts identical dialogues (the same turns) in one
      group, deals the groups into K folds at random (seeded), and writes
      DIR/fold-k/train.jsonl (every other fold) and DIR/fold-k/dialogs.jsonl (fold k).
      A dialogue is never in two folds, nor in its own fold's training file.
  crs-folds.py run DIR --graphd-bench BIN --data-dir DATA [--name NAME] [-- BENCH-CRS-OPTIONS …]
      For each fold: graphd-bench crs --train fold-k/train.jsonl --dialogs
      fold-k/dialogs.jsonl, scored by ../shared/bench/crs_eval.py; prints each fold's
      new-only and all HR@10 / HR@50, and their mean ± a 95 % t-interval over folds.

Choose retrieval settings by the mean over folds, never on the test dialogues.
"""
import argparse
import json
import math
import os
import random
import subprocess
import sys

SCORER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "bench", "crs_eval.py")
# Two-sided 97.5 % quantiles of Student's t for 1…30 degrees of freedom.
T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
        2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def read_dialogues(paths):
    """(source, line number, text) of every non-empty line, in file order."""
    out = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    turns = json.loads(line)
                except json.JSONDecodeError as e:
                    sys.exit(f"crs-folds: {path}:{number}: not JSON ({e})")
                if not isinstance(turns, list):
                    sys.exit(f"crs-folds: {path}:{number}: a dialogue must be a list of turns")
                out.append((path, number, line.rstrip("\n"), turns))
    return out


def identity(turns):
    """What makes two dialogues the same: their turns' roles and texts."""
    return json.dumps([(t.get("role"), t.get("text")) for t in turns if isinstance(t, dict)], ensure_ascii=False)


def split(args):
    if args.folds < 2:
        sys.exit("crs-folds: --folds must be at least 2")
    dialogues = read_dialogues(args.dialogs)
    groups = {}
    for entry in dialogues:
        groups.setdefault(identity(entry[3]), []).append(entry)
    keys = sorted(groups)
    if len(keys) < args.folds:
        sys.exit(f"crs-folds: {len(keys)} distinct dialogues cannot fill {args.folds} folds")
    random.Random(args.seed).shuffle(keys)
    fold_of = {key: i % args.folds for i, key in enumerate(keys)}
    for k in range(args.folds):
        directory = os.path.join(args.out, f"fold-{k}")
        os.makedirs(directory, exist_ok=True)
        with open(os.path.join(directory, "train.jsonl"), "w", encoding="utf-8") as train, \
             open(os.path.join(directory, "dialogs.jsonl"), "w", encoding="utf-8") as held:
            for key in keys:
                # A group's copies all go the same way; held-out folds keep one copy.
                members = groups[key]
                if fold_of[key] == k:
                    held.write(members[0][2] + "\n")
                else:
                    for member in members:
                        train.write(member[2] + "\n")
    duplicates = len(dialogues) - len(keys)
    print(f"{len(dialogues)} dialogues ({duplicates} duplicates grouped) into {args.folds} folds -> {args.out}")


def interval(values):
    n = len(values)
    mean = sum(values) / n
    if n < 2:
        return mean, float("nan")
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, T975[min(n - 1, len(T975)) - 1] * sd / math.sqrt(n)


def run(args):
    folds = sorted(d for d in os.listdir(args.dir) if d.startswith("fold-"))
    if not folds:
        sys.exit(f"crs-folds: no fold-k directories in {args.dir} (run 'split' first)")
    metrics = {("new", "hr@10"): [], ("new", "hr@50"): [], ("all", "hr@10"): [], ("all", "hr@50"): []}
    for fold in folds:
        directory = os.path.join(args.dir, fold)
        predictions = os.path.join(directory, f"predictions-{args.name}.jsonl")
        command = [args.graphd_bench, "crs", "--data-dir", args.data_dir, "--train", os.path.join(directory, "train.jsonl"),
                   "--dialogs", os.path.join(directory, "dialogs.jsonl"), "--predictions", predictions] + args.bench
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"crs-folds: {' '.join(command)} failed:\n{done.stderr}")
        scored = subprocess.run([sys.executable, args.scorer, "score", os.path.join(directory, "dialogs.jsonl"), predictions,
                                 "--data-dir", args.data_dir], capture_output=True, text=True)
        if scored.returncode != 0:
            sys.exit(f"crs-folds: scoring {fold} failed:\n{scored.stderr}")
        result = json.loads(scored.stdout)
        for (view, name), values in metrics.items():
            values.append(result[view][name])
        print(f"{fold}: new HR@10 {result['new']['hr@10']:.4f} HR@50 {result['new']['hr@50']:.4f} "
              f"({result['new']['pairs']} pairs); all HR@10 {result['all']['hr@10']:.4f} HR@50 {result['all']['hr@50']:.4f}", flush=True)
    for (view, name), values in metrics.items():
        mean, half = interval(values)
        print(f"{args.name} {view} {name}: {mean:.4f} ± {half:.4f} (95 % t-interval over {len(values)} folds)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=__doc__.split("\n\n", 1)[1])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("split", help="pool dialogues and write K folds")
    s.add_argument("dialogs", nargs="+")
    s.add_argument("--out", required=True)
    s.add_argument("--folds", type=int, default=5)
    s.add_argument("--seed", type=int, default=1)
    r = sub.add_parser("run", help="run and score graphd-bench crs on every fold")
    r.add_argument("dir")
    r.add_argument("--graphd-bench", required=True)
    r.add_argument("--data-dir", required=True)
    r.add_argument("--name", default="default", help="label of this setting (names the prediction files)")
    r.add_argument("--scorer", default=SCORER, help="crs_eval.py (default: ../shared/bench/crs_eval.py)")
    argv = sys.argv[1:]
    bench = argv[argv.index("--") + 1:] if "--" in argv else []
    args = ap.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    if args.command == "run":
        args.bench = bench  # after --: options passed to graphd-bench crs
        run(args)
    else:
        split(args)


if __name__ == "__main__":
    main()
