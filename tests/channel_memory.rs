//! Reading a channel file stays within ten times its size in memory,
//! whatever its shape: a file where every line names a new channel used to
//! peak at about 40 times (every name held four times over, tables sized
//! for packed paths that never came).
//!
//! Measured as the growth of the process's peak resident memory (Linux:
//! `VmHWM`, reset through `/proc/self/clear_refs`), the figure a user's
//! `time -v` shows: allocator overhead and touched pages count, reserved
//! but untouched capacity does not. A test binary of its own, so that
//! nothing else runs beside it; elsewhere than Linux it says it skipped.

use std::io::Write;

use referrals::attribution::channel::{ReadOptions, read_file};

/// A `/proc/self/status` field in KiB.
fn status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// How far reading `text` from a file raised the peak resident memory, in
/// bytes; `None` where that cannot be measured.
fn peak_reading(text: &str, options: &ReadOptions) -> Option<u64> {
    let path = std::env::temp_dir().join(format!(
        "referrals-channel-memory-{}.csv",
        std::process::id()
    ));
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(text.as_bytes()).unwrap();
    drop(file);
    // "5" resets the peak to the current resident size (Linux 4.0+).
    std::fs::write("/proc/self/clear_refs", "5").ok()?;
    let before = status_kib("VmRSS:")?;
    let set = read_file(&path, options).unwrap();
    let peak = status_kib("VmHWM:")?;
    assert!(set.channels().len() > 255);
    drop(set);
    let _ = std::fs::remove_file(&path);
    Some(peak.saturating_sub(before) * 1024)
}

const LINES: usize = 400_000;

/// The cases: a name, the file, the options.
fn case(n: usize) -> Option<(&'static str, String, ReadOptions)> {
    const PATHS: &str = "path;total_conversions;total_null;total_conversion_value\n";
    let mut text = String::new();
    let (name, options) = match n {
        // Every line a new channel.
        0 => {
            text.push_str(PATHS);
            for i in 0..LINES {
                text.push_str(&format!("c{i};1;0;1\n"));
            }
            ("paths", ReadOptions::default())
        }
        1 | 2 => {
            text.push_str("journey_id,path,hours,converted,value\n");
            for i in 0..LINES {
                text.push_str(&format!("{i},c{i},0,1,1\n"));
            }
            if n == 1 {
                (
                    "journeys, 4 threads",
                    ReadOptions::default().with_threads(4),
                )
            } else {
                ("journeys, 1 thread", ReadOptions::default().with_threads(1))
            }
        }
        // Packed paths first (over eight channels), then a new channel per
        // line: tables sized from the first block must not stay oversized.
        3 => {
            text.push_str(PATHS);
            for i in 0..LINES {
                if i < LINES / 4 {
                    let (a, b, c) = (i % 8, (i / 8) % 8, (i / 64) % 8);
                    text.push_str(&format!("ch{a} > ch{b} > ch{c} > n{};2;3;4.5\n", i / 512));
                } else {
                    text.push_str(&format!("new{i};0;1;0\n"));
                }
            }
            ("mixed", ReadOptions::default())
        }
        // Paths of 20 new channels each (too long to pack, too).
        4 => {
            text.push_str(PATHS);
            for i in 0..LINES / 20 {
                let path: Vec<String> = (0..20).map(|t| format!("l{}", i * 20 + t)).collect();
                text.push_str(&format!("{};1;1;2\n", path.join(" > ")));
            }
            ("long paths", ReadOptions::default())
        }
        // Journeys whose first blocks are ordinary, so several workers read
        // it, then a new channel per line.
        5 => {
            text.push_str("journey_id,path,hours,converted,value\n");
            for i in 0..LINES {
                if i < LINES / 8 {
                    text.push_str(&format!(
                        "{i},ch{} > ch{},1 > 0,1,2.5\n",
                        i % 8,
                        (i / 8) % 8
                    ));
                } else {
                    text.push_str(&format!("{i},c{i},0,1,1\n"));
                }
            }
            (
                "journeys, ordinary then new channels, 4 threads",
                ReadOptions::default().with_threads(4),
            )
        }
        _ => return None,
    };
    Some((name, text, options))
}

#[test]
fn reading_stays_within_ten_times_the_input() {
    const CHILD: &str = "REFERRALS_CHANNEL_MEMORY_CASE";
    // A child reads one case, in a fresh process, and says what it took.
    if let Some(n) = std::env::var(CHILD).ok().and_then(|n| n.parse().ok()) {
        let (_, text, options) = case(n).unwrap();
        match peak_reading(&text, &options) {
            Some(peak) => println!("PEAK {peak} SIZE {}", text.len()),
            None => println!("UNMEASURED"),
        }
        return;
    }
    let mut failures = Vec::new();
    for n in 0.. {
        let Some((name, ..)) = case(n) else { break };
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "reading_stays_within_ten_times_the_input",
                "--nocapture",
            ])
            .env(CHILD, n.to_string())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: the child failed: {stdout}");
        if stdout.contains("UNMEASURED") {
            eprintln!("SKIPPED channel memory: no /proc/self peak memory to measure here");
            return;
        }
        let field = |key: &str| -> f64 {
            let at = stdout.find(key).unwrap() + key.len();
            stdout[at..]
                .split_whitespace()
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        let (peak, size) = (field("PEAK "), field("SIZE "));
        let ratio = peak / size;
        eprintln!("{name}: {size} bytes read, peak memory up {peak} bytes ({ratio:.1}×)");
        if ratio > 10.0 {
            failures.push(format!("{name}: {ratio:.1}×"));
        }
    }
    assert!(
        failures.is_empty(),
        "over ten times the input: {failures:?}"
    );
}
