#!/usr/bin/env python3
"""Reference values for candor_core::stats (crates/core/tests/it/stats_reference.rs).

Run with the project's venv:  /work/venv/bin/python tools/make_stats_fixtures.py
Writes crates/core/tests/fixtures/stats.json. scipy/statsmodels give the distributions,
proportion intervals, binomial/McNemar/t/Mann-Whitney tests and Holm; DeLong is the
standard fast algorithm (Sun & Xu 2014) written out below, and its clustered form
(Obuchowski 1997) a direct O(MN) implementation; the bootstrap intervals come from
scipy.stats.bootstrap with many resamples (the Rust test allows Monte Carlo error).
"""
import json
import pathlib

import numpy as np
import scipy
import statsmodels
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

OUT = pathlib.Path(__file__).resolve().parents[1] / "crates/core/tests/fixtures/stats.json"
rng = np.random.default_rng(20240607)


def f(x):
    return float(x)


def dist_cases():
    out = {"normal": [], "t": [], "beta": [], "binom": []}
    for x in [-8.0, -3.5, -1.959963984540054, -0.3, 0.0, 0.7, 2.5, 6.0]:
        out["normal"].append({"x": x, "cdf": f(stats.norm.cdf(x)), "sf": f(stats.norm.sf(x))})
    for p in [1e-12, 1e-6, 0.001, 0.025, 0.2, 0.5, 0.8, 0.975, 0.999, 1 - 1e-9]:
        out["normal"].append({"p": p, "ppf": f(stats.norm.ppf(p))})
    for df in [1.0, 2.0, 3.7, 4.0, 9.0, 29.0, 200.0]:
        for x in [-6.0, -2.0, -0.5, 0.0, 1.3, 2.776, 10.0]:
            out["t"].append({"df": df, "x": x, "cdf": f(stats.t.cdf(x, df)), "sf": f(stats.t.sf(x, df))})
        for p in [1e-6, 0.025, 0.05, 0.3, 0.9, 0.95, 0.975, 0.9995]:
            out["t"].append({"df": df, "p": p, "ppf": f(stats.t.ppf(p, df))})
    for a, b in [(0.5, 0.5), (1.0, 3.0), (2.5, 7.5), (45.0, 6.0), (190.0, 11.0), (3.0, 1000.0)]:
        for x in [1e-4, 0.01, 0.2, 0.5, 0.8, 0.95, 0.9999]:
            out["beta"].append({"a": a, "b": b, "x": x, "cdf": f(stats.beta.cdf(x, a, b))})
        for p in [1e-8, 0.025, 0.05, 0.5, 0.95, 0.975]:
            out["beta"].append({"a": a, "b": b, "p": p, "ppf": f(stats.beta.ppf(p, a, b))})
    for n, p in [(10, 0.5), (50, 0.9), (200, 0.9), (1000, 0.03), (7, 0.01)]:
        for k in sorted({0, 1, n // 3, n // 2, int(n * p), n - 1, n}):
            out["binom"].append({"n": n, "p": p, "k": k, "cdf": f(stats.binom.cdf(k, n, p)),
                                 "sf_ge": f(stats.binom.sf(k - 1, n, p))})
    return out


def proportion_cases():
    out = []
    for k, n in [(0, 10), (1, 10), (45, 50), (50, 50), (190, 200), (160, 200), (3, 1000), (500, 1000), (17, 23)]:
        for conf in [0.90, 0.95, 0.99]:
            w = proportion_confint(k, n, alpha=1 - conf, method="wilson")
            cp = proportion_confint(k, n, alpha=1 - conf, method="beta")
            out.append({"k": k, "n": n, "conf": conf, "wilson": [f(w[0]), f(w[1])],
                        "clopper_pearson": [f(cp[0]), f(cp[1])]})
    tests = []
    for k, n, p0 in [(45, 50, 0.9), (190, 200, 0.9), (160, 200, 0.9), (3, 100, 0.05), (0, 20, 0.1), (20, 20, 0.5)]:
        tests.append({"k": k, "n": n, "p0": p0,
                      "greater": f(stats.binomtest(k, n, p0, alternative="greater").pvalue),
                      "less": f(stats.binomtest(k, n, p0, alternative="less").pvalue)})
    # Fractional counts (the mean of values in [0, 1] times n): Wilson only.
    frac = []
    for count, n in [(110.5, 200), (37.25, 50), (0.4, 10), (199.9, 200), (3.3, 7), (0.0, 12.5)]:
        for conf in [0.90, 0.95, 0.99]:
            w = proportion_confint(count, n, alpha=1 - conf, method="wilson")
            frac.append({"count": count, "n": n, "conf": conf, "wilson": [f(w[0]), f(w[1])]})
    return {"intervals": out, "binomtest": tests, "fractional_wilson": frac}


def mcnemar_cases():
    out = []
    for n10, n01, same in [(3, 1, 10), (30, 5, 100), (5, 30, 100), (10, 9, 50), (0, 0, 20), (12, 0, 5), (40, 25, 300)]:
        table = [[same, n10], [n01, 0]]
        r = mcnemar(table, exact=True)
        out.append({"n10": n10, "n01": n01, "n": n10 + n01 + same, "p_two_sided": f(r.pvalue),
                    "p_greater": f(stats.binom.sf(n10 - 1, n10 + n01, 0.5)) if n10 + n01 > 0 else 1.0})
    return out


def t_cases():
    out = {"welch": [], "one_sample": []}
    for na, nb, shift, sb in [(5, 5, 10.0, 2.0), (3, 8, 0.3, 0.5), (20, 25, -0.2, 1.0), (5, 5, 0.0, 1.0)]:
        a = np.round(rng.normal(shift, 1.0, na), 6)
        b = np.round(rng.normal(0.0, sb, nb), 6)
        r2 = stats.ttest_ind(a, b, equal_var=False)
        rg = stats.ttest_ind(a, b, equal_var=False, alternative="greater")
        rl = stats.ttest_ind(a, b, equal_var=False, alternative="less")
        ci = r2.confidence_interval(0.90)
        out["welch"].append({"a": a.tolist(), "b": b.tolist(), "t": f(r2.statistic), "df": f(r2.df),
                             "p_two_sided": f(r2.pvalue), "p_greater": f(rg.pvalue), "p_less": f(rl.pvalue),
                             "ci90": [f(ci.low), f(ci.high)]})
    for n, mu, pop in [(5, 185.0, 170.0), (12, 0.0, 0.1), (3, 1.0, 1.0)]:
        x = np.round(rng.normal(mu, 5.0 if mu > 10 else 0.3, n), 6)
        rg = stats.ttest_1samp(x, pop, alternative="greater")
        rl = stats.ttest_1samp(x, pop, alternative="less")
        ci = stats.ttest_1samp(x, pop).confidence_interval(0.90)
        out["one_sample"].append({"x": x.tolist(), "popmean": pop, "p_greater": f(rg.pvalue),
                                  "p_less": f(rl.pvalue), "ci90": [f(ci.low), f(ci.high)]})
    return out


def mw_cases():
    out = []
    cases = [
        ([190.0, 192.0, 195.0, 198.0, 199.0], [150.0, 160.0, 161.0, 170.0, 171.0]),
        (np.round(rng.normal(0.5, 1, 6), 4).tolist(), np.round(rng.normal(0, 1, 8), 4).tolist()),
        (np.round(rng.normal(0.3, 1, 4), 4).tolist(), np.round(rng.normal(0, 1, 30), 4).tolist()),
        ([1.0, 2.0, 2.0, 3.0, 5.0], [2.0, 2.0, 1.0, 0.0, 4.0, 4.0]),  # ties: asymptotic
        (np.round(rng.normal(0.2, 1, 25), 3).tolist(), np.round(rng.normal(0, 1, 30), 3).tolist()),
        ([200.0] * 5, [200.0] * 5),
    ]
    for a, b in cases:
        rg = stats.mannwhitneyu(a, b, alternative="greater")
        rl = stats.mannwhitneyu(a, b, alternative="less")
        r2 = stats.mannwhitneyu(a, b, alternative="two-sided")
        d = np.sort(np.subtract.outer(np.asarray(a), np.asarray(b)).ravel())
        out.append({"a": list(map(float, a)), "b": list(map(float, b)), "u": f(rg.statistic),
                    "p_greater": f(rg.pvalue), "p_less": f(rl.pvalue), "p_two_sided": f(r2.pvalue),
                    "hodges_lehmann": f(np.median(d))})
    return out


def holm_cases():
    out = []
    for p in [[0.01, 0.04, 0.03, 0.5], [0.001, 0.2, 0.049, 0.05, 0.0125], [0.3], [0.02, 0.02, 0.02]]:
        out.append({"p": p, "adjusted": multipletests(p, method="holm")[1].tolist()})
    return out


# ---- DeLong: the fast algorithm (Sun & Xu 2014) ----
def midrank(x):
    j = np.argsort(x, kind="mergesort")
    z = x[j]
    n = len(x)
    t = np.zeros(n)
    i = 0
    while i < n:
        k = i
        while k < n and z[k] == z[i]:
            k += 1
        t[i:k] = 0.5 * (i + k - 1) + 1
        i = k
    out = np.empty(n)
    out[j] = t
    return out


def fast_delong(preds_sorted, m):
    """preds_sorted: k × (m + n), positives first."""
    n = preds_sorted.shape[1] - m
    k = preds_sorted.shape[0]
    pos, neg = preds_sorted[:, :m], preds_sorted[:, m:]
    tx = np.array([midrank(pos[r]) for r in range(k)])
    ty = np.array([midrank(neg[r]) for r in range(k)])
    tz = np.array([midrank(preds_sorted[r]) for r in range(k)])
    aucs = tz[:, :m].sum(axis=1) / m / n - (m + 1.0) / 2.0 / n
    v01 = (tz[:, :m] - tx) / n
    v10 = 1.0 - (tz[:, m:] - ty) / m
    sx = np.atleast_2d(np.cov(v01))
    sy = np.atleast_2d(np.cov(v10))
    return aucs, sx / m + sy / n


def obuchowski(scores, labels, clusters):
    """Clustered AUC covariance, written directly from Obuchowski (1997)."""
    scores = np.asarray(scores)
    k = scores.shape[0]
    labels = np.asarray(labels)
    ids = sorted(set(clusters))
    cl = np.asarray(clusters)
    pos, neg = np.where(labels)[0], np.where(~labels)[0]
    M, N = len(pos), len(neg)
    aucs, v10c, v01c, mi, ni = [], [], [], [], []
    for r in range(k):
        s = scores[r]
        psi = (s[pos][:, None] > s[neg][None, :]) + 0.5 * (s[pos][:, None] == s[neg][None, :])
        aucs.append(psi.mean())
        v10 = psi.sum(axis=1) / N   # per positive
        v01 = psi.sum(axis=0) / M   # per negative
        v10c.append([v10[cl[pos] == c].sum() for c in ids])
        v01c.append([v01[cl[neg] == c].sum() for c in ids])
    mi = np.array([(cl[pos] == c).sum() for c in ids], float)
    ni = np.array([(cl[neg] == c).sum() for c in ids], float)
    aucs = np.array(aucs)
    I10, I01, I = (mi > 0).sum(), (ni > 0).sum(), len(ids)
    d10 = np.array(v10c) - mi[None, :] * aucs[:, None]
    d01 = np.array(v01c) - ni[None, :] * aucs[:, None]
    S10 = I10 / ((I10 - 1) * M) * d10 @ d10.T
    S01 = I01 / ((I01 - 1) * N) * d01 @ d01.T
    S11 = I / (I - 1) * d10 @ d01.T
    cov = S10 / M + S01 / N + (S11 + S11.T) / (M * N)
    return aucs, cov


def delong_cases():
    out = []
    # Unclustered: 3 correlated score sets, continuous and tied.
    for npos, nneg, tie in [(40, 60, False), (25, 25, True), (200, 150, False)]:
        y = np.array([True] * npos + [False] * nneg)
        base = rng.normal(0, 1, npos + nneg) + 1.0 * y
        s = [base + rng.normal(0, 0.7, len(y)), base + rng.normal(0, 1.2, len(y)) + 0.3 * y,
             rng.normal(0, 1, len(y)) + 0.2 * y]
        s = [np.round(v, 1) if tie else np.round(v, 8) for v in s]
        perm = rng.permutation(len(y))
        y, s = y[perm], [v[perm] for v in s]
        order = np.argsort(~y, kind="mergesort")  # positives first
        aucs, cov = fast_delong(np.array([v[order] for v in s]), int(y.sum()))
        sk = [stats.mannwhitneyu(v[y], v[~y]).statistic / (y.sum() * (~y).sum()) for v in s]
        assert np.allclose(aucs, sk)
        out.append({"labels": y.tolist(), "scores": [v.tolist() for v in s], "clusters": None,
                    "aucs": aucs.tolist(), "cov": cov.tolist()})
    # Clustered: videos of 1 to 6 frames, each video all real or all fake.
    nvid = 30
    frames, labels, clusters = [], [], []
    s1, s2 = [], []
    for v in range(nvid):
        fake = v % 2 == 0
        q = rng.normal(0.8 if fake else 0.0, 1.0)
        for _ in range(rng.integers(1, 7)):
            labels.append(fake)
            clusters.append(1000 + 7 * v)
            s1.append(round(q + rng.normal(0, 0.5), 6))
            s2.append(round(q + 0.3 * fake + rng.normal(0, 0.8), 6))
    aucs, cov = obuchowski([s1, s2], labels, clusters)
    out.append({"labels": labels, "scores": [s1, s2], "clusters": clusters,
                "aucs": aucs.tolist(), "cov": cov.tolist()})
    # Clustered with mixed clusters (positives and negatives in one cluster).
    labels = [bool(x) for x in rng.integers(0, 2, 80)]
    clusters = [int(c) for c in rng.integers(0, 12, 80)]
    s1 = np.round(rng.normal(0, 1, 80) + 0.7 * np.array(labels), 6).tolist()
    s2 = np.round(rng.normal(0, 1, 80) + 0.4 * np.array(labels), 6).tolist()
    aucs, cov = obuchowski([s1, s2], labels, clusters)
    out.append({"labels": labels, "scores": [s1, s2], "clusters": clusters,
                "aucs": aucs.tolist(), "cov": cov.tolist()})
    return out


def bootstrap_cases():
    out = []
    x = np.round(rng.exponential(1.0, 40), 6)
    a = np.round(rng.normal(0.6, 0.3, 30), 6)
    b = np.round(a - rng.normal(0.05, 0.1, 30), 6)
    for name, data, paired in [("mean_exponential", (x,), False), ("paired_diff", (a, b), True)]:
        stat = (lambda v, axis: np.mean(v, axis=axis)) if not paired else \
               (lambda u, w, axis: np.mean(u - w, axis=axis))
        for method in ["percentile", "BCa"]:
            for conf in [0.90, 0.95]:
                r = stats.bootstrap(data, stat, paired=paired, vectorized=True, n_resamples=200_000,
                                    confidence_level=conf, method=method, random_state=rng)
                out.append({"name": name, "data": [d.tolist() for d in data], "method": method,
                            "conf": conf, "ci": [f(r.confidence_interval.low), f(r.confidence_interval.high)],
                            "se": f(r.standard_error)})
    return out


def main():
    fx = {
        "generator": {"numpy": np.__version__, "scipy": scipy.__version__,
                      "statsmodels": statsmodels.__version__},
        "dist": dist_cases(),
        "proportion": proportion_cases(),
        "mcnemar": mcnemar_cases(),
        "t": t_cases(),
        "mann_whitney": mw_cases(),
        "holm": holm_cases(),
        "delong": delong_cases(),
        "bootstrap": bootstrap_cases(),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(fx, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
