#!/usr/bin/env python3
"""Explore spectral graph filters for Recommend on validation splits (numpy/scipy).

A research aid, not graphd: graphd's scorers are Swift. It computes, per split,
the leading eigenpairs of the item–item operator P = R̃ᵀR̃ (R̃ = Du^-½ R Di^-½)
once, then scores every user with filters of the form

    D^β [ c·P + V (h(Λ) − c·Λ) Vᵀ ] D^-β r

(h: a response on P's leading eigenvalues; c·P stands in for h on the rest of
the spectrum, where ChebyCF's response is close to linear), and reports
Recall@20 / NDCG@20 (LightGCN protocol) per split and their mean ± spread.

usage: spectral-filter-lab.py SPLITDIR [SPLITDIR …] --configs FILE.json [--dimensions 512]
       spectral-filter-lab.py SPLITDIR --exact-chebycf   (the degree-K polynomial itself, slow)
SPLITDIR holds train.txt and test.txt (Benchmarks/split-lightgcn.py writes them).
A config: {"name":…, "response": "chebycf"|"step"|"linear", "K":8, "phi":1.5,
"ideal_weight":0.2, "ideal_dimensions":512, "beta":0.4, "ideal_beta": (default beta),
"linear": c or null (fitted to the response on the tail), "fuse_rp3": w (add w × RP3β's
scores, each user's scores of both scaled to a maximum of 1)}.
"""
import argparse
import json
import math
import time

import numpy as np
import scipy.sparse as sp


def read(path):
    rows = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if parts:
                rows[int(parts[0])] = [int(x) for x in parts[1:]]
    return rows


def load_split(directory):
    train, test = read(directory + "/train.txt"), read(directory + "/test.txt")
    users = max(max(train), max(test)) + 1
    items = 1 + max(max((max(v) for v in train.values() if v), default=0),
                    max((max(v) for v in test.values() if v), default=0))
    r, c = [], []
    for u, its in train.items():
        r.extend([u] * len(its))
        c.extend(its)
    R = sp.csr_matrix((np.ones(len(r), dtype=np.float32), (r, c)), shape=(users, items))
    R.sum_duplicates()
    R.data[:] = 1
    return R, test


def normalized(R):
    du = np.asarray(R.sum(1)).ravel()
    di = np.asarray(R.sum(0)).ravel()
    ru = np.where(du > 0, 1 / np.sqrt(np.maximum(du, 1)), 0).astype(np.float32)
    ri = np.where(di > 0, 1 / np.sqrt(np.maximum(di, 1)), 0).astype(np.float32)
    return (sp.diags(ru) @ R @ sp.diags(ri)).tocsr().astype(np.float32), di


def leading_eigen(Rn, count, oversample=64, iterations=4, seed=1):
    """Randomized subspace iteration on P = RnᵀRn (Halko et al.)."""
    n = Rn.shape[1]
    RnT = Rn.T.tocsr()
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((n, count + oversample)).astype(np.float32)
    Q, _ = np.linalg.qr(Q)
    for _ in range(iterations):
        Q, _ = np.linalg.qr(RnT @ (Rn @ Q))
    B = Q.T @ (RnT @ (Rn @ Q))
    w, U = np.linalg.eigh(B.astype(np.float64))
    order = np.argsort(w)[::-1][:count]
    return w[order].astype(np.float32), (Q @ U[:, order].astype(np.float32))


def plateau(order, flatness):
    x = np.cos((order - np.arange(order + 1)) / order * math.pi).round(3)
    out = np.where(x < 0, 0.5 + 0.5 * np.abs(x) ** flatness, 0.5 - 0.5 * np.abs(x) ** flatness)
    return out.round(3)


def chebyshev_coefficients(order, flatness):
    """ChebyCF's interpolation of the plateau at the Chebyshev nodes (in x = 1 − 2λ)."""
    nodes = np.cos(((order + 1) + 0.5 - np.arange(1, order + 2)) / (order + 1) * math.pi)
    target = plateau(order, flatness)
    T = [np.ones_like(nodes), nodes.copy()]
    for _ in range(2, order + 1):
        T.append(2 * nodes * T[-1] - T[-2])
    T = np.stack(T[:order + 1])  # (order+1, nodes)
    coeffs = (T * target[None, :]).sum(1) * (2 / (order + 1))
    # ChebyCF sums T_k(node_j)·target_k over the *node* index paired with k; mirror that.
    coeffs = np.array([(np.polynomial.chebyshev.chebval(nodes, np.eye(order + 1)[k]) * target).sum() for k in range(order + 1)]) * (2 / (order + 1))
    coeffs[0] /= 2
    return coeffs


def chebycf_response(lam, order, flatness):
    return np.polynomial.chebyshev.chebval(1 - 2 * lam, chebyshev_coefficients(order, flatness))


def response(config, lam):
    kind = config.get("response", "chebycf")
    if kind == "chebycf":
        return chebycf_response(lam, config.get("K", 8), config.get("phi", 1.5))
    if kind == "step":
        cut, width = config["cut"], config.get("width", 0.05)
        return 1 / (1 + np.exp(-(lam - cut) / width))
    if kind == "linear":
        return lam.copy()
    raise ValueError(kind)


def evaluate(R, test, scores_for, k=20, block=2048, every=1):
    users = [u for u in sorted(test) if u < R.shape[0] and R[u].nnz > 0][::every]
    discounts = 1 / np.log2(np.arange(2, k + 2))
    recall = ndcg = 0.0
    for start in range(0, len(users), block):
        chunk = np.array(users[start:start + block])
        S = scores_for(chunk)
        X = R[chunk]
        S[X.nonzero()] = -np.inf
        top = np.argpartition(-S, k, axis=1)[:, :k]
        order = np.take_along_axis(S, top, 1).argsort(1)[:, ::-1]
        top = np.take_along_axis(top, order, 1)
        for row, u in enumerate(chunk):
            gold = set(test[u])
            hits = np.array([i in gold for i in top[row]], dtype=np.float64)
            recall += hits.sum() / len(gold)
            ideal = discounts[:min(len(gold), k)].sum()
            ndcg += (hits * discounts).sum() / ideal
    return recall / len(users), ndcg / len(users)


def fitted_slope(h, lam, tail_top):
    """c with c·λ ≈ h(λ) on the tail [0, tail_top] (least squares on a grid)."""
    grid = np.linspace(0, tail_top, 200)
    values = h(grid)
    return float((grid * values).sum() / (grid * grid).sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("splits", nargs="+")
    ap.add_argument("--configs")
    ap.add_argument("--dimensions", type=int, default=512)
    ap.add_argument("--exact-chebycf", action="store_true")
    ap.add_argument("--every", type=int, default=1, help="score every N-th user only (faster comparisons)")
    a = ap.parse_args()
    configs = json.load(open(a.configs)) if a.configs else []
    results = {c["name"]: [] for c in configs}
    for directory in a.splits:
        R, test = load_split(directory)
        Rn, di = normalized(R)
        RnT = Rn.T.tocsr()
        if a.exact_chebycf:
            coeffs = chebyshev_coefficients(8, 1.5)
            lam_v, V = leading_eigen(Rn, 512)
            pre = np.where(di > 0, np.maximum(di, 1) ** -0.4, 0).astype(np.float32)
            post = np.where(di > 0, np.maximum(di, 1) ** 0.4, 0).astype(np.float32)

            def exact(chunk):
                X = (R[chunk].toarray() * pre).T  # items × users
                Lx = lambda Y: Y - 2 * (RnT @ (Rn @ Y))
                T0, T1 = X, Lx(X)
                out = coeffs[0] * T0 + coeffs[1] * T1
                for kk in range(2, 9):
                    T0, T1 = T1, 2 * Lx(T1) - T0
                    out += coeffs[kk] * T1
                out = out.T + 0.2 * ((X.T @ V) @ V.T)
                return out * post
            t = time.time()
            print(directory, "exact ChebyCF", evaluate(R, test, exact), f"{time.time() - t:.0f}s", flush=True)
            continue
        t = time.time()
        lam, V = leading_eigen(Rn, a.dimensions)
        print(f"{directory}: eigen {a.dimensions} in {time.time() - t:.0f}s, λ from {lam[0]:.3f} to {lam[-1]:.4f}", flush=True)
        for config in configs:
            d = min(config.get("dimensions", a.dimensions), a.dimensions)
            ideal_d = min(config.get("ideal_dimensions", d), d)
            l, Vd = lam[:d], V[:, :d]
            h = lambda x, config=config: response(config, x)
            c = config.get("linear")
            if c is None:
                c = fitted_slope(h, l, float(l[-1]))
            coefficient = (h(l) - c * l).astype(np.float32)
            beta = config.get("beta", 0.5)
            ideal_beta = config.get("ideal_beta", beta)
            alpha = config.get("ideal_weight", 0.0)
            if ideal_beta == beta:
                coefficient[:ideal_d] += alpha
                alpha = 0.0
            power = lambda e: np.where(di > 0, np.maximum(di, 1) ** e, 0).astype(np.float32)
            pre, post, ipre, ipost = power(-beta), power(beta), power(-ideal_beta), power(ideal_beta)

            fuse = config.get("fuse_rp3", 0.0)
            if fuse:
                # RP3β (α 0.7, β 0.2): walk probabilities raised to α, end item over degree^β.
                du = np.asarray(R.sum(1)).ravel()
                Pui = (sp.diags(np.where(du > 0, np.maximum(du, 1) ** -0.7, 0).astype(np.float32)) @ R).tocsr()
                Piu = (sp.diags(np.where(di > 0, np.maximum(di, 1) ** -0.7, 0).astype(np.float32)) @ R.T).tocsr()
                popularity = np.where(di > 0, np.maximum(di, 1) ** -0.2, 0).astype(np.float32)

            def scores(chunk, c=c, coefficient=coefficient, Vd=Vd, pre=pre, post=post, alpha=alpha, ideal_d=ideal_d, fuse=fuse):
                out = filtered(chunk, c, coefficient, Vd, pre, post, alpha, ideal_d)
                if not fuse:
                    return out
                walk = np.asarray(((Pui[chunk] @ Piu) @ Pui).todense()) * popularity
                scale = lambda m: m / np.maximum(np.abs(m).max(1, keepdims=True), 1e-12)
                return scale(out) + fuse * scale(walk)

            def filtered(chunk, c, coefficient, Vd, pre, post, alpha, ideal_d):
                X = R[chunk] @ sp.diags(pre)
                out = ((X @ Vd) * coefficient) @ Vd.T
                if c:
                    out += c * np.asarray(((X @ RnT) @ Rn).todense())
                out *= post
                if alpha:
                    Xi = R[chunk] @ sp.diags(ipre)
                    out += alpha * (((Xi @ Vd[:, :ideal_d]) @ Vd[:, :ideal_d].T) * ipost)
                return out
            t = time.time()
            recall, ndcg = evaluate(R, test, scores, every=a.every)
            results[config["name"]].append((recall, ndcg))
            print(f"  {config['name']:<28} c={c:.3f} recall {recall:.4f} ndcg {ndcg:.4f} ({time.time() - t:.0f}s)", flush=True)
    if len(a.splits) > 1:
        print("mean over splits (min–max):")
        for name, values in results.items():
            r = np.array(values)
            print(f"  {name:<28} recall {r[:,0].mean():.4f} ({r[:,0].min():.4f}–{r[:,0].max():.4f})"
                  f"  ndcg {r[:,1].mean():.4f} ({r[:,1].min():.4f}–{r[:,1].max():.4f})")


if __name__ == "__main__":
    main()
