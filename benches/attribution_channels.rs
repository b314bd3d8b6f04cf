//! Channel analysis over 1,000,000 synthetic journeys (8 channels): parse a
//! per-journey CSV held in memory (1 and 2 threads), parse its aggregated
//! form, build from in-memory journeys (with time decay), then each model
//! on the aggregate.
//!
//! Run: `cargo bench --bench attribution_channels -- --warm-up-time 1 --measurement-time 5`
//!
//! Files for comparisons with other tools (the same seeded generator):
//! `CHANNEL_SYNTH_DIR=/tmp/ch cargo bench --bench attribution_channels`
//! writes `journeys_1m.csv`, `journeys_10m.csv`, `paths_1m.csv` and
//! `paths_10m.csv` there and exits.

use std::fs::File;
use std::hint::black_box;
use std::io::BufWriter;
use std::path::Path;

use criterion::{BatchSize, Criterion, Throughput};
use referrals::attribution::channel::synth::{self, CHANNELS, Rng, SynthJourney};
use referrals::attribution::channel::{
    Journey, JourneySetBuilder, MarkovOptions, PositionWeights, ReadOptions, ShapleyOptions, read,
};

const JOURNEYS: u64 = 1_000_000;
const SEED: u64 = 2026;

fn parsing(c: &mut Criterion) {
    let csv = synth::journeys_csv(JOURNEYS, SEED);
    let set = read(&csv[..], &ReadOptions::default()).expect("generated CSV is valid");
    let paths = synth::paths_csv(&set);
    eprintln!(
        "per-journey CSV: {} bytes, {} distinct paths; aggregated: {} bytes",
        csv.len(),
        set.len(),
        paths.len()
    );

    let mut group = c.benchmark_group("channel_parse_1m");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(csv.len() as u64));
    for threads in [1, 2] {
        let options = ReadOptions::default().with_threads(threads);
        group.bench_function(format!("journeys_csv_{threads}_threads"), |b| {
            b.iter(|| read(black_box(&csv[..]), &options).expect("valid"))
        });
    }
    group.throughput(Throughput::Bytes(paths.len() as u64));
    group.bench_function("paths_csv", |b| {
        b.iter(|| read(black_box(paths.as_bytes()), &ReadOptions::default()).expect("valid"))
    });
    group.finish();
}

fn building(c: &mut Criterion) {
    let mut rng = Rng::new(SEED);
    let journeys: Vec<(Vec<&str>, Vec<f64>, bool, f64)> = (0..JOURNEYS)
        .map(|_| {
            let j = SynthJourney::random(&mut rng);
            let path = j.path.iter().map(|&c| CHANNELS[c]).collect();
            let hours = j.tenths.iter().map(|&t| f64::from(t) / 10.0).collect();
            (path, hours, j.converted, j.cents as f64 / 100.0)
        })
        .collect();
    let mut group = c.benchmark_group("channel_build_1m");
    group.sample_size(10);
    group.throughput(Throughput::Elements(JOURNEYS));
    group.bench_function("builder_with_time_decay", |b| {
        b.iter_batched(
            JourneySetBuilder::new,
            |mut builder| {
                for (path, hours, converted, value) in &journeys {
                    let journey = if *converted {
                        Journey::converted(path, *value)
                    } else {
                        Journey::lost(path)
                    };
                    builder.add(&journey.with_hours(hours)).expect("valid");
                }
                builder.finish().expect("finite")
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn models(c: &mut Criterion) {
    let set = synth::journey_set(JOURNEYS, SEED).expect("generated CSV is valid");
    let mut group = c.benchmark_group("channel_models_1m");
    group.bench_function("first_touch", |b| b.iter(|| black_box(&set).first_touch()));
    group.bench_function("last_touch", |b| b.iter(|| black_box(&set).last_touch()));
    group.bench_function("linear", |b| b.iter(|| black_box(&set).linear()));
    group.bench_function("position_based", |b| {
        b.iter(|| black_box(&set).position_based(PositionWeights::default()))
    });
    group.bench_function("time_decay_lookup", |b| {
        b.iter(|| black_box(&set).time_decay().expect("has times").total())
    });
    for order in [1, 2, 3] {
        let options = MarkovOptions::default().with_order(order);
        group.bench_function(format!("markov_order_{order}"), |b| {
            b.iter(|| black_box(&set).markov(&options).expect("solvable"))
        });
    }
    group.bench_function("shapley", |b| {
        b.iter(|| {
            black_box(&set)
                .shapley(&ShapleyOptions::default())
                .expect("8 channels")
        })
    });
    group.finish();
}

/// Writes the comparison files into `dir`.
fn write_files(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (n, tag) in [(1_000_000u64, "1m"), (10_000_000, "10m")] {
        let journeys = dir.join(format!("journeys_{tag}.csv"));
        synth::write_journeys_csv(n, SEED, BufWriter::new(File::create(&journeys)?))?;
        let set = referrals::attribution::channel::read_file(&journeys, &ReadOptions::default())
            .map_err(std::io::Error::other)?;
        std::fs::write(dir.join(format!("paths_{tag}.csv")), synth::paths_csv(&set))?;
        eprintln!(
            "wrote {} ({} distinct paths)",
            journeys.display(),
            set.len()
        );
    }
    Ok(())
}

fn main() {
    if let Some(dir) = std::env::var_os("CHANNEL_SYNTH_DIR") {
        write_files(Path::new(&dir)).expect("writing the synthetic files");
        return;
    }
    let mut c = Criterion::default().configure_from_args();
    parsing(&mut c);
    building(&mut c);
    models(&mut c);
    c.final_summary();
}
