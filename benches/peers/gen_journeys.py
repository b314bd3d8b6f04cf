#!/usr/bin/env python3
"""Seeded synthetic referral journeys, written in two formats for the same journeys.

    gen_journeys.py --n 1000000 --seed 42 --outdir data --name 1m [--variant intl]

writes
    data/journeys_<name>.csv   per journey:  journey_id,path,hours,converted,value
    data/paths_<name>.csv      aggregated:   path;total_conversions;total_null;total_conversion_value

Model (all parameters derive from --seed, so a seed fixes the data byte for byte):
  * 8 referral channels (variant "intl" renames whatsapp -> واتساب and
    in_store -> "in store": a right-to-left name and a name with an inner space);
  * path length 1..10, P(L) proportional to 0.6^(L-1) (many one-touch journeys);
  * first channel by popularity; each next touch repeats the previous channel
    with probability 0.12 (a self-transition, e.g. whatsapp > whatsapp), else
    follows a seeded channel-to-channel matrix (so a > b > a happens too);
  * hours before the end of the journey per touch, non-increasing along the
    path, one decimal (last touch ~ Exp(3 h), gaps ~ Exp(36 h));
  * conversion ~ Bernoulli(sigmoid(-3 + sum of per-channel effects of the
    channels present + 0.15 (L-1)));
  * value of a converted journey: lognormal around a mean that depends on the
    last channel, in whole cents (so aggregated sums are exact); 0 otherwise.

Numbers are generated with numpy in chunks (vectorised); text is built with
polars/pyarrow column kernels, so 10M journeys take well under a minute.
"""
import argparse
import os
import sys
import time

import numpy as np
import polars as pl
import pyarrow as pa

CHANNELS = ["whatsapp", "email", "sms", "facebook", "instagram", "x", "qr", "in_store"]
INTL = {"whatsapp": "واتساب", "in_store": "in store"}
POPULARITY = np.array([0.30, 0.15, 0.08, 0.14, 0.13, 0.05, 0.07, 0.08])
# Effect on the conversion log-odds of a channel being present in the journey.
EFFECT = np.array([0.9, 0.35, 0.2, 0.15, 0.25, -0.1, 0.6, 1.1])
# Mean order value (currency units) by last channel.
MEAN_VALUE = np.array([42.0, 35.0, 25.0, 30.0, 38.0, 20.0, 28.0, 65.0])
MAX_LEN = 10
P_SELF = 0.12
SEP = " > "


def channel_names(variant):
    if variant == "plain":
        return list(CHANNELS)
    if variant == "intl":
        return [INTL.get(c, c) for c in CHANNELS]
    raise SystemExit(f"unknown variant {variant!r}")


def model_params(seed):
    rng = np.random.default_rng([seed, 0xC0FFEE])
    k = len(CHANNELS)
    lengths = np.arange(1, MAX_LEN + 1)
    p_len = 0.6 ** (lengths - 1)
    p_len /= p_len.sum()
    # Channel-to-channel matrix, no diagonal (self-repeats are drawn separately).
    trans = rng.dirichlet(np.full(k, 1.5), size=k) * POPULARITY[None, :]
    np.fill_diagonal(trans, 0.0)
    trans /= trans.sum(axis=1, keepdims=True)
    return p_len, np.cumsum(trans, axis=1)


def gen_chunk(rng, n, p_len, trans_cum):
    k = len(CHANNELS)
    L = rng.choice(np.arange(1, MAX_LEN + 1), size=n, p=p_len).astype(np.int64)
    ch = np.full((n, MAX_LEN), -1, dtype=np.int64)
    ch[:, 0] = rng.choice(k, size=n, p=POPULARITY)
    for pos in range(1, MAX_LEN):
        prev = ch[:, pos - 1]
        repeat = rng.random(n) < P_SELF
        u = rng.random(n)
        nxt = (u[:, None] > trans_cum[np.maximum(prev, 0)]).sum(axis=1)
        nxt = np.minimum(nxt, k - 1)
        col = np.where(repeat, prev, nxt)
        ch[:, pos] = np.where(pos < L, col, -1)
    valid = ch >= 0

    # Hours before the end: last touch Exp(3h), earlier touches add Exp(36h) gaps.
    last_h = rng.exponential(3.0, size=n)
    gaps = rng.exponential(36.0, size=(n, MAX_LEN))
    gaps[~valid] = 0.0
    # after[:, j] = sum of gaps of the touches after j (gap j+1 .. end)
    after = np.cumsum(gaps[:, ::-1], axis=1)[:, ::-1] - gaps
    # gaps[:, j] is the gap between touch j-1 and touch j; the hours of touch j
    # are last_h + sum of gaps of touches j+1..L-1.
    hours10 = np.round((last_h[:, None] + after) * 10.0).astype(np.int64)

    present = np.zeros((n, k), dtype=bool)
    rows = np.repeat(np.arange(n), L)
    present[rows, ch[valid]] = True
    logit = -3.0 + present.astype(np.float64) @ EFFECT + 0.15 * (L - 1)
    p_conv = 1.0 / (1.0 + np.exp(-logit))
    converted = rng.random(n) < p_conv
    last = ch[np.arange(n), L - 1]
    value = np.exp(rng.normal(np.log(MEAN_VALUE[last]), 0.6))
    cents = np.where(converted, np.round(value * 100.0), 0).astype(np.int64)
    return L, ch[valid], hours10[valid], converted, cents


def cents_str(expr):
    return pl.concat_str(
        [(expr // 100).cast(pl.String), pl.lit("."), (expr % 100).cast(pl.String).str.zfill(2)]
    )


def build_frame(first_id, L, flat_ch, flat_h10, converted, cents, names):
    offsets = np.concatenate([[0], np.cumsum(L)]).astype(np.int32)
    name_arr = pa.array(np.asarray(names, dtype=object)[flat_ch], type=pa.string())
    hours_arr = pa.array(flat_h10, type=pa.int64())
    paths = pl.from_arrow(pa.ListArray.from_arrays(pa.array(offsets), name_arr))
    hours = pl.from_arrow(pa.ListArray.from_arrays(pa.array(offsets), hours_arr))
    df = pl.DataFrame(
        {
            "journey_id": np.arange(first_id, first_id + len(L), dtype=np.int64),
            "p": paths,
            "h": hours,
            "converted": converted.astype(np.int8),
            "cents": cents,
        }
    )
    return df.select(
        pl.col("journey_id"),
        pl.col("p").list.join(SEP).alias("path"),
        pl.col("h")
        .list.eval(
            pl.concat_str(
                [(pl.element() // 10).cast(pl.String), pl.lit("."), (pl.element() % 10).cast(pl.String)]
            )
        )
        .list.join(SEP)
        .alias("hours"),
        pl.col("converted"),
        pl.col("cents"),
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, required=True, help="number of journeys")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--outdir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    ap.add_argument("--name", required=True, help="dataset name used in the file names")
    ap.add_argument("--variant", choices=["plain", "intl"], default="plain")
    ap.add_argument("--chunk", type=int, default=1_000_000)
    args = ap.parse_args()

    t0 = time.perf_counter()
    os.makedirs(args.outdir, exist_ok=True)
    names = channel_names(args.variant)
    p_len, trans_cum = model_params(args.seed)
    jpath = os.path.join(args.outdir, f"journeys_{args.name}.csv")
    apath = os.path.join(args.outdir, f"paths_{args.name}.csv")
    aggs = []
    with open(jpath + ".tmp", "wb") as out:
        out.write(b"journey_id,path,hours,converted,value\n")
        done = 0
        chunk_no = 0
        while done < args.n:
            n = min(args.chunk, args.n - done)
            rng = np.random.default_rng([args.seed, chunk_no])
            L, flat_ch, flat_h10, converted, cents = gen_chunk(rng, n, p_len, trans_cum)
            df = build_frame(done + 1, L, flat_ch, flat_h10, converted, cents, names)
            df.select(
                "journey_id", "path", "hours", "converted", cents_str(pl.col("cents")).alias("value")
            ).write_csv(out, include_header=False)
            aggs.append(
                df.group_by("path").agg(
                    pl.col("converted").cast(pl.Int64).sum().alias("conv"),
                    pl.len().alias("n"),
                    pl.col("cents").sum().alias("cents"),
                )
            )
            done += n
            chunk_no += 1
    os.replace(jpath + ".tmp", jpath)

    agg = (
        pl.concat(aggs)
        .group_by("path")
        .agg(pl.col("conv").sum(), pl.col("n").sum(), pl.col("cents").sum())
        .sort(["n", "path"], descending=[True, False])
    )
    agg.select(
        pl.col("path"),
        pl.col("conv").alias("total_conversions"),
        (pl.col("n") - pl.col("conv")).alias("total_null"),
        cents_str(pl.col("cents")).alias("total_conversion_value"),
    ).write_csv(apath + ".tmp", separator=";")
    os.replace(apath + ".tmp", apath)
    tot = agg.select(pl.col("conv").sum(), pl.col("n").sum(), pl.col("cents").sum()).row(0)
    print(
        f"{args.name}: {tot[1]} journeys, {tot[0]} conversions, value {tot[2] / 100:.2f}, "
        f"{agg.height} distinct paths; {os.path.getsize(jpath) / 1e6:.1f} MB + "
        f"{os.path.getsize(apath) / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
