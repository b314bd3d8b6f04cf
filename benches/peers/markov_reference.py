#!/usr/bin/env python3
"""Reference first-order Markov removal effects in extended precision.

    markov_reference.py FILE [--json OUT] [--probabilities exact|f64]
                        [--compare LABEL=OURS.json ...] [--float64] [--mpmath N]

FILE is either format `channel_report` reads (aggregated
`path;total_conversions;total_null;...` or per journey
`journey_id,path,hours,converted,value`, told apart by the header). Needs
numpy (mpmath for --mpmath); independent of the crate and of markov_exact.py.

The chain is the crate's order-1 chain (`MarkovOptions::default()`), the same
as markov_exact.py's: a state per channel on a path with conversions or nulls;
each path `c1 > ... > cn` of C conversions and N nulls adds C+N to
start->c1 and to every ci->ci+1 with ci != ci+1 (self-transitions dropped:
`a > a > b` is `a > b`), C to cn->(conversion) and N to cn->(null);
probabilities are counts over the state's outgoing total. Removing channel c
sends every transition into c to (null).

Everything is solved in numpy's long double (x86-64: 80-bit, 64-bit
mantissa, eps 1.1e-19): each dense system is solved by LAPACK in float64
(scipy's LU if installed, else numpy.linalg.solve at each step) and then
refined (residual b - A x in long double, x kept in long double,
corrections solved in float64) until a correction is below 1e-18 of x; a
system of these chains (an M-matrix whose inverse counts expected visits) is
well conditioned, so that takes 2-3 corrections and leaves ~1e-19 (checked
against mpmath at 40 digits with --mpmath).

    P        = s.x,          (I - Q) x = r
    P_c      = s.x^c,        x^c: the system with row c replaced by e_c, r_c = 0
    P - P_c  = s.d,          d: the system with row c replaced by e_c, rhs x_c e_c
    RE_c     = (P - P_c) / P                       ("re", no cancellation)
    RE_c'    = 1 - P_c / P                         ("re_ratio", cancels for rare c)

(d = x - x^c off c: it solves d_j = sum_k Q_jk d_k with d_c = x_c, every term
>= 0, so the difference comes out without subtracting nearly equal numbers.)

--probabilities: `exact` (default) takes count/total in long double (the
chain itself); `f64` rounds count/total to float64 first, as the crate does,
so only the solve's rounding separates the crate from this reference.

--compare LABEL=FILE (repeatable): a `channel_report --json` output; prints,
for each, the largest relative error of its removal effects against the
reference and the channel, and how many channels are off by more than 1e-13
and 1e-12.

--float64: also the plain float64 computation (numpy.linalg.solve per channel,
RE = 1 - P_c / P, as markov_exact.py and the crate before e55b5e1 did),
compared with the reference the same way (label `numpy-float64`).

--mpmath N: recompute P and the N channels with the largest error of the
first --compare file (or the N smallest removal effects) with mpmath at 40
digits (pure Python: minutes for 200 states), to check the long double
reference itself.
"""
import argparse
import csv
import json
import sys
from decimal import Decimal

import numpy as np

LD = np.longdouble


def read_counts(path):
    """{tuple of channels (repeats collapsed): [conversions, nulls]} and the format."""
    counts = {}
    with open(path, newline="", encoding="utf-8-sig") as f:
        first = f.readline()
        while first.strip() == "":
            first = f.readline()
        if first.startswith("path;"):
            fmt, rd = "paths", csv.reader(f, delimiter=";")
        elif first.startswith("journey_id,"):
            fmt, rd = "journeys", csv.reader(f, delimiter=",")
        else:
            raise SystemExit(f"{path}: unknown header {first!r}")
        for row in rd:
            if not row or all(not x.strip() for x in row):
                continue
            seq = []
            for c in row[0 if fmt == "paths" else 1].split(">"):
                c = c.strip()
                if not seq or seq[-1] != c:
                    seq.append(c)
            if fmt == "paths":
                conv, null = int(Decimal(row[1])), int(Decimal(row[2]))
            else:
                converted = row[3].strip().lower() in ("1", "true")
                conv, null = int(converted), int(not converted)
            key = tuple(seq)
            acc = counts.setdefault(key, [0, 0])
            acc[0] += conv
            acc[1] += null
    return counts, fmt


def chain(counts, probabilities):
    """Names, start vector s, transient matrix Q, conversion vector r (long double)."""
    index = {}
    trans = {}
    out = {}
    to_conv = {}
    for seq, (conv, null) in counts.items():
        w = conv + null
        if w == 0:
            continue
        for c in seq:
            index.setdefault(c, len(index))
        prev = -1  # start
        for c in seq:
            i = index[c]
            trans[(prev, i)] = trans.get((prev, i), 0) + w
            out[prev] = out.get(prev, 0) + w
            prev = i
        to_conv[prev] = to_conv.get(prev, 0) + conv
        out[prev] = out.get(prev, 0) + conv + null
    n = len(index)

    def prob(c, t):
        if probabilities == "f64":
            return LD(np.float64(c) / np.float64(t))
        return LD(c) / LD(t)  # counts below 2^64: exact in long double

    s = np.zeros(n, dtype=LD)
    Q = np.zeros((n, n), dtype=LD)
    r = np.zeros(n, dtype=LD)
    for (a, b), c in trans.items():
        if a == -1:
            s[b] = prob(c, out[-1])
        else:
            Q[a, b] = prob(c, out[a])
    for a, c in to_conv.items():
        if c:
            r[a] = prob(c, out[a])
    names = [None] * n
    for c, i in index.items():
        names[i] = c
    return names, s, Q, r


try:
    from scipy.linalg import lu_factor, lu_solve

    def factor(M):
        return lu_factor(M, check_finite=False)

    def solve64(f, b):
        return lu_solve(f, b, check_finite=False)
except ImportError:  # numpy only: factor again at each correction

    def factor(M):
        return M

    def solve64(f, b):
        return np.linalg.solve(f, b)


def refined_solve(A, A64, B, row=None, steps=8):
    """Solve M X = B in long double, M = A, or A with row `row` replaced by
    e_row: LU in float64 (LAPACK), refined with long double residuals.

    Stops once a correction is below 1e-18 of X (ten long double ulps) or
    stops shrinking; returns X and the number of corrections."""
    M64 = A64
    if row is not None:
        M64 = A64.copy()
        M64[row, :] = 0.0
        M64[row, row] = 1.0
    f = factor(M64)
    X = solve64(f, B.astype(np.float64)).astype(LD)
    last = None
    for k in range(steps):
        R = B - A @ X
        if row is not None:
            R[row] = B[row] - X[row]
        dX = solve64(f, R.astype(np.float64)).astype(LD)
        X = X + dX
        scale, size = np.max(np.abs(X)), np.max(np.abs(dX))
        if scale == 0 or size <= LD(1e-18) * scale or (last is not None and size >= last / 2):
            return X, k + 1
        last = size
    return X, steps


def reference(s, Q, r):
    n = len(s)
    A = np.eye(n, dtype=LD) - Q
    A64 = A.astype(np.float64)
    x, worst_it = refined_solve(A, A64, r)
    p = s @ x
    re = np.zeros(n, dtype=LD)
    re_ratio = np.zeros(n, dtype=LD)
    p_without = np.zeros(n, dtype=LD)
    B = np.zeros((n, 2), dtype=LD)
    for c in range(n):
        # column 0: x^c (r with r_c = 0); column 1: d (x_c e_c)
        B[:, 0] = r
        B[c, 0] = 0
        B[:, 1] = 0
        B[c, 1] = x[c]
        X, it = refined_solve(A, A64, B, row=c)
        worst_it = max(worst_it, it)
        p_without[c] = s @ X[:, 0]
        re[c] = (s @ X[:, 1]) / p
        re_ratio[c] = 1 - p_without[c] / p
    return p, re, re_ratio, p_without, worst_it


def float64_removal_effects(s, Q, r):
    """The plain float64 way: one numpy.linalg.solve per channel, 1 - P_c / P."""
    s, Q, r = s.astype(np.float64), Q.astype(np.float64), r.astype(np.float64)
    n = len(s)
    A = np.eye(n) - Q
    p = s @ np.linalg.solve(A, r)
    out = np.zeros(n)
    for c in range(n):
        keep = np.arange(n) != c
        pc = s[keep] @ np.linalg.solve(A[np.ix_(keep, keep)], r[keep])
        out[c] = min(max(1.0 - pc / p, 0.0), 1.0)
    return p, out


def mpmath_check(s, Q, r, channels, dps=40):
    import mpmath

    mpmath.mp.dps = dps
    n = len(s)
    def mp(v):
        # long double -> mpf exactly (a long double's repr reads back to itself)
        return mpmath.mpf(np.format_float_scientific(v, unique=True))

    S = [mp(v) for v in s]
    A = mpmath.matrix(n, n)
    for i in range(n):
        A[i, i] = 1
        for j in np.nonzero(Q[i])[0]:
            A[i, int(j)] -= mp(Q[i, j])
    R = mpmath.matrix([mp(v) for v in r])
    x = mpmath.lu_solve(A, R)
    p = mpmath.fsum(S[i] * x[i] for i in range(n))
    out = {}
    for c in channels:
        keep = [i for i in range(n) if i != c]
        Ac = mpmath.matrix(n - 1, n - 1)
        for a, i in enumerate(keep):
            for b, j in enumerate(keep):
                Ac[a, b] = A[i, j]
        xc = mpmath.lu_solve(Ac, mpmath.matrix([R[i] for i in keep]))
        pc = mpmath.fsum(S[i] * xc[a] for a, i in enumerate(keep))
        out[c] = 1 - pc / p
    return p, out


def rel_errors(values, ref):
    """|v - ref| / ref per channel (absolute where ref is 0)."""
    out = np.zeros(len(ref), dtype=LD)
    for i, (v, e) in enumerate(zip(values, ref)):
        d = abs(LD(v) - e)
        out[i] = d / e if e != 0 else d
    return out


def summary(label, names, values, ref):
    err = rel_errors(values, ref)
    i = int(np.argmax(err))
    return {
        "label": label,
        "max_rel_error": float(err[i]),
        "channel": names[i],
        "value": float(values[i]),
        "reference": float(ref[i]),
        "channels_over_1e-13": int(np.sum(err > LD(1e-13))),
        "channels_over_1e-12": int(np.sum(err > LD(1e-12))),
        "channels": len(names),
        "errors": err,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file")
    ap.add_argument("--json", help="write the reference here")
    ap.add_argument("--probabilities", choices=["exact", "f64"], default="exact")
    ap.add_argument("--compare", action="append", default=[], metavar="LABEL=FILE")
    ap.add_argument("--float64", action="store_true")
    ap.add_argument("--mpmath", type=int, default=0, metavar="N")
    args = ap.parse_args()

    counts, fmt = read_counts(args.file)
    names, s, Q, r = chain(counts, args.probabilities)
    p, re, re_ratio, p_without, iterations = reference(s, Q, r)
    routes = rel_errors(re_ratio, re)
    print(f"{args.file} ({fmt}): {len(names)} states, {len(counts)} distinct paths, "
          f"probabilities {args.probabilities}; P(conversion) = {np.format_float_positional(p, 20)}; "
          f"refinement steps <= {iterations}; smallest RE {float(re.min()):.3e}", file=sys.stderr)
    print(f"  reference routes (P - P_c)/P vs 1 - P_c/P in long double: max rel diff "
          f"{float(routes.max()):.2e}", file=sys.stderr)

    results = []
    first_errors = None
    for spec in args.compare:
        label, _, path = spec.partition("=")
        with open(path, encoding="utf-8") as f:
            ours = json.load(f)["channels"]
        vals = [ours[c]["markov"]["removal_effect"] for c in names]
        res = summary(label, names, vals, re)
        if first_errors is None:
            first_errors = res["errors"]
        results.append(res)
    if args.float64:
        _, f64 = float64_removal_effects(s, Q, r)
        results.append(summary("numpy-float64", names, list(f64), re))
    for res in results:
        print(f"  {res['label']:<16} max rel error {res['max_rel_error']:.2e} ({res['channel']}: "
              f"{res['value']!r} vs {res['reference']!r}); over 1e-13: {res['channels_over_1e-13']}, "
              f"over 1e-12: {res['channels_over_1e-12']} of {res['channels']}", file=sys.stderr)

    if args.mpmath:
        order = np.argsort(-first_errors) if first_errors is not None else np.argsort(re)
        picks = [int(c) for c in order[: args.mpmath]]
        mp_p, mp_re = mpmath_check(s, Q, r, picks)
        import mpmath

        mp_ld = mpmath.mpf(np.format_float_scientific(p, unique=True))
        print(f"  mpmath (40 digits): P rel diff {float(abs((mp_p - mp_ld) / mp_p)):.2e}",
              file=sys.stderr)
        for c in picks:
            d = abs(mp_re[c] - mpmath.mpf(np.format_float_scientific(re[c], unique=True))) / mp_re[c]
            print(f"    {names[c]}: RE {mpmath.nstr(mp_re[c], 20)}, long double reference off by "
                  f"{float(d):.2e}", file=sys.stderr)

    out = {
        "file": args.file,
        "format": fmt,
        "probabilities": args.probabilities,
        "p_conversion": np.format_float_scientific(p, unique=True),
        "channels": {
            c: {
                "removal_effect": np.format_float_scientific(re[i], unique=True),
                "removal_effect_ratio": np.format_float_scientific(re_ratio[i], unique=True),
                "p_without": np.format_float_scientific(p_without[i], unique=True),
            }
            for i, c in enumerate(names)
        },
        "compared": [{k: v for k, v in res.items() if k != "errors"} for res in results],
    }
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1, ensure_ascii=False)
            f.write("\n")


if __name__ == "__main__":
    main()
