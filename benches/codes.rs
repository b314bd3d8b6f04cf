//! Code generation, parsing and check validation.
//!
//! Targets: a derived code within 3× of one HMAC-SHA256 over the same
//! input bytes (derivation clones a pre-keyed state, so it should be
//! *faster*), and parsing at 10 million codes per second or more.
//!
//! Run: `cargo bench --bench codes -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use rand::SeedableRng;
use rand::rngs::StdRng;
use referrals::CodeFormat;
use referrals::code::CodeSecret;
use referrals::code::check::is_valid;
use referrals::model::{CustomerId, ProgramId};
use sha2::Sha256;

const KEY: &[u8; 32] = b"bench-secret-0123456789abcdef!!!";

fn generation(c: &mut Criterion) {
    let format = CodeFormat::default()
        .with_prefix("BAKE")
        .expect("valid prefix");
    let secret = CodeSecret::new(KEY).expect("32-byte secret");
    let program = ProgramId::new("bakery-riyadh").expect("valid id");
    let customer = CustomerId::new("customer-000042").expect("valid id");

    // The exact bytes `derive` authenticates, for the HMAC baseline.
    let mut message = b"referrals/code/v1".to_vec();
    for id in [program.as_str(), customer.as_str()] {
        message.extend_from_slice(&(id.len() as u32).to_be_bytes());
        message.extend_from_slice(id.as_bytes());
    }
    message.extend_from_slice(&7u32.to_be_bytes());

    let mut group = c.benchmark_group("generate");
    group.throughput(Throughput::Elements(1));
    let mut rng = StdRng::seed_from_u64(2026);
    group.bench_function("random", |b| b.iter(|| format.random(black_box(&mut rng))));
    group.bench_function("derive", |b| {
        b.iter(|| {
            format.derive(
                black_box(&secret),
                black_box(&program),
                black_box(&customer),
                black_box(7),
            )
        })
    });
    group.bench_function("hmac_sha256_full", |b| {
        b.iter(|| {
            let mut mac = Hmac::<Sha256>::new_from_slice(black_box(KEY)).expect("any key length");
            mac.update(black_box(&message));
            mac.finalize().into_bytes()
        })
    });
    group.finish();
}

fn parsing(c: &mut Criterion) {
    let format = CodeFormat::default();
    let clean = "7K3MQ9XDS";
    // Lower case, dashes, spaces and an Arabic-Indic seven.
    let messy = " ٧k3-mq9 xds ";
    assert!(format.parse(clean).is_ok() && format.parse(messy).is_ok());

    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    group.bench_function("clean", |b| b.iter(|| format.parse(black_box(clean))));
    group.bench_function("messy", |b| b.iter(|| format.parse(black_box(messy))));
    group.bench_function("check_only", |b| {
        b.iter(|| is_valid(black_box(clean.as_bytes())))
    });

    // Many different codes, so branch prediction cannot learn one input.
    let mut rng = StdRng::seed_from_u64(1);
    let codes: Vec<String> = (0..1000)
        .map(|_| format.display(&format.random(&mut rng)).to_lowercase())
        .collect();
    group.throughput(Throughput::Elements(codes.len() as u64));
    group.bench_function("display_form_x1000", |b| {
        b.iter(|| {
            codes
                .iter()
                .filter(|code| format.parse(black_box(code)).is_ok())
                .count()
        })
    });
    group.finish();
}

criterion_group!(benches, generation, parsing);
criterion_main!(benches);
