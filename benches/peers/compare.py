#!/usr/bin/env python3
"""Side-by-side: our `channel_report` against channelattribution and mam.

    compare.py [--ours-bin PATH] [--ours-label TEXT] [--datasets 1m,10m,intl_100k,edge]
               [--timed 1m,10m] [--reps 3] [--noise-seeds 0,10,...,190] [--mam-10m]
               [--out-dir DIR]
    compare.py --render-only [RESULTS_JSON]

Every measurement is a whole process (fresh interpreter or binary: imports,
reading the file, computing, writing the result), timed for wall time, with
its peak RSS from GNU time (%M); median of --reps runs, a run repeated while
the rest of the shared machine kept more than 0.25 core busy. `wc -l` on the
same file is timed the same way. Agreement checks and channelattribution's
simulation noise are computed from the outputs of the same runs (plus untimed
runs where a peer needs a second pass, e.g. mam computes one metric per run).

Writes results.json and results.md next to this script (or in --out-dir) and
prints the tables. Every goal also reports `ours / floor`: our time over the
best group-floor time (1 or 2 threads) on the same file format.

--render-only rewrites results.md (in --out-dir) from an existing
results.json (default: the one in --out-dir) without running anything: the
figures are that run's, its date in the title.
"""
import argparse
import datetime
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
PY = sys.executable
HEURISTICS = ["first_touch", "last_touch", "linear", "position_based", "time_decay"]
MAM_MODELS = ["last_touch", "first_touch", "linear", "position_based", "time_decay", "markov"]
REL_TOL = 1e-9
OTHER_CPU_LIMIT = 0.25  # cores other processes may use during a timed run
ABS_FLOOR = 1e-9  # a figure of exactly 0 on one side is compared absolutely


def default_ours_bin():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
    return os.path.join(target, "release", "examples", "channel_report")


# ---------------------------------------------------------------- measuring


def other_builds():
    """Names of compiler processes on the machine (other engineers' builds)."""
    busy = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as f:
                name = f.read().strip()
        except OSError:
            continue
        if name in ("rustc", "cargo", "clippy-driver", "rustdoc", "cc1plus", "cc1", "ld", "rust-lld"):
            busy.append(name)
    return busy


def wait_idle(limit):
    t0 = time.time()
    while limit > 0 and other_builds() and time.time() - t0 < limit:
        time.sleep(5)


TIME = "/usr/bin/time"


CLK_TCK = os.sysconf("SC_CLK_TCK")


def busy_cpu_seconds():
    """CPU seconds spent busy by the whole machine so far (/proc/stat)."""
    with open("/proc/stat") as fh:
        v = [int(x) for x in fh.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK_TCK


def run_once(cmd, stdout_path=None, want_other=False):
    """Run cmd as a whole process; return (wall seconds, peak RSS in MiB).

    Peak RSS comes from GNU time's %M, not from this process's wait4(): a child
    forked from this (large) Python process would carry the parent's resident
    size into its ru_maxrss until it execs. /usr/bin/time forks from a ~2 MB
    image, so that is the floor (wc -l shows it). Wall time is taken here
    around the whole thing (GNU time's %e has only 10 ms resolution); the
    wrapper adds about a millisecond.
    """
    out = open(stdout_path, "wb") if stdout_path else subprocess.DEVNULL
    fd, rss_file = tempfile.mkstemp(prefix="rss-")
    os.close(fd)
    use_time = os.access(TIME, os.X_OK)
    full = [TIME, "-f", "%M", "-o", rss_file, *cmd] if use_time else cmd
    try:
        b0 = busy_cpu_seconds()
        t0 = time.perf_counter()
        p = subprocess.Popen(full, stdout=out, stderr=subprocess.PIPE)
        err = p.stderr.read()
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        # CPU the rest of the machine used meanwhile (other engineers' builds),
        # in cores: busy time minus what our child used, over a window of at
        # least 0.25 s (/proc/stat counts in 10 ms ticks).
        if wall < 0.25:
            time.sleep(0.25 - wall)
        window = time.perf_counter() - t0
        other = max(0.0, busy_cpu_seconds() - b0 - ru.ru_utime - ru.ru_stime) / window
        p.returncode = os.waitstatus_to_exitcode(status)
        with open(rss_file) as fh:
            lines = fh.read().split()
    finally:
        if stdout_path:
            out.close()
        os.unlink(rss_file)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}):\n{err.decode(errors='replace')[-3000:]}")
    kib = int(lines[-1]) if use_time else ru.ru_maxrss
    if want_other:
        return wall, kib / 1024.0, other
    return wall, kib / 1024.0


class Timer:
    def __init__(self, reps, wait):
        self.reps = reps
        self.wait = wait
        self.rows = []

    def measure(self, label, dataset, cmd, stdout_path=None, kind=None, reps=None):
        walls, rss, busy, others = [], [], 0, []
        for _ in range(reps or self.reps):
            # a run during which the rest of the machine kept more than
            # OTHER_CPU_LIMIT cores busy is repeated (up to 4 tries, then kept
            # and flagged)
            for attempt in range(4):
                wait_idle(self.wait)
                w, r, other = run_once(cmd, stdout_path, want_other=True)
                if other <= OTHER_CPU_LIMIT:
                    break
                time.sleep(5)
            busy += other > OTHER_CPU_LIMIT
            others.append(round(other, 3))
            walls.append(w)
            rss.append(r)
        row = {
            "label": label,
            "dataset": dataset,
            "kind": kind,
            "cmd": " ".join(os.path.relpath(c, HERE) if os.path.isabs(c) and c.startswith(HERE) else c for c in cmd),
            "wall_s": statistics.median(walls),
            "wall_all_s": walls,
            "peak_rss_mib": statistics.median(rss),
            "runs_with_other_builds": busy,
            "other_cpu_cores": others,
        }
        self.rows.append(row)
        print(f"  {label:<34} {dataset:<10} {row['wall_s']:8.3f} s {row['peak_rss_mib']:8.1f} MiB"
              + (f"  ({busy} run(s) contended: other CPU {others} cores)" if busy else ""), flush=True)
        return row


# ---------------------------------------------------------------- comparing


def rel(a, b):
    if abs(a) < ABS_FLOOR and abs(b) < ABS_FLOOR:
        return 0.0
    return abs(a - b) / max(abs(a), abs(b))


def compare_models(name, a, b, models, metrics=("conversions", "value")):
    """Max relative difference per model between two {channel: {model: {metric}}}."""
    out = {}
    ca, cb = set(a), set(b)
    for m in models:
        worst, where, n = 0.0, None, 0
        missing = []
        for ch in sorted(ca | cb):
            ma = a.get(ch, {}).get(m)
            mb = b.get(ch, {}).get(m)
            if ma is None and mb is None:
                continue
            if ma is None or mb is None:
                # a channel one side does not list at all counts as credited 0
                missing.append(ch)
                ma = ma if ma is not None else {k: 0.0 for k in mb}
                mb = mb if mb is not None else {k: 0.0 for k in ma}
            for k in metrics:
                if k in ma and k in mb:
                    d = rel(ma[k], mb[k])
                    n += 1
                    if d > worst or where is None:
                        worst, where = d, f"{ch}/{k}: {ma[k]!r} vs {mb[k]!r}"
        if n == 0:
            continue
        out[m] = {
            "max_rel_diff": worst,
            "worst": where,
            "compared": n,
            "absent_on_one_side_taken_as_0": missing,
            "ok": worst <= REL_TOL,
        }
    return {"pair": name, "models": out}


def ours_channels(js):
    """Our --json, reshaped to {channel: {model: {...}}} (already is)."""
    return js["channels"]


def exact_channels(ex):
    return {
        ch: {"markov": {"removal_effect": v["removal_effect"], "conversions": v["conversions"], "value": v["value"]}}
        for ch, v in ex["channels"].items()
    }


def load(p):
    with open(p, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ours-bin", default=default_ours_bin())
    ap.add_argument("--floor-bin", default=os.path.join(HERE, "floor", "target", "release", "group-floor"),
                    help="group-floor (floor/): the least work any reader must do, timed as a lower bound")
    ap.add_argument("--ours-args", default="", help="extra arguments for our binary, e.g. '--threads 2'")
    ap.add_argument("--ours-label", default="", help="what the binary was built from, e.g. 'attr-channel@abc1234'")
    ap.add_argument("--data-dir", default=os.path.join(HERE, "data"))
    ap.add_argument("--datasets", default="1m,10m,intl_100k,edge",
                    help="data/{paths,journeys}_NAME.csv, or fixtures/ (edge: hand-written corner cases)")
    ap.add_argument("--timed", default="1m,10m", help="datasets that are timed (the others: agreement only)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--noise-seeds", default=",".join(str(10 * i) for i in range(20)),
                    help="channelattribution seeds for the noise measurement (keep them >= 10 apart)")
    ap.add_argument("--noise-dataset", default="1m")
    ap.add_argument("--mam-10m", action="store_true", help="also run mam on journeys_10m (est. >10 GB peak)")
    ap.add_argument("--wait-idle", type=float, default=120.0,
                    help="before each timed run wait up to this many seconds for other compilers to finish")
    ap.add_argument("--out-dir", default=HERE)
    ap.add_argument("--render-only", nargs="?", const="", metavar="RESULTS_JSON",
                    help="only rewrite results.md from results.json (default: the one in --out-dir)")
    args = ap.parse_args()
    if args.render_only is not None:
        src = args.render_only or os.path.join(args.out_dir, "results.json")
        md = _markdown(load(src))
        with open(os.path.join(args.out_dir, "results.md"), "w", encoding="utf-8") as fh:
            fh.write(md)
        print(md)
        return

    datasets = [d for d in args.datasets.split(",") if d]
    timed = set(d for d in args.timed.split(",") if d)
    seeds = [int(s) for s in args.noise_seeds.split(",") if s]
    have_ours = os.access(args.ours_bin, os.X_OK)
    ours_extra = args.ours_args.split()
    work = tempfile.mkdtemp(prefix="peers-")
    T = Timer(args.reps, args.wait_idle)
    started = datetime.datetime.now().astimezone()
    results = {
        "date": started.isoformat(timespec="seconds"),
        "machine": {
            "cores": os.cpu_count(),
            "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "cpu": _cpu_model(),
            "python": platform.python_version(),
            "loadavg_start": os.getloadavg(),
        },
        "ours_bin": args.ours_bin if have_ours else None,
        "ours_args": ours_extra,
        "ours_label": args.ours_label,
        "timed_datasets": sorted(timed),
        "reps": args.reps,
        "rel_tol": REL_TOL,
    }
    if not have_ours:
        print(f"NOTE: {args.ours_bin} not found: peer side only", flush=True)

    def f(name):
        p = os.path.join(args.data_dir, name)
        fx = os.path.join(HERE, "fixtures", name)
        return p if os.path.exists(p) or not os.path.exists(fx) else fx

    def out(name):
        return os.path.join(work, name)

    agreement = []
    exact = {}
    ours = {}
    peer_out = {}

    # what a peer pays before reading a byte: interpreter start + imports
    T.measure("python: import pandas, ChannelAttribution", "-",
              [PY, "-c", "import pandas, ChannelAttribution"], kind="floor:ca")
    T.measure("python: import polars, mam", "-", [PY, "-c", "import polars, mam"], kind="floor:mam")

    for ds in datasets:
        paths, journeys = f(f"paths_{ds}.csv"), f(f"journeys_{ds}.csv")
        if not (os.path.exists(paths) and os.path.exists(journeys)):
            print(f"skip {ds}: data missing (run gen_journeys.py)", flush=True)
            continue
        is_timed = ds in timed
        reps = None if is_timed else 1
        print(f"\n== {ds}: {os.path.getsize(journeys) / 1e6:.1f} MB per journey, "
              f"{os.path.getsize(paths) / 1e6:.1f} MB aggregated", flush=True)

        # exact Markov (untimed beyond one run; it is the reference, not a contender)
        exact[ds] = _exact(paths, out(f"exact_{ds}.json"))

        if is_timed:
            # warm the page cache, then the floor: wc -l
            subprocess.run(["cat", paths, journeys], stdout=subprocess.DEVNULL, check=True)
            T.measure("wc -l (aggregated file)", ds, ["wc", "-l", paths], kind="wc:paths")
            T.measure("wc -l (per-journey file)", ds, ["wc", "-l", journeys], kind="wc:journeys")
            # the floor of any reader: group the lines by their raw path field
            # (no parsing, no validation, no model), on 1 and on 2 threads
            if os.access(args.floor_bin, os.X_OK):
                for fmt, file in (("paths", paths), ("journeys", journeys)):
                    for n in (1, 2):
                        T.measure(f"group-floor {fmt} --threads {n}", ds,
                                  [args.floor_bin, fmt, file, "--threads", str(n)], kind=f"gfloor:{fmt}")
            else:
                print(f"NOTE: {args.floor_bin} not found: no floor rows", flush=True)

        # ours
        if have_ours:
            for fmt, file in (("paths", paths), ("journeys", journeys)):
                o = out(f"ours_{fmt}_{ds}.json")
                T.measure(f"ours --format {fmt}", ds, [args.ours_bin, file, "--format", fmt, "--json", *ours_extra],
                          stdout_path=o, kind=f"ours:{fmt}", reps=reps)
                ours[(ds, fmt)] = load(o)

        # channelattribution on the aggregated file
        o = out(f"ca_heur_{ds}.json")
        T.measure("ca heuristic_models", ds, [PY, os.path.join(HERE, "peers.py"), "ca-heuristics", paths, "--out", o],
                  kind="peer:paths:heuristics", reps=reps)
        peer_out[(ds, "ca_heur")] = load(o)
        o = out(f"ca_markov_{ds}.json")
        T.measure("ca markov_model", ds, [PY, os.path.join(HERE, "peers.py"), "ca-markov", paths, "--out", o,
                                          "--seed", "0"], kind="peer:paths:markov", reps=reps)
        peer_out[(ds, "ca_markov")] = load(o)

        # polars aggregation + channelattribution on the per-journey file
        o = out(f"pl_ca_heur_{ds}.json")
        T.measure("polars agg + ca heuristic_models", ds,
                  [PY, os.path.join(HERE, "peers.py"), "polars-ca-heuristics", journeys, "--out", o],
                  kind="peer:journeys:heuristics", reps=reps)
        peer_out[(ds, "pl_ca_heur")] = load(o)
        o = out(f"pl_ca_markov_{ds}.json")
        T.measure("polars agg + ca markov_model", ds,
                  [PY, os.path.join(HERE, "peers.py"), "polars-ca-markov", journeys, "--out", o, "--seed", "0"],
                  kind="peer:journeys:markov", reps=reps)
        peer_out[(ds, "pl_ca_markov")] = load(o)

        # mam on the per-journey file: one process per model (value attribution,
        # as an analyst runs it); the conversions pass for agreement is untimed.
        if ds != "10m" or args.mam_10m:
            mam_all = {}
            for m in MAM_MODELS:
                o = out(f"mam_{m}_{ds}.json")
                kind = "peer:journeys:markov" if m == "markov" else "peer:journeys:heuristics"
                T.measure(f"mam {m}", ds, [PY, os.path.join(HERE, "peers.py"), "mam", m, journeys, "--out", o],
                          kind=kind, reps=reps)
                o2 = out(f"mam_{m}_{ds}_conv.json")
                run_once([PY, os.path.join(HERE, "peers.py"), "mam", m, journeys, "--out", o2,
                          "--metric", "conversions"])
                for src in (o, o2):
                    for ch, mods in load(src)["channels"].items():
                        for mod, vals in mods.items():
                            mam_all.setdefault(ch, {}).setdefault(mod, {}).update(vals)
            peer_out[(ds, "mam")] = {"channels": mam_all}

        agreement += _agreement(ds, ours, peer_out, exact)

    # channelattribution's simulation noise on one dataset
    noise = None
    nds = args.noise_dataset
    if nds in exact:
        print(f"\n== channelattribution Markov noise on {nds}: seeds {seeds}", flush=True)
        runs = []
        for s in seeds:
            o = out(f"ca_markov_{nds}_seed{s}.json")
            if s == 0 and (nds, "ca_markov") in peer_out:
                runs.append(peer_out[(nds, "ca_markov")])
                continue
            run_once([PY, os.path.join(HERE, "peers.py"), "ca-markov", f(f"paths_{nds}.csv"), "--out", o,
                      "--seed", str(s)])
            runs.append(load(o))
        noise = _noise(nds, seeds, runs, exact[nds], ours.get((nds, "paths")))
        # seeds closer than nfold (10) apart share mt19937 streams (fold k uses seed + k)
        if 10 in seeds:
            o = out(f"ca_markov_{nds}_seed5.json")
            run_once([PY, os.path.join(HERE, "peers.py"), "ca-markov", f(f"paths_{nds}.csv"), "--out", o,
                      "--seed", "5"])
            a, b = load(o)["channels"], runs[seeds.index(10)]["channels"]
            diff = max(abs(a[c]["markov"]["removal_effect"] - b[c]["markov"]["removal_effect"]) for c in a)
            noise["seed_overlap"] = {"seeds": [5, 10], "max_abs_re_diff": diff, "identical": diff == 0.0}
            print(f"  seeds 5 and 10: max |RE difference| = {diff:g}", flush=True)

    results["timings"] = T.rows
    results["exact"] = {ds: {k: v for k, v in e.items() if k != "channels"} for ds, e in exact.items()}
    results["exact_channels"] = {ds: e["channels"] for ds, e in exact.items()}
    results["agreement"] = agreement
    results["ca_noise"] = noise
    results["goals"] = _goals(T.rows, have_ours, timed)
    results["machine"]["loadavg_end"] = os.getloadavg()
    results["ours_outputs"] = {f"{ds}:{fmt}": v for (ds, fmt), v in ours.items()}
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, "results.json"), "w", encoding="utf-8") as fh:
        json.dump(results, fh, indent=1, ensure_ascii=False)
    md = _markdown(results)
    with open(os.path.join(args.out_dir, "results.md"), "w", encoding="utf-8") as fh:
        fh.write(md)
    print("\n" + md)
    shutil.rmtree(work, ignore_errors=True)


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _exact(paths, o):
    subprocess.run([PY, os.path.join(HERE, "markov_exact.py"), paths, "--json", o], check=True,
                   stderr=subprocess.DEVNULL)
    return load(o)


def _agreement(ds, ours, peer_out, exact):
    rows = []
    ex = exact_channels(exact[ds])
    ca_h = peer_out[(ds, "ca_heur")]["channels"]
    pl_ca_h = peer_out[(ds, "pl_ca_heur")]["channels"]
    mam = peer_out.get((ds, "mam"), {}).get("channels")
    mam_re = None
    if mam:
        mam_re = {ch: {"markov": {"removal_effect": v["markov"]["removal_effect"]}} for ch, v in mam.items()
                  if "markov" in v and "removal_effect" in v["markov"]}

    def add(r):
        r["dataset"] = ds
        rows.append(r)

    # peers among themselves, and the exact Markov against mam's own solve
    add(compare_models("ca heuristics (aggregated) vs polars+ca (per journey)", ca_h, pl_ca_h,
                       ["first_touch", "last_touch", "linear"]))
    if mam:
        add(compare_models("mam vs ca heuristics", mam, ca_h, ["first_touch", "last_touch", "linear"]))
        add(compare_models("mam removal effects vs exact", mam_re, ex, ["markov"], metrics=("removal_effect",)))
        r = compare_models("mam Markov credit vs exact total*RE/sum(RE)", mam, ex, ["markov"])
        r["expected_to_differ"] = "mam spreads each journey's value over its touches in proportion to RE"
        add(r)
    for fmt in ("paths", "journeys"):
        o = ours.get((ds, fmt))
        if not o:
            continue
        oc = ours_channels(o)
        tot = {"total_conversions": o.get("total_conversions"), "total_value": o.get("total_value")}
        ok_tot = (tot["total_conversions"] == exact[ds]["total_conversions"]
                  and rel(tot["total_value"] or 0.0, exact[ds]["total_value"]) <= REL_TOL)
        add({"pair": f"ours ({fmt}) totals vs file", "models": {"totals": {
            "ours": tot, "file": {"total_conversions": exact[ds]["total_conversions"],
                                  "total_value": exact[ds]["total_value"]}, "ok": ok_tot,
            "max_rel_diff": rel(tot["total_value"] or 0.0, exact[ds]["total_value"])}}})
        add(compare_models(f"ours ({fmt}) vs ca heuristics", oc, ca_h, ["first_touch", "last_touch", "linear"]))
        if mam and fmt == "journeys":
            add(compare_models(f"ours ({fmt}) vs mam heuristics", oc, mam, HEURISTICS))
        add(compare_models(f"ours ({fmt}) Markov vs exact", oc, ex, ["markov"],
                           metrics=("removal_effect", "conversions", "value")))
        if mam_re:
            add(compare_models(f"ours ({fmt}) removal effects vs mam", oc, mam_re, ["markov"],
                               metrics=("removal_effect",)))
    if (ds, "paths") in ours and (ds, "journeys") in ours:
        add(compare_models("ours paths vs ours journeys", ours_channels(ours[(ds, "paths")]),
                           ours_channels(ours[(ds, "journeys")]),
                           ["first_touch", "last_touch", "linear", "position_based", "markov", "shapley"],
                           metrics=("conversions", "value", "removal_effect")))
    for r in rows:
        bad = [m for m, v in r["models"].items() if not v.get("ok")]
        verdict = "ok" if not bad else f"DIFFERS: {bad}"
        if r.get("expected_to_differ"):
            verdict = "differs, as expected (definition)" if bad else "agrees (unexpected: definition differs)"
        print(f"  agreement {ds:<10} {r['pair']:<52} " + verdict, flush=True)
    return rows


def _noise(ds, seeds, runs, ex, ours_js):
    chans = sorted(ex["channels"], key=lambda c: -ex["channels"][c]["removal_effect"])
    table = {}
    for ch in chans:
        e = ex["channels"][ch]
        re = [r["channels"][ch]["markov"]["removal_effect"] for r in runs]
        cv = [r["channels"][ch]["markov"]["conversions"] for r in runs]
        vl = [r["channels"][ch]["markov"]["value"] for r in runs]
        vre = [r["channels"][ch]["markov"]["value_removal_effect"] for r in runs]
        sd = statistics.stdev(re)
        mean = statistics.fmean(re)
        table[ch] = {
            "re_runs": re,
            "re_mean": mean,
            "re_sd": sd,
            "re_exact": e["removal_effect"],
            "re_exact_truncated": e["removal_effect_truncated"],
            "re_mean_minus_exact": mean - e["removal_effect"],
            "re_z_of_mean_vs_exact": (mean - e["removal_effect"]) / (sd / math.sqrt(len(re))) if sd > 0 else None,
            "re_z_of_mean_vs_exact_truncated":
                (mean - e["removal_effect_truncated"]) / (sd / math.sqrt(len(re))) if sd > 0 else None,
            "re_max_abs_dev_from_exact": max(abs(x - e["removal_effect"]) for x in re),
            "conv_mean": statistics.fmean(cv),
            "conv_sd": statistics.stdev(cv),
            "conv_exact": e["conversions"],
            "value_mean": statistics.fmean(vl),
            "value_sd": statistics.stdev(vl),
            "value_exact_ours_definition": e["value"],
            "value_exact_ca_definition": e["ca_value"],
            "vre_mean": statistics.fmean(vre),
            "vre_sd": statistics.stdev(vre),
            "vre_exact": e["value_removal_effect"],
        }
        if ours_js and ch in ours_js["channels"]:
            o = ours_js["channels"][ch]["markov"]
            table[ch]["ours_re"] = o.get("removal_effect")
            table[ch]["ours_re_in_sd_from_ca_mean"] = (o.get("removal_effect", 0) - mean) / sd if sd > 0 else None
    return {"dataset": ds, "seeds": seeds, "channels": table,
            "max_abs_re_dev_any_run": max(v["re_max_abs_dev_from_exact"] for v in table.values()),
            "max_re_sd": max(v["re_sd"] for v in table.values())}


def _goals(rows, have_ours, timed):
    def get(ds, kind_prefix):
        return [r for r in rows if r["dataset"] == ds and (r["kind"] or "").startswith(kind_prefix)]

    goals = []
    for ds in sorted(timed):
        ours_p = get(ds, "ours:paths")
        ours_j = get(ds, "ours:journeys")
        wc_p = get(ds, "wc:paths")
        wc_j = get(ds, "wc:journeys")

        def floor(fmt):
            rows_ = get(ds, f"gfloor:{fmt}")
            return min(r["wall_s"] for r in rows_) if rows_ else None

        def bound(g, target_s, fmt):
            # the time the goal asks for, against the least any reader needs
            g["target_s"] = target_s
            f_ = floor(fmt)
            if f_ is not None:
                g["floor_s"] = f_
                g["target_below_floor"] = target_s < f_
                # ours over the floor on the same file format (set below
                # once our time is known)
                g["floor_format"] = fmt
        for what, peers, mine in (
            ("aggregated file: heuristics vs channelattribution (whole process)", get(ds, "peer:paths:heuristics"), ours_p),
            ("aggregated file: Markov vs channelattribution (whole process)", get(ds, "peer:paths:markov"), ours_p),
        ):
            if not peers:
                continue
            best = min(peers, key=lambda r: r["wall_s"])
            g = {"dataset": ds, "goal": what, "target_speedup": 100, "peer": best["label"],
                 "peer_s": best["wall_s"], "peer_rss_mib": best["peak_rss_mib"]}
            bound(g, best["wall_s"] / 100, "paths")
            if mine:
                g.update(ours_s=mine[0]["wall_s"], ours_rss_mib=mine[0]["peak_rss_mib"],
                         speedup=best["wall_s"] / mine[0]["wall_s"])
                g["met"] = g["speedup"] >= 100
            goals.append(g)
        for what, peers in (
            ("per-journey file: heuristics vs fastest peer pipeline", get(ds, "peer:journeys:heuristics")),
            ("per-journey file: Markov vs fastest peer pipeline", get(ds, "peer:journeys:markov")),
        ):
            if not peers:
                continue
            best = min(peers, key=lambda r: r["wall_s"])
            least_mem = min(peers, key=lambda r: r["peak_rss_mib"])
            g = {"dataset": ds, "goal": what, "target_speedup": 20, "target_mem_fraction": 0.1,
                 "peer": best["label"], "peer_s": best["wall_s"], "peer_rss_mib": best["peak_rss_mib"],
                 "least_memory_peer": least_mem["label"], "least_memory_peer_rss_mib": least_mem["peak_rss_mib"]}
            bound(g, best["wall_s"] / 20, "journeys")
            if ours_j:
                o = ours_j[0]
                g.update(ours_s=o["wall_s"], ours_rss_mib=o["peak_rss_mib"], speedup=best["wall_s"] / o["wall_s"],
                         mem_fraction=o["peak_rss_mib"] / best["peak_rss_mib"],
                         mem_fraction_vs_least_memory_peer=o["peak_rss_mib"] / least_mem["peak_rss_mib"])
                g["met"] = g["speedup"] >= 20 and g["mem_fraction"] <= 0.1
            goals.append(g)
        for fmt, mine, wc in (("paths", ours_p, wc_p), ("journeys", ours_j, wc_j)):
            if mine and wc:
                r = mine[0]["wall_s"] / wc[0]["wall_s"]
                g = {"dataset": ds, "goal": f"ours / wc -l ({fmt} file)", "target_ratio_max": 3,
                     "ours_s": mine[0]["wall_s"], "wc_s": wc[0]["wall_s"], "ratio": r, "met": r <= 3}
                bound(g, 3 * wc[0]["wall_s"], fmt)
                goals.append(g)
    for g in goals:
        if g.get("ours_s") and g.get("floor_s"):
            g["ours_over_floor"] = g["ours_s"] / g["floor_s"]
    return goals


def _re6(x):
    return "—" if x is None else f"{x:.6f}"


def _fmt_s(x):
    return "—" if x is None else (f"{x:.3f}" if x < 10 else f"{x:.1f}")


def _markdown(res):
    m = res["machine"]
    lines = [
        f"# Results ({res['date'][:10]})",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['mem_gib']} GiB; Python {m['python']}; "
        f"median of {res['reps']} whole-process runs; load average at start "
        f"{m['loadavg_start'][0]:.2f}, at end {m['loadavg_end'][0]:.2f}.",
        f"Our binary: `{res['ours_bin'] or 'not available (peer side only)'}` {' '.join(res['ours_args'])}"
        + (f" ({res['ours_label']})" if res.get("ours_label") else ""),
        "Peak RSS: GNU time %M of the process (about 2 MiB floor: the `time` wrapper's own image, "
        "see wc -l). Only timed data sets are listed; results.json also has the single agreement runs.",
        "",
        "## Timings",
        "",
        "| dataset | pipeline | wall (s) | peak RSS (MiB) | runs (s) |",
        "|---|---|---:|---:|---|",
    ]
    for r in res["timings"]:
        if r["dataset"] != "-" and r["dataset"] not in res.get("timed_datasets", [r["dataset"]]):
            continue
        note = " †" if r["runs_with_other_builds"] else ""
        lines.append(f"| {r['dataset']} | {r['label']}{note} | {_fmt_s(r['wall_s'])} | {r['peak_rss_mib']:.0f} | "
                     + ", ".join(f"{w:.3f}" for w in r["wall_all_s"]) + " |")
    if any(r["runs_with_other_builds"] for r in res["timings"]):
        lines.append("")
        lines.append(f"† at least one run stayed contended after 4 tries: other processes on this shared "
                     f"machine used more than {OTHER_CPU_LIMIT} cores meanwhile (results.json: other_cpu_cores).")
    lines += ["", "## Goals", "",
              "target s: the time the goal asks of us; floor s: `group-floor` (floor/), the least any reader "
              "does (group the lines by their raw path field, nothing parsed, checked or computed; best of 1 "
              "and 2 threads). A target below the floor is out of reach on this machine. ours / floor: our "
              "time over that floor (same file format).", "",
              "| dataset | goal | peer (fastest) | peer s | peer MiB | ours s | ours MiB | ratio | met "
              "| target s | floor s | ours / floor | target ≥ floor |",
              "|---|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---|"]

    def bounds(g):
        if "floor_s" not in g:
            return f" {_fmt_s(g.get('target_s'))} | — | — | — |"
        # computed here too, so a results.json from before the column renders it
        over = f"{g['ours_s'] / g['floor_s']:.2f}×" if g.get("ours_s") and g["floor_s"] else "—"
        return (f" {_fmt_s(g['target_s'])} | {_fmt_s(g['floor_s'])} | {over} | "
                f"{'NO: below the floor' if g['target_below_floor'] else 'yes'} |")

    for g in res["goals"]:
        if "ratio" in g:
            lines.append(f"| {g['dataset']} | {g['goal']} (≤ 3) | wc -l | {_fmt_s(g['wc_s'])} | | "
                         f"{_fmt_s(g['ours_s'])} | | {g['ratio']:.2f} | {'yes' if g['met'] else 'NO'} |" + bounds(g))
            continue
        tgt = f"≥ {g['target_speedup']}×" + (", RSS ≤ 1/10" if "target_mem_fraction" in g else "")
        sp = f"{g['speedup']:.0f}×" if "speedup" in g else "—"
        if "mem_fraction" in g:
            sp += f", RSS {g['mem_fraction']:.3f}"
        met = {True: "yes", False: "NO"}.get(g.get("met"), "—")
        lines.append(f"| {g['dataset']} | {g['goal']} ({tgt}) | {g['peer']} | {_fmt_s(g['peer_s'])} | "
                     f"{g['peer_rss_mib']:.0f} | {_fmt_s(g.get('ours_s'))} | "
                     f"{g['ours_rss_mib']:.1f} | {sp} | {met} |" + bounds(g) if "ours_s" in g else
                     f"| {g['dataset']} | {g['goal']} ({tgt}) | {g['peer']} | {_fmt_s(g['peer_s'])} | "
                     f"{g['peer_rss_mib']:.0f} | — | — | — | — |" + bounds(g))
    lines += ["", "## Agreement (relative tolerance 1e-9)", "",
              "| dataset | pair | model | max rel. diff | ok | worst |", "|---|---|---|---:|---|---|"]
    for a in res["agreement"]:
        for mod, v in a["models"].items():
            worst = v.get("worst") or ""
            if v.get("absent_on_one_side_taken_as_0"):
                worst += f" (absent on one side, taken as 0: {', '.join(v['absent_on_one_side_taken_as_0'])})"
            if mod == "totals":
                worst = f"ours {v['ours']} file {v['file']}"
            ok = "yes" if v.get("ok") else "NO"
            if a.get("expected_to_differ"):
                ok = f"differs by definition: {a['expected_to_differ']}" if not v.get("ok") else "yes (?)"
            lines.append(f"| {a['dataset']} | {a['pair']} | {mod} | {v.get('max_rel_diff', 0):.2e} | "
                         f"{ok} | {worst} |")
    n = res.get("ca_noise")
    if n:
        lines += ["", f"## channelattribution Markov vs exact ({n['dataset']}, seeds {n['seeds']})", "",
                  "| channel | exact RE | exact RE, ca truncation | ca mean | ca sd (one run) | mean − exact | "
                  "z (mean vs exact) | z (mean vs truncated) | max abs dev of a run | ours RE |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for ch, v in n["channels"].items():
            z = v["re_z_of_mean_vs_exact"]
            zt = v["re_z_of_mean_vs_exact_truncated"]
            lines.append(f"| {ch} | {v['re_exact']:.6f} | {v['re_exact_truncated']:.6f} | {v['re_mean']:.6f} | "
                         f"{v['re_sd']:.6f} | {v['re_mean_minus_exact']:+.6f} | "
                         f"{'—' if z is None else f'{z:+.2f}'} | {'—' if zt is None else f'{zt:+.2f}'} | "
                         f"{v['re_max_abs_dev_from_exact']:.6f} | "
                         f"{_re6(v.get('ours_re'))} |")
        if n.get("seed_overlap"):
            so = n["seed_overlap"]
            lines += ["", f"Seeds {so['seeds'][0]} and {so['seeds'][1]}: max |RE difference| = "
                          f"{so['max_abs_re_diff']:g} ({'bit-identical' if so['identical'] else 'different'})."]
        lines += ["", "| channel | ca conv mean ± sd | exact conv | ca value mean ± sd | exact value (ca's value-weighted RE) | exact value (∝ RE) |",
                  "|---|---:|---:|---:|---:|---:|"]
        for ch, v in n["channels"].items():
            lines.append(f"| {ch} | {v['conv_mean']:.1f} ± {v['conv_sd']:.1f} | {v['conv_exact']:.1f} | "
                         f"{v['value_mean']:.0f} ± {v['value_sd']:.0f} | {v['value_exact_ca_definition']:.0f} | "
                         f"{v['value_exact_ours_definition']:.0f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
