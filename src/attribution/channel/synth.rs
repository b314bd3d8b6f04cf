//! Seeded synthetic journeys over 8 referral channels, for benchmarks and
//! tests only: not part of the API, and free to change.
//!
//! Journeys have 1 to 8 touches (mean about 2; each further touch with
//! probability 1/2), a channel mix where some channels are more common
//! and some convert better, repeats of the previous channel 30 % of the
//! time, touch times spread over days, and values with two decimals on
//! conversions.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{JourneySet, ReadError, ReadOptions, read};

/// The 8 channels, by popularity.
pub const CHANNELS: [&str; 8] = [
    "whatsapp",
    "email",
    "sms",
    "qr in store",
    "instagram",
    "facebook",
    "telegram",
    "snapchat",
];

/// Cumulative popularity of [`CHANNELS`] (out of 1000).
const POPULARITY: [u64; 8] = [300, 500, 620, 720, 820, 900, 960, 1000];

/// Conversion lift of a touch on each channel.
const LIFT: [f64; 8] = [0.04, 0.02, 0.01, 0.06, 0.015, 0.01, 0.02, 0.005];

/// SplitMix64: tiny, seeded, the same on every platform and version.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn channel(&mut self) -> usize {
        let r = self.next_u64() % 1000;
        POPULARITY.iter().position(|&p| r < p).unwrap_or(7)
    }
}

/// One synthetic journey: channel indexes, hours before the end (one
/// decimal), whether it converted, and its value (two decimals).
#[derive(Debug, Clone, PartialEq)]
pub struct SynthJourney {
    /// Indexes into [`CHANNELS`].
    pub path: Vec<usize>,
    /// Hours before the end, per touch, in tenths.
    pub tenths: Vec<u32>,
    /// Converted or not.
    pub converted: bool,
    /// Value in cents (0 unless converted).
    pub cents: u64,
}

impl SynthJourney {
    /// A random journey.
    pub fn random(rng: &mut Rng) -> Self {
        let mut path = vec![rng.channel()];
        while path.len() < 8 && rng.next_u64() % 2 == 0 {
            let last = path[path.len() - 1];
            let next = if rng.next_u64() % 10 < 3 {
                last
            } else {
                rng.channel()
            };
            path.push(next);
        }
        let p = (0.02 + path.iter().map(|&c| LIFT[c]).sum::<f64>()).min(0.9);
        let converted = rng.next_f64() < p;
        let cents = if converted {
            500 + rng.next_u64() % 30_000
        } else {
            0
        };
        // From the last touch back: 0-48 h, then gaps of up to 5 days.
        let mut tenths = vec![0u32; path.len()];
        let mut t = (rng.next_u64() % 480) as u32;
        for slot in tenths.iter_mut().rev() {
            *slot = t;
            t += (rng.next_u64() % 1200) as u32;
        }
        SynthJourney {
            path,
            tenths,
            converted,
            cents,
        }
    }

    /// Appends the journey as a line of the per-journey format.
    pub fn write_line(&self, id: u64, out: &mut String) {
        let _ = write!(out, "{id},");
        for (i, &c) in self.path.iter().enumerate() {
            if i > 0 {
                out.push_str(" > ");
            }
            out.push_str(CHANNELS[c]);
        }
        out.push(',');
        for (i, &t) in self.tenths.iter().enumerate() {
            if i > 0 {
                out.push_str(" > ");
            }
            let _ = write!(out, "{}.{}", t / 10, t % 10);
        }
        if self.converted {
            let _ = writeln!(out, ",1,{}.{:02}", self.cents / 100, self.cents % 100);
        } else {
            out.push_str(",0,0\n");
        }
    }
}

/// The per-journey header line.
pub const JOURNEYS_HEADER: &str = "journey_id,path,hours,converted,value\n";

/// The aggregated-format header line.
pub const PATHS_HEADER: &str = "path;total_conversions;total_null;total_conversion_value\n";

/// Writes `n` journeys in the per-journey format, header first.
///
/// # Errors
///
/// The writer's errors.
pub fn write_journeys_csv(n: u64, seed: u64, mut out: impl Write) -> io::Result<()> {
    let mut rng = Rng::new(seed);
    let mut buf = String::with_capacity(1 << 20);
    buf.push_str(JOURNEYS_HEADER);
    for id in 1..=n {
        SynthJourney::random(&mut rng).write_line(id, &mut buf);
        if buf.len() > (1 << 20) - 256 {
            out.write_all(buf.as_bytes())?;
            buf.clear();
        }
    }
    out.write_all(buf.as_bytes())
}

/// `n` journeys in the per-journey format, in memory.
pub fn journeys_csv(n: u64, seed: u64) -> Vec<u8> {
    let mut out = Vec::new();
    // Writing to a Vec cannot fail.
    let _ = write_journeys_csv(n, seed, &mut out);
    out
}

/// The aggregated format of a set: one line per distinct path.
pub fn paths_csv(set: &JourneySet) -> String {
    let mut out = String::from(PATHS_HEADER);
    for (path, stats) in set.paths() {
        let _ = writeln!(
            out,
            "{};{};{};{}",
            set.channels().path_string(path),
            stats.conversions,
            stats.nulls,
            stats.value
        );
    }
    out
}

/// `n` journeys aggregated (read from [`journeys_csv`]).
///
/// # Errors
///
/// None in practice: the generator writes valid lines.
pub fn journey_set(n: u64, seed: u64) -> Result<JourneySet, ReadError> {
    read(&journeys_csv(n, seed)[..], &ReadOptions::default())
}

/// Writes `n` journeys over `channels` channels named `c0`, `c1`, … in the
/// per-journey format, header first: the same shape as
/// [`write_journeys_csv`] (1 to 8 touches, repeats, times, values) but
/// with a log-uniform channel popularity (channel `i` about `1/(i + 1)`)
/// and a conversion lift that varies by channel. For timing models over
/// many channels (`channel_report --generate`).
///
/// # Errors
///
/// The writer's errors.
pub fn write_many_channels_csv(
    n: u64,
    channels: usize,
    seed: u64,
    mut out: impl Write,
) -> io::Result<()> {
    let channels = channels.max(1);
    let mut rng = Rng::new(seed);
    let pick = |rng: &mut Rng| -> usize {
        let u = rng.next_f64();
        ((channels as f64 + 1.0).powf(u) - 1.0)
            .floor()
            .min(channels as f64 - 1.0) as usize
    };
    let mut buf = String::with_capacity(1 << 20);
    buf.push_str(JOURNEYS_HEADER);
    let mut path = Vec::new();
    for id in 1..=n {
        path.clear();
        path.push(pick(&mut rng));
        while path.len() < 8 && rng.next_u64() % 2 == 0 {
            let last = path[path.len() - 1];
            let next = if rng.next_u64() % 10 < 3 {
                last
            } else {
                pick(&mut rng)
            };
            path.push(next);
        }
        let lift: f64 = path.iter().map(|&c| 0.005 + (c % 7) as f64 * 0.006).sum();
        let converted = rng.next_f64() < (0.02 + lift).min(0.9);
        let _ = write!(buf, "{id},");
        for (i, &c) in path.iter().enumerate() {
            if i > 0 {
                buf.push_str(" > ");
            }
            let _ = write!(buf, "c{c}");
        }
        buf.push(',');
        let mut t = (rng.next_u64() % 480) as u32;
        let mut tenths = vec![0u32; path.len()];
        for slot in tenths.iter_mut().rev() {
            *slot = t;
            t += (rng.next_u64() % 1200) as u32;
        }
        for (i, &t) in tenths.iter().enumerate() {
            if i > 0 {
                buf.push_str(" > ");
            }
            let _ = write!(buf, "{}.{}", t / 10, t % 10);
        }
        if converted {
            let cents = 500 + rng.next_u64() % 30_000;
            let _ = writeln!(buf, ",1,{}.{:02}", cents / 100, cents % 100);
        } else {
            buf.push_str(",0,0\n");
        }
        if buf.len() > (1 << 20) - 512 {
            out.write_all(buf.as_bytes())?;
            buf.clear();
        }
    }
    out.write_all(buf.as_bytes())
}
