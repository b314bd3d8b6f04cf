//! Which channels drive referred sales: every attribution model over a file
//! of journeys, as a table or as JSON.
//!
//! Run:
//!
//! ```text
//! cargo run --release --example channel_report -- FILE [--format paths|journeys] [--json]
//!     [--order K] [--half-life-hours H] [--threads N] [--block-bytes N] [--keep-self-loops]
//!     [--timings]
//! cargo run --release --example channel_report -- --generate JOURNEYS CHANNELS OUT
//! ```
//!
//! `FILE` is either format of `referrals::attribution::channel` (guessed
//! from the header unless `--format` says). Defaults: position based
//! 40/20/40, time decay half-life 7 days (168 h), Markov first order with
//! self-transitions dropped, Shapley up to 20 channels. A model the data
//! cannot support (time decay without touch times, Shapley over too many
//! channels) is left out, with a note on stderr. Errors in the file go to
//! stderr with their line number, and the exit status is 1 (2 for bad
//! arguments).
//!
//! With `--json` it prints one object:
//!
//! ```text
//! {"total_conversions": N, "total_value": V, "channels": {"<channel>": {
//!   "first_touch": {"conversions": x, "value": y}, "last_touch": {...},
//!   "linear": {...}, "position_based": {...}, "time_decay": {...},
//!   "markov": {"removal_effect": r, "conversions": x, "value": y},
//!   "shapley": {"conversions": x, "value": y}}}}
//! ```
//!
//! (numbers as JSON numbers; a model left out is absent from every channel).
//!
//! Without `FILE` it prints the usage and a report on a small built-in
//! sample. `--generate` writes a synthetic per-journey file of `JOURNEYS`
//! journeys over `CHANNELS` channels to `OUT` (seeded, the same bytes on
//! every run) and exits: a test file for timing the models over many
//! channels.

use std::fmt::Write as _;
use std::process::ExitCode;
use std::time::Instant;

use referrals::attribution::channel::{
    ChannelCredits, Format, JourneySet, MarkovAttribution, MarkovOptions, PositionWeights,
    ReadError, ReadOptions, ShapleyOptions, read, read_file, synth,
};

const USAGE: &str = "usage: channel_report FILE [--format paths|journeys] [--json] [--order K] \
[--half-life-hours H] [--threads N] [--block-bytes N] [--keep-self-loops] [--timings]\n\
       channel_report --generate JOURNEYS CHANNELS OUT";

/// A small sample: Arabic and English names, quoted fields, CRLF.
const SAMPLE: &str = "journey_id,path,hours,converted,value\r\n\
1,whatsapp > email,30 > 2,1,120.5\r\n\
2,email,5,0,0\r\n\
3,\"qr in store > whatsapp\",\"48 > 1\",1,80\r\n\
4,واتساب > qr in store > email,100 > 20 > 0.5,1,45.25\r\n\
5,sms > sms > email,72 > 24 > 3,0,0\r\n\
6,whatsapp,12,1,30\r\n\
7,sms > واتساب,10 > 4,0,0\r\n";

struct Args {
    file: Option<String>,
    format: Option<Format>,
    json: bool,
    order: usize,
    half_life: f64,
    threads: Option<usize>,
    block_bytes: Option<usize>,
    keep_self_loops: bool,
    timings: bool,
    /// `--generate`: journeys, channels, output file.
    generate: Option<(u64, usize, String)>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        file: None,
        format: None,
        json: false,
        order: 1,
        half_life: 168.0,
        threads: None,
        block_bytes: None,
        keep_self_loops: false,
        timings: false,
        generate: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--json" => args.json = true,
            "--keep-self-loops" => args.keep_self_loops = true,
            "--timings" => args.timings = true,
            "--format" => {
                args.format = Some(match value("--format")?.as_str() {
                    "paths" => Format::Paths,
                    "journeys" => Format::Journeys,
                    other => return Err(format!("unknown format {other:?}: paths or journeys")),
                })
            }
            "--order" => {
                let v = value("--order")?;
                args.order = v
                    .parse()
                    .ok()
                    .filter(|&k| k >= 1)
                    .ok_or_else(|| format!("--order: {v:?} is not a whole number >= 1"))?;
            }
            "--half-life-hours" => {
                let v = value("--half-life-hours")?;
                args.half_life = v
                    .parse()
                    .ok()
                    .filter(|h: &f64| h.is_finite() && *h > 0.0)
                    .ok_or_else(|| format!("--half-life-hours: {v:?} is not a number > 0"))?;
            }
            "--threads" => {
                let v = value("--threads")?;
                args.threads = Some(
                    v.parse()
                        .ok()
                        .filter(|&n| n >= 1)
                        .ok_or_else(|| format!("--threads: {v:?} is not a whole number >= 1"))?,
                );
            }
            "--block-bytes" => {
                let v = value("--block-bytes")?;
                args.block_bytes =
                    Some(v.parse().ok().filter(|&n| n >= 1).ok_or_else(|| {
                        format!("--block-bytes: {v:?} is not a whole number >= 1")
                    })?);
            }
            "--generate" => {
                let journeys = value("--generate")?;
                let journeys = journeys
                    .parse()
                    .map_err(|_| format!("--generate: {journeys:?} is not a whole number"))?;
                let channels = value("--generate")?;
                let channels = channels.parse().ok().filter(|&c| c >= 1).ok_or_else(|| {
                    format!("--generate: {channels:?} is not a whole number >= 1")
                })?;
                args.generate = Some((journeys, channels, value("--generate")?));
            }
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            file => {
                if args.file.replace(file.to_owned()).is_some() {
                    return Err("more than one FILE".to_owned());
                }
            }
        }
    }
    Ok(args)
}

/// Every model's output, `None` where the data cannot support it.
struct Report {
    first: ChannelCredits,
    last: ChannelCredits,
    linear: ChannelCredits,
    position: ChannelCredits,
    time_decay: Option<ChannelCredits>,
    markov: Option<MarkovAttribution>,
    shapley: Option<ChannelCredits>,
}

/// Runs the models, Markov (the slowest) on a second thread beside the
/// others: each model only reads the set.
fn analyse(set: &JourneySet, args: &Args) -> Report {
    let markov_options = MarkovOptions::default()
        .with_order(args.order)
        .with_self_transitions(args.keep_self_loops);
    std::thread::scope(|scope| {
        let markov = scope.spawn(|| {
            set.markov(&markov_options)
                .map_err(|e| eprintln!("note: Markov left out: {e}"))
                .ok()
        });
        let started = Instant::now();
        let shapley = set
            .shapley(&ShapleyOptions::default())
            .map_err(|e| eprintln!("note: Shapley left out: {e}"))
            .ok();
        let first = set.first_touch();
        let last = set.last_touch();
        let linear = set.linear();
        let position = set.position_based(PositionWeights::default());
        Report {
            first,
            last,
            linear,
            position,
            time_decay: set
                .time_decay()
                .map_err(|e| eprintln!("note: time decay left out: {e}"))
                .ok()
                .cloned(),
            markov: {
                // A big chain (thousands of states) takes seconds: say so.
                let mut said = false;
                while !markov.is_finished() {
                    if !said && started.elapsed().as_secs_f64() > 1.0 {
                        eprintln!(
                            "note: Markov (order {}) over {} channels still running after 1 s…",
                            args.order,
                            set.channels().len()
                        );
                        said = true;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                markov
            }
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p)),
            shapley,
        }
    })
}

/// The process's peak resident memory so far in KiB (`VmHWM`), on Linux.
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn num(x: f64) -> String {
    // serde_json writes the shortest text that reads back to the same f64
    // (and null for a non-finite number, which the models never produce).
    serde_json::to_string(&x).unwrap_or_else(|_| "null".to_owned())
}

/// Writes `out` to `sink` once it holds 64 KiB: a report over millions of
/// channels is streamed, never held whole.
fn spill(out: &mut String, sink: &mut impl std::io::Write) -> std::io::Result<()> {
    if out.len() >= 1 << 16 {
        sink.write_all(out.as_bytes())?;
        out.clear();
    }
    Ok(())
}

fn json(set: &JourneySet, report: &Report, sink: &mut impl std::io::Write) -> std::io::Result<()> {
    let mut out = String::with_capacity(1 << 17);
    let _ = write!(
        out,
        "{{\"total_conversions\": {}, \"total_value\": {}, \"channels\": {{",
        set.total_conversions(),
        num(set.total_value())
    );
    for (i, (id, name)) in set.channels().iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let name = serde_json::to_string(name).unwrap_or_default();
        let _ = write!(out, "{name}: {{");
        let mut models: Vec<(&str, Option<&ChannelCredits>)> = vec![
            ("first_touch", Some(&report.first)),
            ("last_touch", Some(&report.last)),
            ("linear", Some(&report.linear)),
            ("position_based", Some(&report.position)),
            ("time_decay", report.time_decay.as_ref()),
        ];
        let mut first = true;
        for (model, credits) in models.drain(..) {
            let Some(credits) = credits else { continue };
            let c = credits.get(id);
            let sep = if first { "" } else { ", " };
            first = false;
            let _ = write!(
                out,
                "{sep}\"{model}\": {{\"conversions\": {}, \"value\": {}}}",
                num(c.conversions),
                num(c.value)
            );
        }
        if let Some(markov) = &report.markov {
            let c = markov.credits().get(id);
            let _ = write!(
                out,
                ", \"markov\": {{\"removal_effect\": {}, \"conversions\": {}, \"value\": {}}}",
                num(markov.removal_effect(id)),
                num(c.conversions),
                num(c.value)
            );
        }
        if let Some(shapley) = &report.shapley {
            let c = shapley.get(id);
            let _ = write!(
                out,
                ", \"shapley\": {{\"conversions\": {}, \"value\": {}}}",
                num(c.conversions),
                num(c.value)
            );
        }
        out.push('}');
        spill(&mut out, sink)?;
    }
    out.push_str("}}\n");
    sink.write_all(out.as_bytes())
}

fn table(set: &JourneySet, report: &Report, sink: &mut impl std::io::Write) -> std::io::Result<()> {
    let mut columns: Vec<(&str, &ChannelCredits)> = vec![
        ("first", &report.first),
        ("last", &report.last),
        ("linear", &report.linear),
        ("position", &report.position),
    ];
    if let Some(t) = &report.time_decay {
        columns.push(("time decay", t));
    }
    if let Some(m) = &report.markov {
        columns.push(("markov", m.credits()));
    }
    if let Some(s) = &report.shapley {
        columns.push(("shapley", s));
    }
    let width = set
        .channels()
        .iter()
        .map(|(_, n)| n.chars().count())
        .max()
        .unwrap_or(0)
        .max(7);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} distinct paths, {} journeys, {} conversions, value {:.2}\n",
        set.len(),
        set.total_conversions() + set.total_nulls(),
        set.total_conversions(),
        set.total_value()
    );
    for (title, pick) in [
        (
            "Conversions",
            (|c: referrals::attribution::channel::Credit| c.conversions) as fn(_) -> f64,
        ),
        ("Value", |c| c.value),
    ] {
        let _ = write!(out, "{title:<width$}");
        for (name, _) in &columns {
            let _ = write!(out, " {name:>12}");
        }
        if report.markov.is_some() {
            let _ = write!(out, " {:>14}", "removal effect");
        }
        out.push('\n');
        for (id, name) in set.channels().iter() {
            let pad = width.saturating_sub(name.chars().count());
            let _ = write!(out, "{name}{}", " ".repeat(pad));
            for (_, credits) in &columns {
                let _ = write!(out, " {:>12.2}", pick(credits.get(id)));
            }
            if let Some(m) = &report.markov {
                let _ = write!(out, " {:>14.4}", m.removal_effect(id));
            }
            out.push('\n');
            spill(&mut out, sink)?;
        }
        let _ = write!(out, "{:<width$}", "total");
        for (_, credits) in &columns {
            let _ = write!(out, " {:>12.2}", pick(credits.total()));
        }
        out.push_str("\n\n");
    }
    sink.write_all(out.as_bytes())
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if let Some((journeys, channels, out)) = &args.generate {
        let written = std::fs::File::create(out).and_then(|file| {
            let mut file = std::io::BufWriter::new(file);
            synth::write_many_channels_csv(*journeys, *channels, 1, &mut file)?;
            std::io::Write::flush(&mut file)
        });
        return match written {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {out}: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let mut options = ReadOptions::default().with_half_life_hours(args.half_life);
    if let Some(format) = args.format {
        options = options.with_format(format);
    }
    if let Some(threads) = args.threads {
        options = options.with_threads(threads);
    }
    if let Some(block_bytes) = args.block_bytes {
        options = options.with_block_bytes(block_bytes);
    }
    let started = Instant::now();
    let (source, result) = match &args.file {
        Some(file) => (file.clone(), read_file(file, &options)),
        None => {
            eprintln!("{USAGE}\n(no FILE: a report on a built-in sample)\n");
            ("sample".to_owned(), read(SAMPLE.as_bytes(), &options))
        }
    };
    let set = match result {
        Ok(set) => set,
        // An option out of range is a bad argument, not a bad file.
        Err(e @ ReadError::InvalidOption(_)) => {
            eprintln!("error: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("error: {source}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let read_done = Instant::now();
    let read_peak = peak_memory();
    let report = analyse(&set, &args);
    let models_done = Instant::now();
    let models_peak = peak_memory();
    let mut stdout = std::io::stdout().lock();
    let written = if args.json {
        json(&set, &report, &mut stdout)
    } else {
        table(&set, &report, &mut stdout)
    }
    .and_then(|()| std::io::Write::flush(&mut stdout));
    if let Err(e) = written {
        eprintln!("error: writing the report: {e}");
        return ExitCode::FAILURE;
    }
    if args.timings {
        eprintln!(
            "read {:.1} ms, models {:.1} ms, output {:.1} ms ({} distinct paths)",
            (read_done - started).as_secs_f64() * 1e3,
            (models_done - read_done).as_secs_f64() * 1e3,
            models_done.elapsed().as_secs_f64() * 1e3,
            set.len()
        );
        if let (Some(read), Some(models), Some(output)) = (read_peak, models_peak, peak_memory()) {
            eprintln!(
                "peak memory: {:.1} MiB after reading, {:.1} MiB after the models, {:.1} MiB in all",
                read as f64 / 1024.0,
                models as f64 / 1024.0,
                output as f64 / 1024.0
            );
        }
    }
    ExitCode::SUCCESS
}
