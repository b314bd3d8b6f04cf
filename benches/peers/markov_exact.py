#!/usr/bin/env python3
"""Exact first-order Markov removal effects from an aggregated paths file.

    markov_exact.py data/paths_1m.csv [--json out.json]

Independent of every tool compared here: plain csv parsing plus numpy.

The chain: transient states (start) + one state per channel, absorbing states
(conversion) and (null). Each path `c1 > c2 > ... > cn` with C conversions and
N nulls (self-transitions dropped, i.e. runs of the same channel collapsed)
adds weight C+N to start->c1 and to each ci->ci+1, weight C to cn->(conversion)
and N to cn->(null). Rows are normalised into Q (transient->transient) and R
(transient->absorbing) and

    P(conv) = x[start],   (I - Q) x = R[:, conversion]    (numpy.linalg.solve)

Removing channel c redirects every transition into c to (null): column c of Q
is zeroed (its mass would go to null, which does not enter the conversion
probability). RE_c = 1 - P(conv | c removed) / P(conv); conversions and value
are attributed in proportion to RE (total * RE_c / sum RE).

Also computed, to check channelattribution against ITS definitions:
  * value_removal_effect: channelattribution draws a simulated conversion's
    value from the value-per-conversion distribution of the last channel
    before conversion, and splits value in proportion to value-weighted
    removal effects. Exactly: split (conversion) by last channel l,
    m_l = sum(value)/sum(conversions) over paths ending (collapsed) in l,
    VRE_c = 1 - sum_l m_l P(conv via l | c removed) / sum_l m_l P(conv via l).
  * *_truncated: channelattribution stops a simulated walk after
    max_step = (longest collapsed path + 1) channel visits and counts it as
    not converted; the same quantities with walks longer than that cut off.
"""
import argparse
import csv
import json
import sys

import numpy as np

SEP = " > "


def read_paths(path):
    """Yield (channels, conversions, nulls, value) from an aggregated file."""
    with open(path, newline="", encoding="utf-8") as f:
        rd = csv.reader(f, delimiter=";")
        header = next(rd)
        if header[:3] != ["path", "total_conversions", "total_null"]:
            raise SystemExit(f"{path}: unexpected header {header}")
        for row in rd:
            chans = row[0].split(SEP)
            yield chans, int(row[1]), int(row[2]), float(row[3]) if len(row) > 3 else 0.0


def collapse(chans):
    out = []
    for c in chans:
        if not out or out[-1] != c:
            out.append(c)
    return out


def build(path):
    index = {}
    counts = {}
    conv_to = {}  # last channel -> conversions into (conversion)
    null_to = {}
    value_last = {}  # last channel -> value of conversions
    total_conv = 0
    total_value = 0.0
    max_len = 0
    for chans, conv, null, value in read_paths(path):
        total_conv += conv
        total_value += value
        seq = collapse(chans)
        max_len = max(max_len, len(seq))
        for c in seq:
            if c not in index:
                index[c] = len(index) + 1  # 0 is (start)
        w = conv + null
        if w == 0:
            continue
        prev = 0
        for c in seq:
            i = index[c]
            counts[(prev, i)] = counts.get((prev, i), 0) + w
            prev = i
        conv_to[prev] = conv_to.get(prev, 0) + conv
        null_to[prev] = null_to.get(prev, 0) + null
        if conv > 0:
            value_last[prev] = value_last.get(prev, 0.0) + value
    n = len(index) + 1
    Q = np.zeros((n, n))
    for (a, b), w in counts.items():
        Q[a, b] += w
    rconv = np.zeros(n)
    rnull = np.zeros(n)
    for a, w in conv_to.items():
        rconv[a] += w
    for a, w in null_to.items():
        rnull[a] += w
    rows = Q.sum(axis=1) + rconv + rnull
    rows[rows == 0] = 1.0
    Q /= rows[:, None]
    rconv /= rows
    # mean value per conversion by last channel (channelattribution's value model)
    m = np.zeros(n)
    for a, v in value_last.items():
        m[a] = v / conv_to[a]
    names = [None] * n
    names[0] = "(start)"
    for c, i in index.items():
        names[i] = c
    return names, Q, rconv, m, total_conv, total_value, max_len


def conv_by_last(Q, rconv):
    """X[s, l] = P(absorbed in (conversion) coming from state l | start in s)."""
    n = Q.shape[0]
    return np.linalg.solve(np.eye(n) - Q, np.diag(rconv))[0]


def conv_by_last_truncated(Q, rconv, max_visits):
    """Same, for walks that convert after at most max_visits channel visits."""
    n = Q.shape[0]
    v = np.zeros(n)
    v[0] = 1.0
    acc = np.zeros(n)
    for _ in range(max_visits + 1):
        acc += v * rconv
        v = v @ Q
    return acc


def removed(Q, c):
    Qc = Q.copy()
    Qc[:, c] = 0.0  # into c -> (null)
    return Qc


def compute(path, max_step=None):
    names, Q, rconv, m, total_conv, total_value, max_len = build(path)
    n = len(names)
    trunc = max_step if max_step is not None else max_len + 1
    base = conv_by_last(Q, rconv)
    base_t = conv_by_last_truncated(Q, rconv, trunc)
    p, p_t = base.sum(), base_t.sum()
    pv, pv_t = base @ m, base_t @ m
    re, vre, re_t, vre_t = {}, {}, {}, {}
    for c in range(1, n):
        x = conv_by_last(removed(Q, c), rconv)
        xt = conv_by_last_truncated(removed(Q, c), rconv, trunc)
        re[names[c]] = 1.0 - x.sum() / p
        vre[names[c]] = 1.0 - (x @ m) / pv
        re_t[names[c]] = 1.0 - xt.sum() / p_t
        vre_t[names[c]] = 1.0 - (xt @ m) / pv_t
    s_re, s_vre = sum(re.values()), sum(vre.values())
    s_re_t, s_vre_t = sum(re_t.values()), sum(vre_t.values())
    channels = {}
    for c in names[1:]:
        channels[c] = {
            "removal_effect": re[c],
            "conversions": total_conv * re[c] / s_re,
            "value": total_value * re[c] / s_re,
            # channelattribution's definitions (see module doc)
            "value_removal_effect": vre[c],
            "ca_value": total_value * vre[c] / s_vre,
            "removal_effect_truncated": re_t[c],
            "ca_conversions_truncated": total_conv * re_t[c] / s_re_t,
            "value_removal_effect_truncated": vre_t[c],
            "ca_value_truncated": total_value * vre_t[c] / s_vre_t,
        }
    return {
        "file": path,
        "p_conversion": p,
        "p_conversion_truncated": p_t,
        "max_collapsed_path_len": max_len,
        "truncation_visits": trunc,
        "total_conversions": total_conv,
        "total_value": total_value,
        "channels": channels,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("paths_file")
    ap.add_argument("--json", help="write the result here (default: stdout)")
    ap.add_argument("--max-step", type=int, help="truncation for the *_truncated figures")
    args = ap.parse_args()
    res = compute(args.paths_file, args.max_step)
    text = json.dumps(res, indent=1, ensure_ascii=False)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(text + "\n")
    else:
        print(text)
    w = max(len(c) for c in res["channels"])
    print(f"P(conv) = {res['p_conversion']:.12f}", file=sys.stderr)
    for c, v in sorted(res["channels"].items(), key=lambda kv: -kv[1]["removal_effect"]):
        print(f"  {c:<{w}}  RE {v['removal_effect']:.12f}  conv {v['conversions']:.6f}", file=sys.stderr)


if __name__ == "__main__":
    main()
