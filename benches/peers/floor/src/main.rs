//! The least work any reader of our two channel-analysis formats must do:
//! find every line's path field and group the lines by its raw bytes.
//!
//! ```text
//! group-floor paths|journeys FILE [--threads N]     (N defaults to 2)
//! ```
//!
//! prints `lines distinct_paths`. It parses no number, splits no channel,
//! checks nothing, handles no quoting and computes no model, so a whole
//! attribution run over the same file is not expected to beat it. The file
//! is memory-mapped and pre-faulted (`MAP_POPULATE`: no copy out of the page
//! cache, which on our machine costs more than the whole `wc -l`), cut into
//! one byte range per thread at line starts; each thread groups its lines in
//! a pre-sized hash map (foldhash) keyed by slices of the mapping, and the
//! maps are merged at the end.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsRawFd;

type Groups<'a> = HashMap<&'a [u8], u64, foldhash::fast::FixedState>;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: group-floor paths|journeys FILE [--threads N]";
    let fail = |msg: &str| -> ! {
        eprintln!("{msg}");
        std::process::exit(2)
    };
    let (Some(format), Some(path)) = (args.get(1), args.get(2)) else {
        fail(usage)
    };
    let journeys = match format.as_str() {
        "paths" => false,
        "journeys" => true,
        _ => fail(usage),
    };
    let threads: usize = match args.get(3).map(String::as_str) {
        Some("--threads") => args.get(4).and_then(|t| t.parse().ok()).unwrap_or(0),
        None => 2,
        _ => 0,
    };
    if threads == 0 {
        fail(usage);
    }
    let file = File::open(path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    let size = file.metadata().map(|m| m.len() as usize).unwrap_or(0);
    if size == 0 {
        println!("0 0");
        return;
    }
    // SAFETY: a private read-only mapping of a file this benchmark owns; it
    // is not truncated while mapped.
    let data: &[u8] = unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_POPULATE,
            file.as_raw_fd(),
            0,
        );
        if p == libc::MAP_FAILED {
            fail(&format!("{path}: mmap failed"));
        }
        std::slice::from_raw_parts(p as *const u8, size)
    };
    // Aggregated files hold one line per path; our journeys about one
    // distinct path per 20 lines. A guess only saves rehashing.
    let lines_guess = size / if journeys { 50 } else { 75 };
    let capacity = if journeys {
        lines_guess / 20
    } else {
        lines_guess
    } / threads
        + 1024;
    let mut cuts = vec![0];
    for t in 1..threads {
        let at = (size * t / threads).max(*cuts.last().unwrap_or(&0));
        let cut = memchr::memchr(b'\n', &data[at..]).map_or(size, |q| at + q + 1);
        cuts.push(cut);
    }
    cuts.push(size);
    let results: Vec<(u64, Groups)> = std::thread::scope(|s| {
        let workers: Vec<_> = cuts
            .windows(2)
            .map(|w| {
                let range = &data[w[0]..w[1]];
                s.spawn(move || group(range, journeys, capacity))
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("worker"))
            .collect()
    });
    let mut results = results.into_iter();
    let (mut lines, mut groups) = results.next().unwrap_or_default();
    for (n, other) in results {
        lines += n;
        for (key, count) in other {
            *groups.entry(key).or_insert(0) += count;
        }
    }
    // The header is a line too, grouped like any other.
    println!("{lines} {}", groups.len());
}

/// Groups whole lines by their raw path field: before the first `;` of an
/// aggregated line, between the first two `,` of a journey line.
fn group(data: &[u8], journeys: bool, capacity: usize) -> (u64, Groups<'_>) {
    let mut groups = Groups::with_capacity_and_hasher(capacity, Default::default());
    let mut lines = 0;
    let mut start = 0;
    let ends =
        memchr::memchr_iter(b'\n', data).chain((data.last() != Some(&b'\n')).then_some(data.len()));
    for end in ends {
        let line = &data[start..end];
        start = end + 1;
        lines += 1;
        let path = if journeys {
            let Some(a) = memchr::memchr(b',', line) else {
                continue;
            };
            let rest = &line[a + 1..];
            &rest[..memchr::memchr(b',', rest).unwrap_or(rest.len())]
        } else {
            &line[..memchr::memchr(b';', line).unwrap_or(line.len())]
        };
        *groups.entry(path).or_insert(0) += 1;
    }
    (lines, groups)
}
