#!/usr/bin/env python3
"""One peer pipeline, as an analyst would run it: a whole fresh process that
imports the tool, reads the file and computes. compare.py times each call.

    peers.py ca-heuristics   paths.csv     --out r.json
    peers.py ca-markov       paths.csv     --out r.json [--seed S] [--ncore N] [--max-step M]
    peers.py polars-ca-heuristics journeys.csv --out r.json
    peers.py polars-ca-markov     journeys.csv --out r.json [--seed S]
    peers.py mam MODEL       journeys.csv  --out r.json [--metric value|conversions|both] [--half-life-hours H]

MODEL: last_touch first_touch linear position_based time_decay markov.

Output JSON: {"pipeline": ..., "channels": {name: {model: {"conversions": x,
"value": y, ["removal_effect": r]}}}} with whatever the pipeline produces.
Imports happen inside the pipeline functions, after the process started, so
they are part of the measured time exactly as for an analyst's script.
"""
import argparse
import json
import sys


def _agg_from_journeys(path):
    import polars as pl

    df = pl.read_csv(path, columns=["path", "converted", "value"])
    agg = df.group_by("path").agg(
        pl.col("converted").sum().alias("total_conversions"),
        (pl.len() - pl.col("converted").sum()).alias("total_null"),
        pl.col("value").sum().alias("total_conversion_value"),
    )
    return agg.to_pandas()


def _read_paths(path):
    import pandas as pd

    return pd.read_csv(path, sep=";")


def _ca_heuristics(df):
    from ChannelAttribution import heuristic_models

    r = heuristic_models(
        df, "path", "total_conversions", var_value="total_conversion_value", sep=">", flg_pro=False
    )
    out = {}
    for row in r.itertuples(index=False):
        out[row.channel_name] = {
            "first_touch": {"conversions": row.first_touch_conversions, "value": row.first_touch_value},
            "last_touch": {"conversions": row.last_touch_conversions, "value": row.last_touch_value},
            "linear": {"conversions": row.linear_touch_conversions, "value": row.linear_touch_value},
        }
    return out


def _ca_markov(df, seed, ncore, max_step):
    from ChannelAttribution import markov_model

    r = markov_model(
        df,
        "path",
        "total_conversions",
        var_value="total_conversion_value",
        var_null="total_null",
        order=1,
        out_more=True,
        sep=">",
        seed=seed,
        ncore=ncore,
        max_step=max_step,
        verbose=False,
        flg_pro=False,
    )
    res = r["result"].set_index("channel_name")
    re = r["removal_effects"].set_index("channel_name")
    out = {}
    for ch in res.index:
        out[ch] = {
            "markov": {
                "conversions": float(res.loc[ch, "total_conversions"]),
                "value": float(res.loc[ch, "total_conversion_value"]),
                "removal_effect": float(re.loc[ch, "removal_effects_conversion"]),
                "value_removal_effect": float(re.loc[ch, "removal_effects_conversion_value"]),
            }
        }
    return out


MAM_RUN = {
    "last_touch": ("run_last_click", {}),
    "first_touch": ("run_first_click", {}),
    "linear": ("run_linear", {}),
    "position_based": ("run_position_based", {}),
    "time_decay": ("run_time_decay", None),  # half-life filled in below
    "markov": ("run_markov", {"transition_to_same_state": False}),
}


def _mam(path, model, metric, half_life):
    import polars as pl
    from mam import MAM

    df = pl.read_csv(path, schema_overrides={"path": pl.String, "hours": pl.String})
    meth, kw = MAM_RUN[model]
    if model == "time_decay":
        kw = {"half_life_hours": half_life}
    out = {}
    metrics = ["value", "conversions"] if metric == "both" else [metric]
    for m in metrics:
        mam = MAM(
            df,
            format_type="journey",
            channels_colname="path",
            journey_with_conv_colname="converted",
            user_id_colname="journey_id",
            time_till_conv_colname="hours",
            conversion_value_colname="value" if m == "value" else None,
            path_separator=" > ",
        )
        res = getattr(mam, meth)(**kw)
        d = res.to_dict()
        for ch, v in zip(d["channels"], d["attribution"]):
            out.setdefault(str(ch), {}).setdefault(model, {})[m] = float(v)
        if model == "markov":
            red = res.metadata["removal_effect"]
            for ch, v in red["removal_effect"].items():
                out.setdefault(str(ch), {}).setdefault(model, {})["removal_effect"] = float(v)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pipeline")
    ap.add_argument("args", nargs="+")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--ncore", type=int, default=1)
    ap.add_argument("--max-step", type=int, default=None)
    ap.add_argument("--metric", choices=["value", "conversions", "both"], default="value")
    ap.add_argument("--half-life-hours", type=float, default=168.0)
    a = ap.parse_args()

    p = a.pipeline
    if p == "ca-heuristics":
        out = _ca_heuristics(_read_paths(a.args[0]))
    elif p == "ca-markov":
        out = _ca_markov(_read_paths(a.args[0]), a.seed, a.ncore, a.max_step)
    elif p == "polars-ca-heuristics":
        out = _ca_heuristics(_agg_from_journeys(a.args[0]))
    elif p == "polars-ca-markov":
        out = _ca_markov(_agg_from_journeys(a.args[0]), a.seed, a.ncore, a.max_step)
    elif p == "mam":
        out = _mam(a.args[1], a.args[0], a.metric, a.half_life_hours)
    else:
        sys.exit(f"unknown pipeline {p}")
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump({"pipeline": p, "args": a.args, "channels": out}, f, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
