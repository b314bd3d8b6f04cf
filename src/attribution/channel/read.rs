//! Streaming readers for the aggregated-path and per-journey formats.
//!
//! The input is cut into blocks of whole lines (about
//! [`ReadOptions::with_block_bytes`] each, at the last newline), parsed on
//! worker threads into per-block aggregates keyed by the path's raw bytes
//! (so a path is split into channel names once per block, not once per
//! line), and merged into one [`JourneySetBuilder`] in block order. The
//! cut points depend only on the bytes, which makes the result independent
//! of the number of threads; memory is a few blocks plus the distinct
//! paths.
//!
//! Aggregated files (one line per distinct path) take a leaner route:
//! one worker on the calling thread, whose path table is sized up front
//! from the file size ([`read_file`]; up to 2^22 paths, growing past
//! that) so it rarely grows, takes memory only where paths land (a large
//! table is zeroed lazily by the OS: 166 MB of three repeated paths read
//! in 11 MiB), and whose packable
//! paths (at most 16 touches over its first 255 channels, keyed by their
//! ids however they are spelled) go to the builder without a second
//! lookup. The output is the same bytes as through several workers.

use std::collections::BTreeMap;
use std::fs::File;
use std::hash::BuildHasher;
use std::io::{self, Read};
use std::path::Path;
use std::sync::mpsc;
use std::thread;

use serde::{Deserialize, Serialize};

use super::error::snippet;
use super::unsafe_ops::prefetch_read;
use super::{
    Credit, DEFAULT_HALF_LIFE_HOURS, ExactSum, Interner, JourneyError, JourneySet,
    JourneySetBuilder, LineErrorKind, PathStats, ReadError, check_half_life, time_decay_shares,
};

/// The two input formats.
///
/// # Example: force a format
///
/// ```
/// use referrals::attribution::channel::{read, Format, ReadOptions};
///
/// let data = "path;total_conversions;total_null;total_conversion_value\na > b;1;2;10\n";
/// let options = ReadOptions::default().with_format(Format::Paths);
/// assert_eq!(read(data.as_bytes(), &options)?.total_nulls(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Format {
    /// `path;total_conversions;total_null;total_conversion_value`, one
    /// distinct path per line (`channelattribution`'s layout).
    Paths,
    /// `journey_id,path,hours,converted,value`, one journey per line.
    Journeys,
}

/// Options of [`read`] and [`read_file`].
///
/// # Example: one thread, a one-day half-life
///
/// ```
/// use referrals::attribution::channel::ReadOptions;
///
/// let options = ReadOptions::default().with_threads(1).with_half_life_hours(24.0);
/// assert_eq!(options.threads(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadOptions {
    format: Option<Format>,
    half_life_hours: f64,
    threads: usize,
    block_bytes: usize,
    max_line_bytes: usize,
}

/// The most reader threads: each holds its own tables, and more than the
/// blocks in flight would only wait.
const MAX_THREADS: usize = 256;

impl Default for ReadOptions {
    /// Format guessed from the header, half-life 7 days, up to 4 threads
    /// (the machine's parallelism), 1 MiB blocks, lines up to 8 MiB.
    fn default() -> Self {
        ReadOptions {
            format: None,
            half_life_hours: DEFAULT_HALF_LIFE_HOURS,
            threads: thread::available_parallelism().map_or(1, |n| n.get().min(4)),
            block_bytes: 1 << 20,
            max_line_bytes: 8 << 20,
        }
    }
}

impl ReadOptions {
    /// Reads this format instead of guessing from the header.
    ///
    /// # Example: journeys
    ///
    /// ```
    /// use referrals::attribution::channel::{Format, ReadOptions};
    ///
    /// assert_eq!(ReadOptions::default().with_format(Format::Journeys).format(), Some(Format::Journeys));
    /// ```
    pub fn with_format(self, format: Format) -> Self {
        ReadOptions {
            format: Some(format),
            ..self
        }
    }

    /// The time-decay half-life in hours (default 168), applied while
    /// reading: time decay is accumulated as lines stream by.
    ///
    /// # Example: one day
    ///
    /// ```
    /// use referrals::attribution::channel::ReadOptions;
    ///
    /// assert_eq!(ReadOptions::default().with_half_life_hours(24.0).half_life_hours(), 24.0);
    /// ```
    pub fn with_half_life_hours(self, half_life_hours: f64) -> Self {
        ReadOptions {
            half_life_hours,
            ..self
        }
    }

    /// How many threads parse blocks of per-journey files (1 to 256). The
    /// result is the same for any number. Aggregated files are parsed on
    /// the calling thread: each line is usually a path of its own, so
    /// there is nothing to aggregate per block, and one table without a
    /// merge is faster.
    ///
    /// # Example: two threads
    ///
    /// ```
    /// use referrals::attribution::channel::ReadOptions;
    ///
    /// assert_eq!(ReadOptions::default().with_threads(2).threads(), 2);
    /// ```
    pub fn with_threads(self, threads: usize) -> Self {
        ReadOptions { threads, ..self }
    }

    /// The block size in bytes (≥ 1, default 1 MiB: several blocks even
    /// for a small file, and a block stays in a core's cache while parsed). Blocks are cut at the
    /// last newline within this many bytes, so each holds whole lines; a
    /// longer line makes a longer block. Value sums are grouped by block,
    /// so a different block size may change the last bits of value
    /// credits; thread counts never do.
    ///
    /// # Example: small blocks
    ///
    /// ```
    /// use referrals::attribution::channel::ReadOptions;
    ///
    /// assert_eq!(ReadOptions::default().with_block_bytes(1 << 16).block_bytes(), 65536);
    /// ```
    pub fn with_block_bytes(self, block_bytes: usize) -> Self {
        ReadOptions {
            block_bytes,
            ..self
        }
    }

    /// The longest line accepted, in bytes (default 8 MiB); a longer one is
    /// an error rather than an unbounded buffer.
    ///
    /// # Example: short lines only
    ///
    /// ```
    /// use referrals::attribution::channel::{read, LineErrorKind, ReadError, ReadOptions};
    ///
    /// let data = "path;total_conversions;total_null;total_conversion_value\na > b > c;1;0;1\n";
    /// let options = ReadOptions::default().with_max_line_bytes(10);
    /// let err = read(data.as_bytes(), &options).unwrap_err();
    /// assert!(matches!(err, ReadError::Line { line: 1, kind: LineErrorKind::TooLong { .. } }));
    /// ```
    pub fn with_max_line_bytes(self, max_line_bytes: usize) -> Self {
        ReadOptions {
            max_line_bytes,
            ..self
        }
    }

    /// The forced format, if any.
    ///
    /// # Example: guessed by default
    ///
    /// ```
    /// use referrals::attribution::channel::ReadOptions;
    ///
    /// assert_eq!(ReadOptions::default().format(), None);
    /// ```
    pub fn format(&self) -> Option<Format> {
        self.format
    }

    /// The time-decay half-life in hours.
    ///
    /// # Example: default
    ///
    /// ```
    /// use referrals::attribution::channel::ReadOptions;
    ///
    /// assert_eq!(ReadOptions::default().half_life_hours(), 168.0);
    /// ```
    pub fn half_life_hours(&self) -> f64 {
        self.half_life_hours
    }

    /// The number of parsing threads.
    ///
    /// # Example: at least one
    ///
    /// ```
    /// use referrals::attribution::channel::ReadOptions;
    ///
    /// assert!(ReadOptions::default().threads() >= 1);
    /// ```
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The block size in bytes.
    ///
    /// # Example: default
    ///
    /// ```
    /// use referrals::attribution::channel::ReadOptions;
    ///
    /// assert_eq!(ReadOptions::default().block_bytes(), 1 << 20);
    /// ```
    pub fn block_bytes(&self) -> usize {
        self.block_bytes
    }

    /// The longest line accepted, in bytes.
    ///
    /// # Example: default
    ///
    /// ```
    /// use referrals::attribution::channel::ReadOptions;
    ///
    /// assert_eq!(ReadOptions::default().max_line_bytes(), 8 << 20);
    /// ```
    pub fn max_line_bytes(&self) -> usize {
        self.max_line_bytes
    }

    fn validate(&self) -> Result<(), ReadError> {
        if self.threads == 0 || self.threads > MAX_THREADS {
            return Err(ReadError::InvalidOption(
                "threads must be between 1 and 256",
            ));
        }
        if self.block_bytes == 0 {
            return Err(ReadError::InvalidOption("block_bytes must be >= 1"));
        }
        if self.max_line_bytes == 0 {
            return Err(ReadError::InvalidOption("max_line_bytes must be >= 1"));
        }
        check_half_life(self.half_life_hours)
            .map_err(|_| ReadError::InvalidOption("half_life_hours must be finite and > 0"))
    }
}

/// Guesses the format from a header line: 4 fields separated by `;` is
/// [`Format::Paths`], 5 separated by `,` is [`Format::Journeys`]. Column
/// names are not checked.
///
/// # Example: both headers
///
/// ```
/// use referrals::attribution::channel::{detect_format, Format};
///
/// assert_eq!(
///     detect_format(b"path;total_conversions;total_null;total_conversion_value"),
///     Some(Format::Paths)
/// );
/// assert_eq!(detect_format(b"journey_id,path,hours,converted,value\r\n"), Some(Format::Journeys));
/// assert_eq!(detect_format(b"path,conversions"), None);
/// ```
pub fn detect_format(header: &[u8]) -> Option<Format> {
    let header = trim_line_end(header.strip_prefix(BOM).unwrap_or(header));
    let mut four: [Vec<u8>; 4] = Default::default();
    let mut five: [Vec<u8>; 5] = Default::default();
    if split_fields::<4>(header, b';', &mut four).is_ok() {
        Some(Format::Paths)
    } else if split_fields::<5>(header, b',', &mut five).is_ok() {
        Some(Format::Journeys)
    } else {
        None
    }
}

/// Reads journeys from any reader, parsing blocks on
/// [`ReadOptions::with_threads`] threads.
///
/// The format comes from [`ReadOptions::with_format`] or is guessed from
/// the header ([`detect_format`]). See the [module docs](super) for the
/// formats, quoting and the rules on counts, values and times.
///
/// `journey_id` is not read, let alone checked for repeats: a journey on
/// two lines counts twice (deduplicating would take memory per line, not
/// per distinct path). Deduplicate upstream.
///
/// # Example: a repeated journey counts twice
///
/// ```
/// use referrals::attribution::channel::{read, ReadOptions};
///
/// let data = "journey_id,path,hours,converted,value\n\
///             7,sms,1,1,10\n\
///             7,sms,1,1,10\n";
/// let set = read(data.as_bytes(), &ReadOptions::default())?;
/// assert_eq!((set.total_conversions(), set.total_value()), (2, 20.0));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// - [`ReadError::Io`] if the reader fails;
/// - [`ReadError::Empty`], [`ReadError::MissingHeader`] (the first line
///   looks like data) or [`ReadError::UnknownFormat`] for the header;
/// - [`ReadError::Line`] with the 1-based line number and a
///   [`LineErrorKind`] for the first bad line (wrong field count, bad
///   number, negative count, non-finite value, path/hours mismatch, empty
///   path or channel, bad quoting, invalid UTF-8 in a name, line too long);
/// - [`ReadError::Totals`] if the grand totals overflow `u64` (a path's own
///   sums are checked on their line, as a [`ReadError::Line`]);
/// - [`ReadError::InvalidOption`] for zero threads, block or line size, or
///   a half-life that is not finite and positive.
///
/// Never panics, whatever the bytes.
///
/// # Example: one journey per line, with quoted Arabic names
///
/// ```
/// use referrals::attribution::channel::{read, ReadOptions};
///
/// let data = "journey_id,path,hours,converted,value\r\n\
///             1,\"واتساب, مجموعة > بريد\",\"30 > 2\",1,120\r\n\
///             2,بريد,5,false,0\r\n";
/// let set = read(data.as_bytes(), &ReadOptions::default())?;
/// assert!(set.channels().id("واتساب, مجموعة").is_some());
/// assert_eq!((set.total_conversions(), set.total_nulls()), (1, 1));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Example: a bad line is reported with its number
///
/// ```
/// use referrals::attribution::channel::{read, JourneyError, LineErrorKind, ReadError, ReadOptions};
///
/// let data = "journey_id,path,hours,converted,value\n\
///             1,sms > email,3 > 1,1,20\n\
///             2,sms > email,3,0,0\n";
/// match read(data.as_bytes(), &ReadOptions::default()) {
///     Err(ReadError::Line { line: 3, kind: LineErrorKind::Journey(JourneyError::HoursMismatch { touches: 2, hours: 1 }) }) => {}
///     other => panic!("{other:?}"),
/// }
/// ```
pub fn read<R: Read>(input: R, options: &ReadOptions) -> Result<JourneySet, ReadError> {
    read_sized(input, options, None)
}

/// [`read`], told the input's size in bytes if known: aggregated lines
/// are distinct paths, so the tables are sized for the whole file up front
/// (estimated from the first block's line length) and never grow. Sizes
/// change no result.
fn read_sized<R: Read>(
    input: R,
    options: &ReadOptions,
    size: Option<u64>,
) -> Result<JourneySet, ReadError> {
    options.validate()?;
    let mut source = Source {
        input,
        carry: Vec::new(),
        eof: false,
        stopped: false,
        block_bytes: options.block_bytes,
        max_line: options.max_line_bytes,
    };
    let mut first = Block::default();
    if !source.fill(&mut first)? {
        return Err(ReadError::Empty);
    }
    // A byte order mark, then blank lines before the header, are skipped
    // as blank lines are everywhere else (a file of nothing else is
    // empty).
    let mut start = if first.data[..first.len].starts_with(BOM) {
        BOM.len()
    } else {
        0
    };
    loop {
        let data = &first.data[..first.len];
        while start < data.len() {
            let end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |p| start + p + 1);
            if !data[start..end].trim_ascii().is_empty() {
                break;
            }
            start = end;
        }
        if start < data.len() {
            break;
        }
        if !source.fill(&mut first)? {
            return Err(ReadError::Empty);
        }
        start = 0;
    }
    let data = &first.data[..first.len];
    let header_end = memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |p| start + p + 1);
    let header = trim_line_end(&data[start..header_end]);
    if header.len() > options.max_line_bytes {
        return Err(ReadError::Line {
            line: 1,
            kind: LineErrorKind::TooLong {
                max_bytes: options.max_line_bytes,
            },
        });
    }
    let format = match options.format {
        Some(format) => format,
        None => detect_format(header).ok_or_else(|| ReadError::UnknownFormat {
            header: snippet(header),
        })?,
    };
    check_header(format, header)?;
    first.start = header_end;

    let mut builder = JourneySetBuilder::new();
    builder.half_life_hours = options.half_life_hours;
    if format == Format::Paths {
        builder.set_no_times();
    }
    let expected = match (format, size) {
        (Format::Paths, Some(size)) => expected_lines(&first.data[header_end..first.len], size),
        _ => 0,
    };
    // Every aggregated line is usually a new path, so a merge would redo
    // each line's table work on the reading thread: one worker with one
    // table is faster than several with a merge.
    let threads = match format {
        Format::Paths => 1,
        Format::Journeys => options.threads,
    };
    let parse = ParseConfig {
        format,
        half_life: options.half_life_hours,
        max_line: options.max_line_bytes,
        // Block `i` goes to worker `i % threads`.
        expected_paths: expected.div_ceil(threads),
    };
    let mut merger = Merger::new(builder, threads);
    let parsers = if threads == 1 {
        let mut parser = Parser::new(parse);
        let mut block = first;
        loop {
            let partial = parser.parse(&block.data[block.start..block.len]);
            merger.merge(0, &partial)?;
            if !source.fill(&mut block)? {
                break;
            }
        }
        vec![parser]
    } else {
        run_parallel(&mut source, first, parse, threads, &mut merger)?
    };
    let mut builder = merger.builder;
    add_worker_paths(&mut builder, parsers).map_err(ReadError::Totals)?;
    builder.finish().map_err(ReadError::Totals)
}

/// Adds the workers' path totals to the builder, once, after the last
/// block: every other worker's paths are folded into the first worker's
/// table (its channel ids mapped by name), which then goes to the builder
/// without a second lookup per path. Totals are integers and exact
/// decimal sums, so the order of this fold changes no result.
fn add_worker_paths(
    builder: &mut JourneySetBuilder,
    mut parsers: Vec<Parser>,
) -> Result<(), JourneyError> {
    for parser in &mut parsers {
        parser.settle_counts()?;
    }
    let mut parsers = parsers.into_iter();
    let Some(mut base) = parsers.next() else {
        return Ok(());
    };
    for other in parsers {
        base.absorb(&other);
    }
    if builder.has_no_paths() && !base.unpacked {
        // Distinct paths into a fresh builder: it takes the base's
        // dictionary and arena as they are, each path's exact sum rounded
        // once.
        let mut total = ExactSum::default();
        let stats = base
            .acc
            .iter()
            .map(|acc| PathStats {
                conversions: acc.conversions,
                nulls: acc.nulls,
                value: if acc.conversions > 0 {
                    total.merge(&acc.value);
                    acc.value.to_f64()
                } else {
                    0.0
                },
            })
            .collect();
        return builder.adopt_paths(base.names, base.ids, base.path_start, stats, &total);
    }
    // Here the builder holds paths already, or some worker path was not
    // packable in its worker's ids (so the same path can come twice, and
    // be packable in the builder's ids): every path goes through the
    // builder's index.
    let channels: Vec<u32> = base.names.names.iter().map(|n| builder.intern(n)).collect();
    // Only the paths and their totals are needed from here: free the
    // worker's lookups (its names, tokens and path tables) before the
    // builder's index grows, so the two are not held at once.
    base.release_lookups();
    builder.reserve_paths(base.acc.len());
    let mut ids = Vec::new();
    for (i, acc) in base.acc.iter().enumerate() {
        base.mapped_path(i, &channels, &mut ids);
        let slot = builder.slot(&ids);
        builder.add_exact_to_slot(slot, acc.conversions, acc.nulls, &acc.value)?;
    }
    Ok(())
}

/// Reads journeys from a file: [`read`] on the opened file.
///
/// # Errors
///
/// As [`read`]; a file that cannot be opened is [`ReadError::Io`].
///
/// # Example: a missing file
///
/// ```
/// use referrals::attribution::channel::{read_file, ReadError, ReadOptions};
///
/// let err = read_file("/nonexistent/journeys.csv", &ReadOptions::default()).unwrap_err();
/// assert!(matches!(err, ReadError::Io(_)));
/// ```
///
/// # Example: a file written and read back
///
/// ```
/// use referrals::attribution::channel::{read_file, ReadOptions};
///
/// let path = std::env::temp_dir().join(format!("channel-doc-{}.csv", std::process::id()));
/// std::fs::write(&path, "path;total_conversions;total_null;total_conversion_value\nqr in store;4;6;80\n")?;
/// let set = read_file(&path, &ReadOptions::default())?;
/// std::fs::remove_file(&path)?;
/// assert_eq!(set.total_value(), 80.0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn read_file(path: impl AsRef<Path>, options: &ReadOptions) -> Result<JourneySet, ReadError> {
    let file = File::open(path)?;
    let size = file.metadata().ok().map(|m| m.len());
    read_sized(file, options, size)
}

/// About how many lines a file of `size` bytes holds, from its first
/// block's `body` (after the header); at most 2^22, so a huge file of few
/// distinct paths reserves little (its tables grow past that). Often
/// high: files tend to start with short paths.
pub(super) fn expected_lines(body: &[u8], size: u64) -> usize {
    if body.is_empty() {
        return 0;
    }
    let lines = memchr::memchr_iter(b'\n', body).count() + 1;
    let estimate = size as f64 * lines as f64 / body.len() as f64 + 16.0;
    estimate.min((1u64 << 22) as f64) as usize
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn trim_line_end(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Checks the header's field count and that it is not a data line.
fn check_header(format: Format, header: &[u8]) -> Result<(), ReadError> {
    let at_line_1 = |kind| ReadError::Line { line: 1, kind };
    let mut four: [Vec<u8>; 4] = Default::default();
    let mut five: [Vec<u8>; 5] = Default::default();
    let (looks_like_data, fields, names, columns): (bool, Vec<&[u8]>, &[&str], &'static str) =
        match format {
            Format::Paths => {
                let f = split_fields::<4>(header, b';', &mut four).map_err(at_line_1)?;
                let data = parse_count(f[1], "").is_ok() && parse_count(f[2], "").is_ok();
                (
                    data,
                    f.to_vec(),
                    &PATHS_COLUMNS,
                    "path;total_conversions;total_null;total_conversion_value",
                )
            }
            Format::Journeys => {
                let f = split_fields::<5>(header, b',', &mut five).map_err(at_line_1)?;
                let data = parse_converted(f[3]).is_ok() && parse_f64(f[4].trim_ascii()).is_some();
                (
                    data,
                    f.to_vec(),
                    &JOURNEYS_COLUMNS,
                    "journey_id,path,hours,converted,value",
                )
            }
        };
    if looks_like_data {
        return Err(ReadError::MissingHeader {
            line: snippet(header),
        });
    }
    // Other names are fine (columns are read by position), but one of the
    // format's own names in another column means the columns are in
    // another order, and reading on would mix them up.
    for (i, field) in fields.iter().enumerate() {
        let name = field.trim_ascii();
        if let Some(j) = names
            .iter()
            .position(|n| name.eq_ignore_ascii_case(n.as_bytes()))
        {
            if j != i {
                return Err(ReadError::MisplacedColumn {
                    column: i + 1,
                    name: snippet(name),
                    expected_column: j + 1,
                    columns,
                });
            }
        }
    }
    Ok(())
}

const PATHS_COLUMNS: [&str; 4] = [
    "path",
    "total_conversions",
    "total_null",
    "total_conversion_value",
];
const JOURNEYS_COLUMNS: [&str; 5] = ["journey_id", "path", "hours", "converted", "value"];

/// A buffer of whole lines. `data[..len]` is valid; `data` stays
/// initialised across reuse so refilling never zeroes memory.
#[derive(Default)]
struct Block {
    data: Vec<u8>,
    len: usize,
    /// Where parsing starts (after the header in the first block).
    start: usize,
    index: usize,
}

/// Cuts a reader into blocks of whole lines at points that depend only on
/// the bytes.
struct Source<R> {
    input: R,
    /// The partial line after the last block's final newline.
    carry: Vec<u8>,
    eof: bool,
    /// Set after a block whose first line is too long: nothing sensible
    /// follows.
    stopped: bool,
    block_bytes: usize,
    max_line: usize,
}

impl<R: Read> Source<R> {
    /// Fills `block` with the next block; false at the end of the input.
    fn fill(&mut self, block: &mut Block) -> io::Result<bool> {
        block.start = 0;
        block.len = 0;
        if self.stopped {
            return Ok(false);
        }
        let mut target = self.block_bytes.max(self.carry.len());
        if block.data.len() < self.carry.len() {
            block.data.resize(self.carry.len(), 0);
        }
        block.data[..self.carry.len()].copy_from_slice(&self.carry);
        let mut len = self.carry.len();
        self.carry.clear();
        loop {
            while len < target && !self.eof {
                // Grow the buffer as data comes, so a small input never
                // zeroes a whole block; the cut points depend on `target`
                // only.
                if len == block.data.len() {
                    let grown = (len * 2).max(64 << 10).min(target);
                    block.data.resize(grown, 0);
                }
                let end = target.min(block.data.len());
                match self.input.read(&mut block.data[len..end]) {
                    Ok(0) => self.eof = true,
                    Ok(n) => len += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if self.eof {
                break;
            }
            if let Some(p) = memchr::memrchr(b'\n', &block.data[..len]) {
                self.carry.extend_from_slice(&block.data[p + 1..len]);
                len = p + 1;
                break;
            }
            // One line fills the buffer. Past the limit (and the `\r` a
            // line of exactly the limit may end with), hand the parser its
            // start so it reports the line, and stop.
            if len > self.max_line.saturating_add(1) {
                self.stopped = true;
                break;
            }
            target = target
                .saturating_mul(2)
                .min(self.max_line.saturating_add(2))
                .max(target + 1);
        }
        block.len = len;
        Ok(len > 0)
    }
}

/// Parses blocks on `threads` workers (block `i` to worker `i % threads`)
/// while this thread reads and merges in block order.
fn run_parallel<R: Read>(
    source: &mut Source<R>,
    first: Block,
    parse: ParseConfig,
    threads: usize,
    merger: &mut Merger,
) -> Result<Vec<Parser>, ReadError> {
    thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel::<(Partial, Block)>();
        let mut work = Vec::with_capacity(threads);
        let mut workers = Vec::with_capacity(threads);
        for _ in 0..threads {
            // One queued block per worker bounds memory to about
            // 3 × threads blocks.
            let (tx, rx) = mpsc::sync_channel::<Block>(1);
            let done_tx = done_tx.clone();
            workers.push(scope.spawn(move || {
                let mut parser = Parser::new(parse);
                for block in rx {
                    let partial = parser.parse(&block.data[block.start..block.len]);
                    if done_tx.send((partial, block)).is_err() {
                        break;
                    }
                }
                // Each worker settles its own table, in parallel.
                let settled = parser.settle_counts();
                (parser, settled)
            }));
            work.push(tx);
        }
        drop(done_tx);

        let mut pending: BTreeMap<usize, Partial> = BTreeMap::new();
        let mut spare: Vec<Block> = Vec::new();
        let mut next_merge = 0usize;
        let mut merge_ready = |pending: &mut BTreeMap<usize, Partial>,
                               next_merge: &mut usize|
         -> Result<(), ReadError> {
            while let Some(partial) = pending.remove(next_merge) {
                merger.merge(*next_merge % threads, &partial)?;
                *next_merge += 1;
            }
            Ok(())
        };

        let mut block = Some(first);
        let mut index = 0usize;
        while let Some(mut b) = block.take() {
            b.index = index;
            if work[index % threads].send(b).is_err() {
                break;
            }
            index += 1;
            while let Ok((partial, buf)) = done_rx.try_recv() {
                pending.insert(buf.index, partial);
                spare.push(buf);
            }
            merge_ready(&mut pending, &mut next_merge)?;
            let mut next = spare.pop().unwrap_or_default();
            if source.fill(&mut next)? {
                block = Some(next);
            }
        }
        drop(work);
        for (partial, buf) in done_rx {
            pending.insert(buf.index, partial);
            merge_ready(&mut pending, &mut next_merge)?;
        }
        // A worker only stops at the end of its queue; one that panicked
        // is a bug, reported as such rather than as a wrong total.
        workers
            .into_iter()
            .map(|w| {
                let (parser, settled) = w.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                settled.map(|()| parser).map_err(ReadError::Totals)
            })
            .collect()
    })
}

/// Takes each block's report in block order: line numbers, the first
/// error, time-decay credit and the rare values that are not plain
/// decimals (`f64` sums, so their order is the file's). Path totals stay
/// with the workers until [`add_worker_paths`].
///
/// Each worker keeps its own dictionary of channels across blocks and
/// announces new names with each block; the merger keeps, per worker, the
/// translation of its ids to the builder's.
struct Merger {
    builder: JourneySetBuilder,
    /// The line number of the next block's first line.
    next_line: u64,
    /// Per worker: worker channel id → builder channel id.
    channels: Vec<Vec<u32>>,
    ids: Vec<u32>,
}

impl Merger {
    fn new(builder: JourneySetBuilder, workers: usize) -> Self {
        Merger {
            builder,
            next_line: 2,
            channels: vec![Vec::new(); workers],
            ids: Vec::new(),
        }
    }

    /// Merges the next block, parsed by `worker`.
    fn merge(&mut self, worker: usize, partial: &Partial) -> Result<(), ReadError> {
        let b = &mut self.builder;
        let channels = &mut self.channels[worker];
        for name in &partial.new_names {
            channels.push(b.intern(name));
        }
        // Before the block's error: they come from earlier lines.
        let mut at = 0;
        for &(len, line, value) in &partial.inexact {
            let len = len as usize;
            self.ids.clear();
            self.ids.extend(
                partial.inexact_ids[at..at + len]
                    .iter()
                    .map(|&c| channels[c as usize]),
            );
            at += len;
            let slot = b.slot(&self.ids);
            b.add_value_to_slot(slot, value)
                .map_err(|kind| ReadError::Line {
                    line: self.next_line + line - 1,
                    kind: kind.into(),
                })?;
        }
        if let Some((line, kind)) = &partial.error {
            return Err(ReadError::Line {
                line: self.next_line + line - 1,
                kind: kind.clone(),
            });
        }
        for (c, credit) in partial.time_decay.iter().enumerate() {
            if *credit != Credit::default() {
                let t = b.time_decay_mut(channels[c]);
                t.conversions += credit.conversions;
                t.value += credit.value;
            }
        }
        self.next_line += partial.lines;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct ParseConfig {
    format: Format,
    half_life: f64,
    max_line: usize,
    /// Distinct paths this worker is expected to meet (0: unknown).
    expected_paths: usize,
}

/// A worker path's totals over all its blocks.
#[derive(Debug, Clone, Copy, Default)]
struct PathAcc {
    conversions: u64,
    nulls: u64,
    /// Plain decimal values of converting lines, exactly.
    value: ExactSum,
}

impl PathAcc {
    fn add_counts(&mut self, conversions: u64, nulls: u64) -> Result<(), JourneyError> {
        let (Some(c), Some(n)) = (
            self.conversions.checked_add(conversions),
            self.nulls.checked_add(nulls),
        ) else {
            return Err(JourneyError::CountOverflow);
        };
        (self.conversions, self.nulls) = (c, n);
        Ok(())
    }
}

/// A line's value: a plain decimal (summed exactly, in any order) or any
/// other finite number (summed as `f64` in file order).
#[derive(Debug, Clone, Copy)]
enum LineValue {
    Decimal(Decimal),
    Other(f64),
}

impl LineValue {
    fn to_f64(self) -> f64 {
        match self {
            LineValue::Decimal(d) => d.to_f64(),
            LineValue::Other(v) => v,
        }
    }
}

/// What a worker hands over for one block.
#[derive(Debug, Default)]
struct Partial {
    /// Lines in the block (blank ones included).
    lines: u64,
    /// The first bad line (relative to the block, from 1).
    error: Option<(u64, LineErrorKind)>,
    /// Channels the worker met first in this block, in worker-id order.
    new_names: Vec<Box<str>>,
    /// Values of converting lines that are not plain decimals, in line
    /// order: (touches, line in the block, value), the paths' worker
    /// channel ids concatenated in `inexact_ids`.
    inexact: Vec<(u32, u64, f64)>,
    inexact_ids: Vec<u32>,
    /// Time-decay credit per worker channel id.
    time_decay: Vec<Credit>,
}

const UNTOUCHED: u32 = u32::MAX;

/// A worker's parsing state, kept across blocks.
struct Parser {
    config: ParseConfig,
    /// Raw path bytes (quotes removed) → worker path index, for the
    /// general parser.
    raw: ByteTable,
    /// Channel-id paths packed in a `u128` → worker path index, for the
    /// fast path.
    packed: PackedPaths,
    /// Raw channel tokens (ASCII spaces trimmed) → worker channel id, for
    /// the fast path.
    tokens: ByteTable,
    names: Interner,
    /// Worker path `i` is `ids[path_start[i]..path_start[i + 1]]`.
    path_start: Vec<usize>,
    ids: Vec<u32>,
    names_sent: usize,
    /// Totals per worker path, over all blocks.
    acc: Vec<PathAcc>,
    /// Whether the slots' counts are in the totals already.
    settled: bool,
    /// Whether some worker path is not packable: only then can two worker
    /// paths (spelled differently) be the same path.
    unpacked: bool,
    /// This block's values that are not plain decimals (see [`Partial`]).
    inexact: Vec<(u32, u64, f64)>,
    inexact_ids: Vec<u32>,
    /// The line being parsed, in its block (from 1).
    line: u64,
    time_decay: Vec<Credit>,
    scratch: [Vec<u8>; 5],
    scratch4: [Vec<u8>; 4],
    hours: Vec<f64>,
    decimals: Vec<Decimal>,
    shares: Vec<f64>,
    /// The last fast journey line, parsed but not yet added: its path slot
    /// is prefetched and added while the next line parses, so a rare
    /// path's cache miss overlaps useful work.
    pending: Option<PendingJourney>,
    /// The last converting fast journey's (worker path, value), counted
    /// but its value not yet added: its path's totals are prefetched and
    /// added one converting line later.
    pending_value: Option<(u32, Decimal)>,
    /// The last fast aggregated line, parsed but not yet added (as
    /// `pending`).
    pending_path: Option<PendingPath>,
    /// The aggregated line parsed after `pending_path` (two lines of
    /// prefetch distance, as for journeys).
    pending_path_next: Option<PendingPath>,
    /// The pending line's touch times (swapped with `decimals`).
    pending_decimals: Vec<Decimal>,
    /// The line parsed after `pending`, also not yet added: a path slot
    /// is prefetched two lines before it is read.
    pending_next: Option<PendingJourney>,
    pending_next_decimals: Vec<Decimal>,
    /// The block's stop bytes (see [`Stops`]), for the fast paths.
    stops: Stops,
    /// A direct-mapped cache of raw path fields of at most 32 bytes →
    /// their packed key: a journey whose path was met recently skips
    /// tokenizing it.
    path_memo: Box<[MemoPath]>,
    memo_seed: u64,
    /// Tokens of at most 16 bytes (held whole in two words) → channel id,
    /// in front of `tokens`: open addressing at most a quarter full, so a
    /// token usually costs one multiply and one compare, and no two
    /// channels ever evict each other.
    short_tokens: Vec<CachedToken>,
    short_len: usize,
}

const PATH_MEMO: usize = 1 << 13;

/// A path field of at most 32 bytes (its bytes as four words, zero past
/// `len`) and its packed key; `len` is `u32::MAX` in an empty entry.
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
struct MemoPath {
    words: [u64; 4],
    len: u32,
    touches: u32,
    key: u128,
}

const EMPTY_MEMO: MemoPath = MemoPath {
    words: [0; 4],
    len: u32::MAX,
    touches: 0,
    key: 0,
};

/// Where a short token's probe starts in `Parser::short_tokens` (before
/// the mask): one multiply of its words and length.
#[inline(always)]
fn token_home(words: (u64, u64), len: u32) -> usize {
    let mix =
        (words.0 ^ words.1.rotate_left(29) ^ u64::from(len)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (mix >> 40) as usize
}

/// A token of at most 16 bytes as [`short_words`] and its length (which
/// together give all its bytes), and its channel id; `len` is `u32::MAX`
/// in an empty entry.
#[derive(Debug, Clone, Copy)]
struct CachedToken {
    words: (u64, u64),
    len: u32,
    id: u32,
}

const EMPTY_TOKEN: CachedToken = CachedToken {
    words: (0, 0),
    len: u32::MAX,
    id: 0,
};

/// A parsed fast aggregated line waiting to be added (see
/// `Parser::pending_path`).
#[derive(Debug, Clone, Copy)]
struct PendingPath {
    key: u128,
    touches: u32,
    conversions: u64,
    nulls: u64,
    value: Decimal,
    /// Its line number in the block.
    line: u64,
}

/// A parsed fast journey line waiting to be added (see `Parser::pending`).
#[derive(Debug, Clone, Copy)]
struct PendingJourney {
    key: u128,
    touches: u32,
    converted: bool,
    value: Decimal,
}

impl Parser {
    fn new(config: ParseConfig) -> Self {
        Parser {
            config,
            raw: ByteTable::new(),
            packed: PackedPaths::with_capacity(config.expected_paths),
            tokens: ByteTable::new(),
            names: Interner::default(),
            path_start: {
                let mut starts = super::huge_with_capacity(config.expected_paths + 1);
                starts.push(0);
                starts
            },
            // Sized for the expected paths (aggregated files) at about
            // eight touches each; journeys start small.
            ids: super::huge_with_capacity(config.expected_paths.saturating_mul(8)),
            names_sent: 0,
            acc: super::huge_with_capacity(config.expected_paths),
            unpacked: false,
            settled: false,
            inexact: Vec::new(),
            inexact_ids: Vec::new(),
            line: 0,
            time_decay: Vec::new(),
            scratch: Default::default(),
            scratch4: Default::default(),
            hours: Vec::new(),
            decimals: Vec::new(),
            shares: Vec::new(),
            pending: None,
            pending_value: None,
            pending_path: None,
            pending_path_next: None,
            pending_decimals: Vec::new(),
            pending_next: None,
            pending_next_decimals: Vec::new(),
            stops: Stops::default(),
            path_memo: vec![EMPTY_MEMO; PATH_MEMO].into_boxed_slice(),
            memo_seed: foldhash::fast::RandomState::default().hash_one(0x3E30_u64),
            short_tokens: vec![EMPTY_TOKEN; 64],
            short_len: 0,
        }
    }

    fn parse(&mut self, data: &[u8]) -> Partial {
        let mut partial = Partial::default();
        let mut p = 0;
        let mut line_no = 0u64;
        let sep = match self.config.format {
            Format::Journeys => b',',
            Format::Paths => b';',
        };
        let mut stops = std::mem::take(&mut self.stops);
        stops.mark(data, sep);
        while p < data.len() {
            line_no += 1;
            let fast = match self.config.format {
                Format::Journeys => self.fast_journey(data, &stops, p).map(Ok),
                Format::Paths => self.fast_path_line(data, &stops, p, line_no),
            };
            match fast {
                Some(Ok(next)) => {
                    p = next;
                    continue;
                }
                Some(Err(error)) => {
                    partial.error = Some(error);
                    break;
                }
                None => {}
            }
            // The general parser adds lines in order: the pending one first.
            self.flush_pending();
            if let Err(error) = self.flush_pending_path() {
                partial.error = Some(error);
                break;
            }
            let end = memchr::memchr(b'\n', &data[p..]).map_or(data.len(), |q| p + q);
            let line = &data[p..end];
            p = (end + 1).min(data.len());
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            self.line = line_no;
            let result = if line.len() > self.config.max_line {
                Err(LineErrorKind::TooLong {
                    max_bytes: self.config.max_line,
                })
            } else if line.trim_ascii().is_empty() {
                continue;
            } else {
                match self.config.format {
                    Format::Journeys => self.journey_line(line),
                    Format::Paths => self.path_line(line),
                }
            };
            if let Err(kind) = result {
                partial.error = Some((line_no, kind));
                break;
            }
        }
        self.flush_pending();
        self.add_pending_value();
        if let Err(error) = self.flush_pending_path() {
            partial.error.get_or_insert(error);
        }
        partial.lines = line_no;

        self.stops = stops;
        partial.new_names = self.names.names[self.names_sent..].to_vec();
        self.names_sent = self.names.names.len();
        partial.inexact = std::mem::take(&mut self.inexact);
        partial.inexact_ids = std::mem::take(&mut self.inexact_ids);
        partial.time_decay = std::mem::take(&mut self.time_decay);
        partial
    }

    /// Folds another worker's path totals into this one's (after the last
    /// block): its channels are mapped by name, a packable path is found by
    /// its key, any other path is appended (the builder merges spellings).
    fn absorb(&mut self, other: &Parser) {
        let channels: Vec<u32> = other
            .names
            .names
            .iter()
            .map(|n| self.names.intern(n))
            .collect();
        // Three passes, so the two random accesses per path (this table's
        // slot, this worker's totals) are prefetched a few paths ahead.
        const AHEAD: usize = 8;
        let mut ids = Vec::new();
        let keys: Vec<Option<u128>> = (0..other.acc.len())
            .map(|i| {
                other.mapped_path(i, &channels, &mut ids);
                super::pack_path(&ids)
            })
            .collect();
        let mut targets = Vec::with_capacity(keys.len());
        for (i, key) in keys.iter().enumerate() {
            if let Some(Some(ahead)) = keys.get(i + AHEAD) {
                self.packed.prefetch(*ahead);
            }
            let path = match key {
                Some(key) => {
                    let (at, found) = self.packed.position(*key);
                    if found {
                        self.packed.slots[at].path as usize
                    } else {
                        other.mapped_path(i, &channels, &mut ids);
                        let path = self.new_path(&ids);
                        self.packed.insert(at, *key, path as u32);
                        path
                    }
                }
                None => {
                    self.unpacked = true;
                    other.mapped_path(i, &channels, &mut ids);
                    self.new_path(&ids)
                }
            };
            targets.push(path);
        }
        for (i, (acc, &path)) in other.acc.iter().zip(&targets).enumerate() {
            if let Some(&ahead) = targets.get(i + AHEAD) {
                prefetch_read(&self.acc[ahead]);
            }
            let mine = &mut self.acc[path];
            // Each worker's totals are at most the file's, which its lines
            // cannot make exceed u64 (a journey counts 1; aggregated files
            // are read by one worker).
            mine.conversions = mine.conversions.saturating_add(acc.conversions);
            mine.nulls = mine.nulls.saturating_add(acc.nulls);
            mine.value.merge(&acc.value);
        }
    }

    /// Worker path `i` with its channel ids mapped through `channels`, into
    /// `out`.
    /// Frees every table but the paths (`ids`, `path_start`) and their
    /// totals (`acc`): the parser parses nothing more.
    fn release_lookups(&mut self) {
        self.names = Interner::default();
        self.raw = ByteTable::new();
        self.tokens = ByteTable::new();
        self.packed = PackedPaths::with_capacity(0);
        self.short_tokens = Vec::new();
        self.path_memo = Box::default();
        self.inexact = Vec::new();
        self.inexact_ids = Vec::new();
        self.time_decay = Vec::new();
    }

    fn mapped_path(&self, i: usize, channels: &[u32], out: &mut Vec<u32>) {
        out.clear();
        out.extend(
            self.ids[self.path_start[i]..self.path_start[i + 1]]
                .iter()
                .map(|&c| channels[c as usize]),
        );
    }

    /// Registers a new worker path of these ids; returns its index.
    fn new_path(&mut self, ids: &[u32]) -> usize {
        self.ids.extend_from_slice(ids);
        self.path_start.push(self.ids.len());
        self.acc.push(PathAcc::default());
        self.acc.len() - 1
    }

    /// The fast path for a plain journey line at `data[p..]`: unquoted
    /// fields, a path of at most 16 touches over the worker's first 255
    /// channels, `0`/`1` for converted, unsigned decimals without
    /// exponent. Returns where the next line starts, or `None` to leave
    /// the line to the general parser (which also reports errors). It
    /// reads every field exactly as the general parser would: a token is
    /// the bytes between `>`s with ASCII spaces trimmed, and its channel
    /// is the token as UTF-8 with all white space trimmed.
    ///
    /// Fields and tokens are found from the block's stop bits (`stops`),
    /// one bit scan each, with no branch per byte.
    #[inline]
    fn fast_journey(&mut self, data: &[u8], stops: &Stops, p: usize) -> Option<usize> {
        // The journey id, skipped.
        let i = next_stop(&stops.fields, p)?;
        if data[i] != b',' {
            return None;
        }
        let (key, touches, end) = self.memo_path_key(data, stops, i + 1)?;
        let hours_start = end + 1;
        let hours_end = next_stop(&stops.fields, hours_start)?;
        if data[hours_end] != b',' {
            return None;
        }
        let converted = match data.get(hours_end + 1..hours_end + 3)? {
            b"0," => false,
            b"1," => true,
            _ => return None,
        };
        // Touch times as decimals (mantissa, decimals) if the journey
        // converted (time decay needs them; a division each); else only
        // checked. The `>`s come from one window of stop bits when the
        // field is short (any stop inside it is a `>`: the field ends at
        // the first other one).
        self.decimals.clear();
        let len = hours_end - hours_start;
        let mut gts = if len < 64 {
            window(&stops.all, hours_start) & ((1u64 << len) - 1)
        } else {
            u64::MAX
        };
        let mut start = hours_start;
        let mut times = 0u32;
        loop {
            let stop = match gts {
                0 => hours_end,
                u64::MAX => next_stop(&stops.all, start)?,
                _ => hours_start + gts.trailing_zeros() as usize,
            };
            if gts != u64::MAX {
                gts &= gts.wrapping_sub(1);
            }
            let (a, b) = trim_token(data, start, stop);
            if converted {
                self.decimals.push(plain_decimal(data, a, b)?);
            } else if !is_plain_decimal(data, a, b) {
                return None;
            }
            times += 1;
            if stop == hours_end {
                break;
            }
            start = stop + 1;
        }
        if times != touches {
            return None;
        }
        let value_start = hours_end + 3;
        // The value runs to the line's end (the block's end for a last line
        // without one); a stop there other than `\n` is for the general
        // parser.
        let (value_end, next) = match next_stop(&stops.all, value_start) {
            Some(stop) if data[stop] == b'\n' => (stop, stop + 1),
            Some(_) => return None,
            None => (data.len(), data.len()),
        };
        let value_end = if value_end > value_start && data[value_end - 1] == b'\r' {
            value_end - 1
        } else {
            value_end
        };
        // A non-converting journey's value is only checked.
        let value = if converted {
            plain_decimal(data, value_start, value_end)?
        } else if is_plain_decimal(data, value_start, value_end) {
            Decimal {
                mantissa: 0,
                decimals: 0,
            }
        } else {
            return None;
        };
        if value_end - p > self.config.max_line {
            return None;
        }
        // The line is taken. Start loading its path's slot (on a rare path
        // it misses the cache), add the previous line meanwhile, and leave
        // this one pending.
        self.packed.prefetch(key);
        self.flush_oldest();
        self.pending = self.pending_next.take();
        std::mem::swap(&mut self.pending_decimals, &mut self.pending_next_decimals);
        std::mem::swap(&mut self.decimals, &mut self.pending_next_decimals);
        self.pending_next = Some(PendingJourney {
            key,
            touches,
            converted,
            value,
        });
        Some(next)
    }

    /// Adds both pending fast journey lines, oldest first.
    #[inline]
    fn flush_pending(&mut self) {
        self.flush_oldest();
        self.pending = self.pending_next.take();
        std::mem::swap(&mut self.pending_decimals, &mut self.pending_next_decimals);
        self.flush_oldest();
    }

    /// Adds the older pending fast journey line, if any.
    #[inline]
    fn flush_oldest(&mut self) {
        let Some(PendingJourney {
            key,
            touches,
            converted,
            value,
        }) = self.pending.take()
        else {
            return;
        };
        let (at, found) = self.packed.position(key);
        let at = self.packed_slot(at, found, key, touches);
        // One journey cannot overflow the counts (see `add_counts_at`).
        let _ = self.add_counts_at(at, u64::from(converted), u64::from(!converted));
        if converted {
            // The path's totals are another cache miss: start loading them
            // and add the previous converting line's value instead (exact
            // sums, so the order of additions does not matter).
            let path = self.packed.slots[at].path;
            prefetch_read(&self.acc[path as usize]);
            self.add_pending_value();
            self.pending_value = Some((path, value));
            let value = value.to_f64();
            self.hours.clear();
            self.hours
                .extend(self.pending_decimals.iter().map(|d| d.to_f64()));
            time_decay_shares(&self.hours, self.config.half_life, &mut self.shares);
            for (t, &share) in self.shares.iter().enumerate() {
                let c = ((key >> (8 * t)) as usize & 0xFF) - 1;
                if self.time_decay.len() <= c {
                    self.time_decay.resize(c + 1, Credit::default());
                }
                self.time_decay[c].add_scaled(1.0, value, share);
            }
        }
    }

    /// Adds the value left by [`Self::flush_pending`], if any.
    #[inline]
    fn add_pending_value(&mut self) {
        if let Some((path, value)) = self.pending_value.take() {
            self.acc[path as usize]
                .value
                .add(value.mantissa, value.decimals);
        }
    }

    /// Tokenizes the unquoted path at `data[i..]`, ending at `sep`, into a
    /// key of (id + 1) bytes, first touch lowest. Returns the key, the
    /// touches and the index of `sep`; `None` for anything the fast path
    /// does not take (quotes, a line end, more than 16 touches, a channel
    /// past the 255th, an empty or non-UTF-8 name).
    #[inline]
    fn fast_path_key(
        &mut self,
        data: &[u8],
        stops: &Stops,
        mut i: usize,
        sep: u8,
    ) -> Option<(u128, u32, usize)> {
        let mut key = 0u128;
        let mut touches = 0u32;
        loop {
            let end = next_stop(&stops.all, i)?;
            let stop = data[end];
            if stop != b'>' && stop != sep {
                return None;
            }
            // Untrimmed: `a > b` caches ` b` and `a ` as they come, and their
            // channels are trimmed once, when first met.
            let token = &data[i..end];
            let id = self.token_id(token)?;
            if id >= 255 || touches == 16 {
                return None;
            }
            key |= u128::from(id + 1) << (8 * touches);
            touches += 1;
            if stop == sep {
                return Some((key, touches, end));
            }
            i = end + 1;
        }
    }

    /// [`Self::fast_path_key`] for a journey's path field at `data[i..]`,
    /// through the path memo when the field has at most 32 bytes.
    #[inline]
    fn memo_path_key(
        &mut self,
        data: &[u8],
        stops: &Stops,
        i: usize,
    ) -> Option<(u128, u32, usize)> {
        let end = next_stop(&stops.fields, i)?;
        if data[end] != b',' {
            return None;
        }
        let len = end - i;
        let Some(raw) = data.get(i..i + 32).filter(|_| len <= 32) else {
            return self.fast_path_key(data, stops, i, b',');
        };
        let mut words = [0u64; 4];
        for (k, word) in words.iter_mut().enumerate() {
            let bytes = <[u8; 8]>::try_from(&raw[8 * k..8 * k + 8]).ok()?;
            *word = u64::from_le_bytes(bytes) & LOW_BYTES[len.saturating_sub(8 * k).min(8)];
        }
        let h = fold_mul(
            self.memo_seed ^ words[0] ^ (len as u64),
            0x9E37_79B9_7F4A_7C15,
        ) ^ fold_mul(words[1] ^ words[2].rotate_left(23), 0xBF58_476D_1CE4_E5B9)
            ^ words[3];
        let at = (h.wrapping_mul(0x94D0_49BB_1331_11EB) >> 32) as usize & (PATH_MEMO - 1);
        let memo = &self.path_memo[at];
        if memo.len == len as u32 && memo.words == words {
            return Some((memo.key, memo.touches, end));
        }
        let (key, touches, stop) = self.fast_path_key(data, stops, i, b',')?;
        self.path_memo[at] = MemoPath {
            words,
            len: len as u32,
            touches,
            key,
        };
        Some((key, touches, stop))
    }

    /// The slot of a packed path at `at` (from [`PackedPaths::position`]),
    /// registering the path if it is new.
    #[inline]
    fn packed_slot(&mut self, at: usize, found: bool, key: u128, touches: u32) -> usize {
        if found {
            return at;
        }
        let path = self.acc.len() as u32;
        for t in 0..touches {
            self.ids.push(((key >> (8 * t)) as u32 & 0xFF) - 1);
        }
        self.path_start.push(self.ids.len());
        self.acc.push(PathAcc::default());
        self.packed.insert(at, key, path)
    }

    /// Adds counts to the packed path in slot `at`: in the slot's own
    /// 32-bit counters (no second cache line) until they would overflow,
    /// then in the path's `u64` totals, checked, for good. So a slot's
    /// counters are the path's whole count until it spills, and zero after.
    #[inline]
    fn add_counts_at(
        &mut self,
        at: usize,
        conversions: u64,
        nulls: u64,
    ) -> Result<(), JourneyError> {
        let slot = &mut self.packed.slots[at];
        if !slot.spilled {
            if let (Ok(c), Ok(n)) = (u32::try_from(conversions), u32::try_from(nulls)) {
                if let (Some(c), Some(n)) =
                    (slot.conversions.checked_add(c), slot.nulls.checked_add(n))
                {
                    (slot.conversions, slot.nulls) = (c, n);
                    return Ok(());
                }
            }
        }
        self.spill_counts(at, conversions, nulls)
    }

    #[cold]
    fn spill_counts(
        &mut self,
        at: usize,
        conversions: u64,
        nulls: u64,
    ) -> Result<(), JourneyError> {
        let slot = &mut self.packed.slots[at];
        slot.spilled = true;
        let held = (
            std::mem::take(&mut slot.conversions),
            std::mem::take(&mut slot.nulls),
        );
        let e = &mut self.acc[slot.path as usize];
        e.add_counts(held.0.into(), held.1.into())?;
        e.add_counts(conversions, nulls)
    }

    /// Adds counts to any worker path: for journey lines through its slot
    /// if it is packable (see [`Self::add_counts_at`]), else to its totals,
    /// checked.
    fn add_counts(&mut self, path: u32, conversions: u64, nulls: u64) -> Result<(), JourneyError> {
        let (start, end) = (
            self.path_start[path as usize],
            self.path_start[path as usize + 1],
        );
        if self.config.format == Format::Journeys {
            if let Some(key) = super::pack_path(&self.ids[start..end]) {
                let (at, found) = self.packed.position(key);
                if found {
                    return self.add_counts_at(at, conversions, nulls);
                }
            }
        }
        self.acc[path as usize].add_counts(conversions, nulls)
    }

    /// Moves every slot's counters into its path's totals (after the last
    /// block).
    fn settle_counts(&mut self) -> Result<(), JourneyError> {
        // Only journey lines count in slots; once is enough.
        if self.config.format != Format::Journeys || self.settled {
            return Ok(());
        }
        self.settled = true;
        for slot in self.packed.slots.iter_mut().filter(|s| s.key != 0) {
            self.acc[slot.path as usize].add_counts(slot.conversions.into(), slot.nulls.into())?;
            (slot.conversions, slot.nulls, slot.spilled) = (0, 0, true);
        }
        Ok(())
    }

    /// The fast path for a plain aggregated line: an unquoted path, digit
    /// counts, an unsigned decimal value. As [`Self::fast_journey`], but
    /// sums that overflow are reported here, with the line.
    #[inline]
    fn fast_path_line(
        &mut self,
        data: &[u8],
        stops: &Stops,
        p: usize,
        line: u64,
    ) -> Option<Result<usize, (u64, LineErrorKind)>> {
        let (key, touches, end) = self.fast_path_key(data, stops, p, b';')?;
        let (conversions, i) = fast_count(data, end + 1)?;
        let (nulls, i) = fast_count(data, i)?;
        let (value, i) = fast_decimal(data, i)?;
        let next = line_end(data, i)?;
        if i - p > self.config.max_line {
            return None;
        }
        // The line is taken. Usually a new path: its slot misses the
        // cache, so start loading it, add the previous line meanwhile and
        // leave this one pending.
        self.packed.prefetch(key);
        if let Err(error) = self.flush_oldest_path() {
            return Some(Err(error));
        }
        self.pending_path = self.pending_path_next.take();
        self.pending_path_next = Some(PendingPath {
            key,
            touches,
            conversions,
            nulls,
            value,
            line,
        });
        Some(Ok(next))
    }

    /// Adds both pending fast aggregated lines, oldest first.
    #[inline]
    fn flush_pending_path(&mut self) -> Result<(), (u64, LineErrorKind)> {
        self.flush_oldest_path()?;
        self.pending_path = self.pending_path_next.take();
        self.flush_oldest_path()
    }

    /// Adds the older pending fast aggregated line, if any; an overflowing
    /// sum is reported with that line's number (in the block).
    #[inline]
    fn flush_oldest_path(&mut self) -> Result<(), (u64, LineErrorKind)> {
        let Some(PendingPath {
            key,
            touches,
            conversions,
            nulls,
            value,
            line,
        }) = self.pending_path.take()
        else {
            return Ok(());
        };
        let (at, found) = self.packed.position(key);
        let at = self.packed_slot(at, found, key, touches);
        // Aggregated lines are mostly new paths, met once: their counts
        // go straight to the totals (see `add_counts`).
        let e = &mut self.acc[self.packed.slots[at].path as usize];
        e.add_counts(conversions, nulls)
            .map_err(|e| (line, e.into()))?;
        if conversions > 0 {
            e.value.add(value.mantissa, value.decimals);
        }
        Ok(())
    }

    /// The channel id of a fast-path token (see [`Self::new_token`]).
    #[inline]
    fn token_id(&mut self, token: &[u8]) -> Option<u32> {
        if token.len() > 16 {
            return match self.tokens.get(token) {
                Some(id) => Some(id),
                None => self.new_token(token),
            };
        }
        let words = short_words(token);
        let len = token.len() as u32;
        let mask = self.short_tokens.len() - 1;
        let mut at = token_home(words, len) & mask;
        loop {
            let cached = self.short_tokens[at];
            if cached.len == len && cached.words == words {
                return Some(cached.id);
            }
            if cached.len == u32::MAX {
                break;
            }
            at = (at + 1) & mask;
        }
        let id = match self.tokens.get(token) {
            Some(id) => id,
            None => self.new_token(token)?,
        };
        self.add_short_token(CachedToken { words, len, id });
        Some(id)
    }

    /// Adds a token absent from `short_tokens`, growing it to stay at most
    /// a quarter full.
    #[cold]
    fn add_short_token(&mut self, token: CachedToken) {
        self.short_len += 1;
        if self.short_len * 4 > self.short_tokens.len() {
            let bigger = vec![EMPTY_TOKEN; self.short_tokens.len() * 2];
            let old = std::mem::replace(&mut self.short_tokens, bigger);
            self.short_len = 1;
            for t in old.into_iter().filter(|t| t.len != u32::MAX) {
                self.short_len += 1;
                self.place_short_token(t);
            }
        }
        self.place_short_token(token);
    }

    fn place_short_token(&mut self, token: CachedToken) {
        let mask = self.short_tokens.len() - 1;
        let mut at = token_home(token.words, token.len) & mask;
        while self.short_tokens[at].len != u32::MAX {
            at = (at + 1) & mask;
        }
        self.short_tokens[at] = token;
    }

    /// Interns a token first met on the fast path: its channel is the token
    /// as UTF-8, trimmed as the general parser trims. `None` (leave the
    /// line to the general parser, which says why) if it is not UTF-8,
    /// trims to nothing or holds a control or bidi formatting character.
    #[cold]
    fn new_token(&mut self, token: &[u8]) -> Option<u32> {
        let name = std::str::from_utf8(token).ok()?.trim();
        if name.is_empty() || name.chars().any(super::bad_in_name) {
            return None;
        }
        let id = self.names.intern(name);
        self.tokens.insert(token, id);
        Some(id)
    }

    /// `journey_id,path,hours,converted,value`, any form.
    fn journey_line(&mut self, line: &[u8]) -> Result<(), LineErrorKind> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let result = self.journey_fields(line, &mut scratch);
        self.scratch = scratch;
        result
    }

    fn journey_fields(
        &mut self,
        line: &[u8],
        scratch: &mut [Vec<u8>; 5],
    ) -> Result<(), LineErrorKind> {
        let [_, path, hours, converted, value] = split_fields::<5>(line, b',', scratch)?;
        let path = self.path_of(path)?;
        let converted = parse_converted(converted)?;
        let value = parse_line_value(value, "value")?;
        parse_hours(hours, &mut self.hours)?;
        let touches = self.path_len(path);
        if self.hours.len() != touches {
            return Err(JourneyError::HoursMismatch {
                touches,
                hours: self.hours.len(),
            }
            .into());
        }
        self.record_journey(path, converted, value);
        Ok(())
    }

    /// Adds one journey whose touch times are in `self.hours`.
    fn record_journey(&mut self, path: u32, converted: bool, value: LineValue) {
        // One journey cannot overflow the counts (see `add_counts_at`).
        let _ = self.add_counts(path, u64::from(converted), u64::from(!converted));
        if converted {
            self.add_value(path, value);
            let value = value.to_f64();
            time_decay_shares(&self.hours, self.config.half_life, &mut self.shares);
            let start = self.path_start[path as usize];
            for (&c, &share) in self.ids[start..].iter().zip(&self.shares) {
                let c = c as usize;
                if self.time_decay.len() <= c {
                    self.time_decay.resize(c + 1, Credit::default());
                }
                self.time_decay[c].add_scaled(1.0, value, share);
            }
        }
    }

    /// `path;total_conversions;total_null;total_conversion_value`
    fn path_line(&mut self, line: &[u8]) -> Result<(), LineErrorKind> {
        let mut scratch = std::mem::take(&mut self.scratch4);
        let result = self.path_fields(line, &mut scratch);
        self.scratch4 = scratch;
        result
    }

    fn path_fields(
        &mut self,
        line: &[u8],
        scratch: &mut [Vec<u8>; 4],
    ) -> Result<(), LineErrorKind> {
        let [path, conversions, nulls, value] = split_fields::<4>(line, b';', scratch)?;
        let path = self.path_of(path)?;
        let conversions = parse_count(conversions, "total_conversions")?;
        let nulls = parse_count(nulls, "total_null")?;
        let value = parse_line_value(value, "total_conversion_value")?;
        self.add_counts(path, conversions, nulls)?;
        if conversions > 0 {
            self.add_value(path, value);
        }
        Ok(())
    }

    /// Adds a converting line's value to its worker path: a plain decimal
    /// exactly, any other number to this block's `f64` list.
    fn add_value(&mut self, path: u32, value: LineValue) {
        match value {
            LineValue::Decimal(d) => self.acc[path as usize].value.add(d.mantissa, d.decimals),
            LineValue::Other(v) => {
                let (start, end) = (
                    self.path_start[path as usize],
                    self.path_start[path as usize + 1],
                );
                self.inexact_ids.extend_from_slice(&self.ids[start..end]);
                self.inexact.push(((end - start) as u32, self.line, v));
            }
        }
    }

    fn path_len(&self, path: u32) -> usize {
        let i = path as usize;
        self.path_start[i + 1] - self.path_start[i]
    }

    /// The worker index of a raw path, registered (split, trimmed,
    /// interned) on first sight.
    fn path_of(&mut self, raw: &[u8]) -> Result<u32, LineErrorKind> {
        if let Some(i) = self.raw.get(raw) {
            return Ok(i);
        }
        let text =
            std::str::from_utf8(raw).map_err(|_| LineErrorKind::InvalidUtf8 { field: "path" })?;
        if text.trim().is_empty() {
            return Err(JourneyError::EmptyPath.into());
        }
        let start = self.ids.len();
        for (i, name) in text.split('>').enumerate() {
            let name = name.trim();
            if name.is_empty() {
                self.ids.truncate(start);
                return Err(JourneyError::EmptyChannel { touch: i + 1 }.into());
            }
            if let Some(c) = name.chars().find(|&c| super::bad_in_name(c)) {
                self.ids.truncate(start);
                return Err(super::name_char_error(i + 1, c).into());
            }
            let id = self.names.intern(name);
            self.ids.push(id);
        }
        // A packable path is keyed by its ids too, as on the fast path, so
        // a path is one worker path however it is spelled (which the
        // one-worker merge relies on).
        let key = super::pack_path(&self.ids[start..]);
        let packed = key.map(|key| (key, self.packed.position(key)));
        if let Some((_, (at, true))) = packed {
            self.ids.truncate(start);
            let index = self.packed.slots[at].path;
            self.raw.insert(raw, index);
            return Ok(index);
        }
        let index = self.acc.len() as u32;
        self.path_start.push(self.ids.len());
        self.acc.push(PathAcc::default());
        self.raw.insert(raw, index);
        self.unpacked |= packed.is_none();
        if let Some((key, (at, false))) = packed {
            self.packed.insert(at, key, index);
        }
        Ok(index)
    }
}

/// Byte strings → `u32`: open addressing with linear probing over flat
/// slots, keys in one arena, no `memcmp` call (a `HashMap` of boxed keys
/// chases a pointer and calls `memcmp` per line).
struct ByteTable {
    /// A power of two long, at most half full.
    slots: Vec<RawSlot>,
    keys: Vec<u8>,
    len: usize,
    seed: u64,
}

#[derive(Debug, Clone, Copy)]
struct RawSlot {
    hash: u64,
    start: usize,
    len: u32,
    /// The value, `UNTOUCHED` for an empty slot.
    path: u32,
}

const EMPTY_SLOT: RawSlot = RawSlot {
    hash: 0,
    start: 0,
    len: 0,
    path: UNTOUCHED,
};

impl ByteTable {
    fn new() -> Self {
        // A random seed keeps crafted inputs from colliding on purpose;
        // results never depend on the table's order.
        let seed = foldhash::fast::RandomState::default().hash_one(0x5EED_u64);
        ByteTable {
            slots: vec![EMPTY_SLOT; 64],
            keys: Vec::new(),
            len: 0,
            seed,
        }
    }

    #[inline]
    fn get(&self, key: &[u8]) -> Option<u32> {
        let hash = hash_bytes(self.seed, key);
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        loop {
            let slot = &self.slots[i];
            if slot.path == UNTOUCHED {
                return None;
            }
            if slot.hash == hash
                && slot.len as usize == key.len()
                && bytes_eq(&self.keys[slot.start..slot.start + key.len()], key)
            {
                return Some(slot.path);
            }
            i = (i + 1) & mask;
        }
    }

    /// Inserts a key known to be absent.
    fn insert(&mut self, key: &[u8], path: u32) {
        if (self.len + 1) * 2 > self.slots.len() {
            let mut bigger = vec![EMPTY_SLOT; self.slots.len() * 2];
            let mask = bigger.len() - 1;
            for slot in self.slots.iter().filter(|s| s.path != UNTOUCHED) {
                let mut i = slot.hash as usize & mask;
                while bigger[i].path != UNTOUCHED {
                    i = (i + 1) & mask;
                }
                bigger[i] = *slot;
            }
            self.slots = bigger;
        }
        let hash = hash_bytes(self.seed, key);
        let mask = self.slots.len() - 1;
        let mut i = hash as usize & mask;
        while self.slots[i].path != UNTOUCHED {
            i = (i + 1) & mask;
        }
        self.slots[i] = RawSlot {
            hash,
            start: self.keys.len(),
            // Lines are at most `max_line_bytes` long, far below 4 GiB.
            len: key.len() as u32,
            path,
        };
        self.keys.extend_from_slice(key);
        self.len += 1;
    }
}

/// Paths of channel ids packed into a `u128` (id + 1 per byte, first
/// touch lowest; 0 marks an empty slot) → worker path index, with the
/// path's entry in the current block, so a line costs one slot access.
struct PackedPaths {
    /// A power of two long, at most half full.
    slots: Vec<PackedSlot>,
    len: usize,
    seed: u64,
}

/// 32 bytes: two to a cache line. All zero is the empty slot (a large
/// table comes zeroed from [`super::unsafe_ops::zeroed_vec`], which checks
/// every field can be zero).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct PackedSlot {
    /// The packed path; 0 in an empty slot.
    pub(super) key: u128,
    /// The worker's index of the path.
    pub(super) path: u32,
    /// The path's counts while they fit (see `Parser::add_counts_at`).
    pub(super) conversions: u32,
    pub(super) nulls: u32,
    /// Whether the counts moved to the path's accumulator.
    pub(super) spilled: bool,
}

impl PackedPaths {
    /// A table for about `paths` keys (at least 1024 slots): the first
    /// power of two that holds them at most 5/8 full, so an estimate up to
    /// 25% high does not double the table; it grows past half full.
    fn with_capacity(paths: usize) -> Self {
        let slots = paths
            .saturating_mul(8)
            .div_ceil(5)
            .next_power_of_two()
            .clamp(1024, 1 << 27);
        PackedPaths {
            slots: empty_slots(slots),
            len: 0,
            seed: foldhash::fast::RandomState::default().hash_one(0x9ACC_u64),
        }
    }

    /// The slot holding `key` (true), or the empty slot where it would go.
    #[inline]
    fn position(&self, key: u128) -> (usize, bool) {
        let mask = self.slots.len() - 1;
        let mut i = hash_u128(self.seed, key) as usize & mask;
        loop {
            let k = self.slots[i].key;
            if k == key {
                return (i, true);
            }
            if k == 0 {
                return (i, false);
            }
            i = (i + 1) & mask;
        }
    }

    /// Hints the CPU to start loading `key`'s home slot.
    #[inline]
    fn prefetch(&self, key: u128) {
        let mask = self.slots.len() - 1;
        let i = hash_u128(self.seed, key) as usize & mask;
        prefetch_read(&self.slots[i]);
    }

    /// Inserts an absent key at the empty slot `at` from [`Self::position`];
    /// returns where it ended up (the table may grow).
    fn insert(&mut self, mut at: usize, key: u128, path: u32) -> usize {
        if (self.len + 1) * 2 > self.slots.len() {
            let bigger = empty_slots(self.slots.len() * 2);
            let old = std::mem::replace(&mut self.slots, bigger);
            for slot in old.into_iter().filter(|s| s.key != 0) {
                let (i, _) = self.position(slot.key);
                self.slots[i] = slot;
            }
            at = self.position(key).0;
        }
        self.slots[at] = PackedSlot {
            key,
            path,
            ..PackedSlot::default()
        };
        self.len += 1;
        at
    }
}

/// Where a fast-path scan must look closer in a block: bit `j` of
/// `all[c]` is set if `data[64 c + j]` is `>`, the field separator, a quote
/// or a line end; `fields` the same without `>`. Marked in one pass over
/// the block, 16 bytes at a time where SSE2 is available, so finding a
/// field or token end later is a bit scan instead of a branch per byte.
#[derive(Debug, Default)]
struct Stops {
    all: Vec<u64>,
    fields: Vec<u64>,
}

impl Stops {
    fn mark(&mut self, data: &[u8], sep: u8) {
        self.all.clear();
        self.fields.clear();
        self.all.reserve(data.len() / 64 + 1);
        self.fields.reserve(data.len() / 64 + 1);
        for chunk in data.chunks(64) {
            let (all, fields) = stops64(chunk, sep);
            self.all.push(all);
            self.fields.push(fields);
        }
    }
}

/// A chunk's (all, fields) stop bits, bytewise.
fn stops_bytewise(chunk: &[u8], sep: u8) -> (u64, u64) {
    chunk
        .iter()
        .enumerate()
        .fold((0, 0), |(all, fields), (j, &b)| {
            (
                all | u64::from(is_stop(b, sep)) << j,
                fields | u64::from(b == sep || b == b'"' || b == b'\n') << j,
            )
        })
}

#[inline]
fn is_stop(b: u8, sep: u8) -> bool {
    b == b'>' || b == sep || b == b'"' || b == b'\n'
}

/// A chunk's bits of at most 64 bytes (see [`Stops`]): SSE2 on a whole
/// chunk.
#[cfg(target_arch = "x86_64")]
#[inline]
fn stops64(chunk: &[u8], sep: u8) -> (u64, u64) {
    match <&[u8; 64]>::try_from(chunk) {
        Ok(chunk) => super::unsafe_ops::stops64(chunk, sep),
        Err(_) => stops_bytewise(chunk, sep),
    }
}

/// A chunk's bits of at most 64 bytes (see [`Stops`]).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
fn stops64(chunk: &[u8], sep: u8) -> (u64, u64) {
    stops_bytewise(chunk, sep)
}

/// The first stop at or after `i` (see [`Stops`]), `None` past the
/// last one.
#[inline]
fn next_stop(stops: &[u64], i: usize) -> Option<usize> {
    let mut c = i >> 6;
    let mut m = *stops.get(c)? & (u64::MAX << (i & 63));
    while m == 0 {
        c += 1;
        m = *stops.get(c)?;
    }
    Some(c * 64 + m.trailing_zeros() as usize)
}

/// The bounds of a `>`-separated token `data[start..end]` with ASCII
/// spaces trimmed.
#[inline(always)]
fn trim_token(data: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
    // Usually one space each side (`a > b`): a branch each, no loop.
    if data.get(start) == Some(&b' ') {
        start += 1;
    }
    if end > start && data.get(end - 1) == Some(&b' ') {
        end -= 1;
    }
    // More spaces are rare: a loop only then.
    if data.get(start) == Some(&b' ') || (end > start && data.get(end - 1) == Some(&b' ')) {
        while start < end && data.get(start) == Some(&b' ') {
            start += 1;
        }
        while end > start && data.get(end - 1) == Some(&b' ') {
            end -= 1;
        }
    }
    (start, end)
}

/// 64 bits of a chunked bit vector from bit `at` on (zeros past its end).
#[inline(always)]
fn window(bits: &[u64], at: usize) -> u64 {
    let c = at >> 6;
    let off = (at & 63) as u32;
    let lo = bits.get(c).copied().unwrap_or(0) >> off;
    let hi = bits.get(c + 1).copied().unwrap_or(0);
    // `(hi << 1) << (63 - off)`: no shift by 64 when `off` is 0.
    lo | (hi << 1) << (63 - off)
}

/// Whether `data[start..end]` is a plain decimal, as [`plain_decimal`]
/// decides, without computing it.
#[inline(always)]
fn is_plain_decimal(data: &[u8], start: usize, end: usize) -> bool {
    let len = end.wrapping_sub(start);
    if (1..=8).contains(&len) {
        if let Some(word) = data.get(start..start + 8) {
            if let Ok(word) = <[u8; 8]>::try_from(word) {
                return swar_decimal_shape(u64::from_le_bytes(word), len).is_some();
            }
        }
    }
    plain_decimal(data, start, end).is_some()
}

/// `data[start..end]` as a plain decimal (`digits[.digits]`, as
/// [`fast_decimal`] takes), all of it.
#[inline(always)]
fn plain_decimal(data: &[u8], start: usize, end: usize) -> Option<Decimal> {
    let len = end.checked_sub(start)?;
    if len == 0 {
        return None;
    }
    if len <= 8 {
        if let Some(word) = data.get(start..start + 8) {
            let word = u64::from_le_bytes(<[u8; 8]>::try_from(word).ok()?);
            return swar_decimal(word, len);
        }
    }
    match fast_decimal(data.get(..end)?, start) {
        Some((d, stop)) if stop == end => Some(d),
        _ => None,
    }
}

/// The first `len` (1 to 8) bytes of `word` (little-endian, first byte
/// lowest) as a plain decimal: digits with at most one `.` and at least
/// one digit, with no branch per byte.
#[inline(always)]
fn swar_decimal(word: u64, len: usize) -> Option<Decimal> {
    let (digits, n, decimals) = swar_decimal_shape(word, len)?;
    // Right-align (leading zero digits), then combine pairs, quads, eights.
    let v = digits << (8 * (8 - n));
    let v = (v * 10) + (v >> 8);
    let v = ((v & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32))
        + ((v >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32)))
        >> 32;
    Some(Decimal {
        mantissa: v,
        decimals: decimals as u32,
    })
}

/// `LOW_BYTES[n]` keeps the low `n` bytes of a word (`n` ≤ 8).
const LOW_BYTES: [u64; 9] = {
    let mut masks = [u64::MAX; 9];
    let mut n = 0;
    while n < 8 {
        masks[n] = (1u64 << (8 * n)) - 1;
        n += 1;
    }
    masks
};

/// The checks of [`swar_decimal`]: its digits (one per byte, the dot
/// removed, first digit lowest), their count (1 to 8) and the decimals.
#[inline(always)]
fn swar_decimal_shape(word: u64, len: usize) -> Option<(u64, usize, usize)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let keep = LOW_BYTES[len.min(8)];
    let d = (word & keep) ^ (0x30 * ONES);
    // High bit of each byte that is `.` (0x2E, so 0x1E after the xor).
    let t = d ^ (0x1E * ONES);
    let dots = !(((t & !HIGH) + !HIGH) | t) & HIGH & keep;
    // A byte is a digit iff it is below 10 after the xor; carries only
    // leave a byte that is already bad.
    let bad = ((d.wrapping_add(0x76 * ONES)) | d) & HIGH & keep & !dots;
    if bad != 0 || dots.count_ones() > 1 {
        return None;
    }
    let (digits, n, decimals) = if dots == 0 {
        (d & keep, len, 0)
    } else {
        let at = (dots.trailing_zeros() / 8) as usize;
        let below = (1u64 << (8 * at)) - 1;
        let digits = (d & below) | ((d & keep) >> 8 & !below);
        (digits, len - 1, len - 1 - at)
    };
    (n > 0).then_some((digits, n, decimals))
}

/// `n` empty slots (at least one), backed by huge pages where the OS
/// offers them (see [`super::huge_with_capacity`]). A large table (from 32
/// MiB) is zeroed by the allocator ([`super::unsafe_ops::zeroed_vec`]; an
/// all-zero slot is the empty slot): it comes as fresh pages that the OS
/// zeroes when first touched, so memory follows the slots in use (the
/// distinct paths), not the table's size. A smaller one is written out
/// after the huge-page advice (an allocator may zero it before any advice
/// could apply).
fn empty_slots(n: usize) -> Vec<PackedSlot> {
    const LAZY_BYTES: usize = 32 << 20;
    let n = n.max(1);
    let lazy = n.saturating_mul(size_of::<PackedSlot>()) >= LAZY_BYTES;
    if let Some(slots) = lazy.then(|| super::unsafe_ops::zeroed_vec(n)).flatten() {
        return slots;
    }
    let mut slots = super::huge_with_capacity(n);
    slots.resize(n, PackedSlot::default());
    slots
}

#[inline]
fn hash_u128(seed: u64, key: u128) -> u64 {
    const K1: u64 = 0x9E37_79B9_7F4A_7C15;
    const K2: u64 = 0xBF58_476D_1CE4_E5B9;
    fold_mul(fold_mul(seed ^ key as u64, K1) ^ (key >> 64) as u64, K2)
}

/// The 128-bit product of `a` and `b`, folded to 64 bits: a strong, cheap
/// mixer (as in foldhash).
#[inline]
fn fold_mul(a: u64, b: u64) -> u64 {
    let p = u128::from(a) * u128::from(b);
    (p as u64) ^ ((p >> 64) as u64)
}

/// Up to 8 bytes as a little-endian `u64` (a loop, not a `memcpy` call).
#[inline]
fn load_u64(chunk: &[u8]) -> u64 {
    if let Ok(b) = <[u8; 8]>::try_from(chunk) {
        return u64::from_le_bytes(b);
    }
    chunk
        .iter()
        .enumerate()
        .fold(0, |v, (i, &b)| v | u64::from(b) << (8 * i))
}

/// The first and last 8 bytes of a key of 8 to 16 bytes (overlapping),
/// or its bytes in one word below 8: with the length, all of it.
#[inline]
fn short_words(key: &[u8]) -> (u64, u64) {
    let n = key.len();
    if n >= 8 {
        (load_u64(&key[..8]), load_u64(&key[n - 8..]))
    } else if n >= 4 {
        let lo = u32::from_le_bytes([key[0], key[1], key[2], key[3]]);
        let hi = u32::from_le_bytes([key[n - 4], key[n - 3], key[n - 2], key[n - 1]]);
        (u64::from(lo), u64::from(hi))
    } else {
        (load_u64(key), 0)
    }
}

/// Hashes a byte string: overlapping words up to 16 bytes, eight bytes at
/// a time beyond.
#[inline]
fn hash_bytes(seed: u64, key: &[u8]) -> u64 {
    const K1: u64 = 0x9E37_79B9_7F4A_7C15;
    const K2: u64 = 0xBF58_476D_1CE4_E5B9;
    let h = seed ^ (key.len() as u64).wrapping_mul(K1);
    if key.len() <= 16 {
        let (a, b) = short_words(key);
        return fold_mul(fold_mul(h ^ a, K2) ^ b, K1);
    }
    let mut h = h;
    let mut chunks = key.chunks_exact(8);
    for chunk in &mut chunks {
        h = fold_mul(h ^ load_u64(chunk), K2);
    }
    h = fold_mul(h ^ load_u64(&key[key.len() - 8..]), K2);
    fold_mul(h, K1)
}

/// Byte equality of equal-length slices, inline (no `memcmp` call, which
/// costs more than the comparison on keys of a few dozen bytes).
#[inline]
fn bytes_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() <= 16 {
        return short_words(a) == short_words(b);
    }
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        if load_u64(x) != load_u64(y) {
            return false;
        }
    }
    load_u64(&a[a.len() - 8..]) == load_u64(&b[b.len() - 8..])
}

/// Where the next line starts if a line ends at `data[i]` (`\n`, `\r\n`,
/// a final `\r`, or the end of the data).
#[inline]
fn line_end(data: &[u8], i: usize) -> Option<usize> {
    match data.get(i) {
        None => Some(i),
        Some(b'\n') => Some(i + 1),
        Some(b'\r') if matches!(data.get(i + 1), None | Some(b'\n')) => {
            Some((i + 2).min(data.len()))
        }
        Some(_) => None,
    }
}

/// Digits at `data[i..]` followed by `;`: the count (checked against
/// `u64`) and the index after the `;`.
#[inline]
fn fast_count(data: &[u8], mut i: usize) -> Option<(u64, usize)> {
    let start = i;
    let mut n = 0u64;
    while let Some(&d) = data.get(i) {
        if !d.is_ascii_digit() {
            break;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
        i += 1;
    }
    (i > start && data.get(i) == Some(&b';')).then_some((n, i + 1))
}

/// A plain decimal as read: `mantissa / 10^decimals`, with a mantissa
/// below 2^53 and at most 19 digits, so the conversion is exact.
#[derive(Debug, Clone, Copy)]
struct Decimal {
    mantissa: u64,
    decimals: u32,
}

impl Decimal {
    /// The value, by the same rule as [`parse_f64`]'s fast path: one
    /// correctly rounded division of two exact numbers.
    #[inline]
    fn to_f64(self) -> f64 {
        if self.mantissa < 1 << 53 {
            return self.mantissa as f64 / POW10[self.decimals as usize];
        }
        // A wide value (16 to 19 digits, from `wide_decimal`): the exact
        // sum of one term, correctly rounded.
        let mut sum = ExactSum::default();
        sum.add(self.mantissa, self.decimals);
        sum.to_f64()
    }
}

/// An unsigned `digits[.digits]` of at most 19 digits in all, the whole of
/// `t`, whatever its mantissa (up to `10^19 - 1`): values that
/// [`fast_decimal`] leaves out for their 16 or more significant digits
/// (`999999999999999.9`) are still summed exactly.
fn wide_decimal(t: &[u8]) -> Option<Decimal> {
    let (int, frac) = match t.iter().position(|&b| b == b'.') {
        Some(dot) => (&t[..dot], &t[dot + 1..]),
        None => (t, &t[t.len()..]),
    };
    let digits = int.len() + frac.len();
    if digits == 0 || digits > 19 {
        return None;
    }
    let mut mantissa = 0u64;
    for &d in int.iter().chain(frac) {
        if !d.is_ascii_digit() {
            return None;
        }
        mantissa = mantissa * 10 + u64::from(d - b'0');
    }
    Some(Decimal {
        mantissa,
        decimals: frac.len() as u32,
    })
}

/// An unsigned `digits[.digits]` at `data[i..]` that [`parse_f64`]'s fast
/// path accepts, and the index after it.
#[inline]
fn fast_decimal(data: &[u8], mut i: usize) -> Option<(Decimal, usize)> {
    let start = i;
    let mut mantissa = 0u64;
    while let Some(&d) = data.get(i) {
        if !d.is_ascii_digit() {
            break;
        }
        mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
        i += 1;
    }
    let mut count = i - start;
    let mut decimals = 0;
    if data.get(i) == Some(&b'.') {
        i += 1;
        let frac = i;
        while let Some(&d) = data.get(i) {
            if !d.is_ascii_digit() {
                break;
            }
            mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            i += 1;
        }
        decimals = i - frac;
        count += decimals;
    }
    if count == 0 || count > 19 || mantissa >= 1 << 53 {
        return None;
    }
    let decimals = decimals as u32;
    Some((Decimal { mantissa, decimals }, i))
}

/// Splits a line into exactly `N` fields separated by `sep`. A field that
/// starts with `"` is quoted (RFC 4180): it ends at the next lone `"`, and
/// `""` inside stands for `"`; unescaped fields borrow from `line`, escaped
/// ones are copied into their `scratch` buffer.
fn split_fields<'a, const N: usize>(
    line: &'a [u8],
    sep: u8,
    scratch: &'a mut [Vec<u8>; N],
) -> Result<[&'a [u8]; N], LineErrorKind> {
    let mut out: [&'a [u8]; N] = [&[]; N];
    let mut pos = 0usize;
    for (i, (slot, buf)) in out.iter_mut().zip(scratch.iter_mut()).enumerate() {
        if line.get(pos) == Some(&b'"') {
            let (content, end) = quoted(line, pos, i + 1, buf)?;
            *slot = content;
            pos = end;
            if pos < line.len() && line[pos] != sep {
                return Err(LineErrorKind::TextAfterQuote { field: i + 1 });
            }
        } else {
            let start = pos;
            while pos < line.len() {
                let b = line[pos];
                if b == sep {
                    break;
                }
                if b == b'"' {
                    return Err(LineErrorKind::StrayQuote { field: i + 1 });
                }
                pos += 1;
            }
            *slot = &line[start..pos];
        }
        if i + 1 < N {
            if pos >= line.len() {
                return Err(LineErrorKind::FieldCount {
                    expected: N,
                    found: i + 1,
                    separator: sep as char,
                });
            }
            pos += 1;
        } else if pos < line.len() {
            return Err(LineErrorKind::FieldCount {
                expected: N,
                found: count_fields(line, sep),
                separator: sep as char,
            });
        }
    }
    Ok(out)
}

/// The content of the quoted field opening at `line[open]`, and the index
/// after its closing quote.
fn quoted<'a>(
    line: &'a [u8],
    open: usize,
    field: usize,
    buf: &'a mut Vec<u8>,
) -> Result<(&'a [u8], usize), LineErrorKind> {
    let start = open + 1;
    let mut pos = start;
    let mut escaped = false;
    loop {
        let Some(q) = memchr::memchr(b'"', &line[pos..]) else {
            return Err(LineErrorKind::UnterminatedQuote { field });
        };
        let q = pos + q;
        if line.get(q + 1) == Some(&b'"') {
            escaped = true;
            pos = q + 2;
            continue;
        }
        if !escaped {
            return Ok((&line[start..q], q + 1));
        }
        buf.clear();
        let mut rest = &line[start..q];
        while let Some(p) = memchr::memchr(b'"', rest) {
            // Inside the content quotes come in pairs.
            buf.extend_from_slice(&rest[..=p]);
            rest = rest.get(p + 2..).unwrap_or_default();
        }
        buf.extend_from_slice(rest);
        let buf: &'a Vec<u8> = buf;
        return Ok((buf, q + 1));
    }
}

/// Counts fields the way [`split_fields`] would, for error messages.
fn count_fields(line: &[u8], sep: u8) -> usize {
    let mut fields = 1;
    let mut in_quotes = false;
    for &b in line {
        if b == b'"' {
            in_quotes = !in_quotes;
        } else if b == sep && !in_quotes {
            fields += 1;
        }
    }
    fields
}

fn parse_converted(field: &[u8]) -> Result<bool, LineErrorKind> {
    match field.trim_ascii() {
        b"1" => Ok(true),
        b"0" => Ok(false),
        t if t.eq_ignore_ascii_case(b"true") => Ok(true),
        t if t.eq_ignore_ascii_case(b"false") => Ok(false),
        _ => Err(LineErrorKind::BadConverted {
            text: snippet(field),
        }),
    }
}

/// A finite number, kept as a plain decimal when it is one.
fn parse_line_value(field: &[u8], name: &'static str) -> Result<LineValue, LineErrorKind> {
    let t = field.trim_ascii();
    if let Some((d, end)) = fast_decimal(t, 0) {
        if end == t.len() {
            return Ok(LineValue::Decimal(d));
        }
    }
    if let Some(d) = wide_decimal(t) {
        return Ok(LineValue::Decimal(d));
    }
    parse_value(field, name).map(LineValue::Other)
}

/// A finite `f64`.
fn parse_value(field: &[u8], name: &'static str) -> Result<f64, LineErrorKind> {
    match parse_f64(field.trim_ascii()) {
        Some(v) if v.is_finite() => Ok(v),
        Some(_) => Err(LineErrorKind::NotFinite {
            field: name,
            text: snippet(field),
        }),
        None => Err(LineErrorKind::BadNumber {
            field: name,
            text: snippet(field),
        }),
    }
}

/// A whole number ≥ 0 below 2^64: digits, or a number with no fractional
/// part such as `3.0`, `1.5e1` or `1e3`, read exactly (never through a
/// rounded `f64`).
fn parse_count(field: &[u8], name: &'static str) -> Result<u64, LineErrorKind> {
    let t = field.trim_ascii();
    if !t.is_empty() && t.len() <= 19 && t.iter().all(u8::is_ascii_digit) {
        return Ok(t.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')));
    }
    let text = || snippet(field);
    match exact_count(t) {
        Some(Ok(n)) => return Ok(n),
        Some(Err(ExactCount::Negative)) => {
            return Err(LineErrorKind::NegativeCount {
                field: name,
                text: text(),
            });
        }
        Some(Err(ExactCount::NotWhole)) => {
            return Err(LineErrorKind::NotWhole {
                field: name,
                text: text(),
            });
        }
        Some(Err(ExactCount::Overflow)) => return Err(JourneyError::CountOverflow.into()),
        None => {}
    }
    // Not decimal syntax: say why as a number would.
    match parse_f64(t) {
        Some(v) if !v.is_finite() => Err(LineErrorKind::NotFinite {
            field: name,
            text: text(),
        }),
        _ => Err(LineErrorKind::BadNumber {
            field: name,
            text: text(),
        }),
    }
}

/// Why a decimal is not a count (see [`exact_count`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ExactCount {
    Negative,
    NotWhole,
    Overflow,
}

/// Reads `[+-]digits[.digits][(e|E)[+-]digits]` (at least one mantissa
/// digit) exactly as a whole number; `None` if `t` is not that syntax.
fn exact_count(t: &[u8]) -> Option<Result<u64, ExactCount>> {
    let (negative, rest) = match t.first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match rest.iter().position(|&b| b == b'e' || b == b'E') {
        Some(e) => (&rest[..e], Some(&rest[e + 1..])),
        None => (rest, None),
    };
    let (int, frac) = match mantissa.iter().position(|&b| b == b'.') {
        Some(dot) => (&mantissa[..dot], &mantissa[dot + 1..]),
        None => (mantissa, &mantissa[mantissa.len()..]),
    };
    let all_digits = |d: &[u8]| d.iter().all(u8::is_ascii_digit);
    if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
        return None;
    }
    // The exponent, saturated far beyond any u64 (so `1e99999999999` is an
    // overflow, not a parse error).
    let exponent: i64 = match exponent {
        None => 0,
        Some(e) => {
            let (sign, digits) = match e.first() {
                Some(b'-') => (-1, &e[1..]),
                Some(b'+') => (1, &e[1..]),
                _ => (1, e),
            };
            if digits.is_empty() || !all_digits(digits) {
                return None;
            }
            let magnitude = digits.iter().fold(0i64, |n, &d| {
                n.saturating_mul(10).saturating_add(i64::from(d - b'0'))
            });
            sign * magnitude.min(1 << 40)
        }
    };
    // Significant digits (no leading zeros), and the power of ten they
    // are multiplied by.
    let digits: Vec<u8> = int.iter().chain(frac).copied().collect();
    let Some(first) = digits.iter().position(|&d| d != b'0') else {
        return Some(Ok(0));
    };
    let last = digits.iter().rposition(|&d| d != b'0').unwrap_or(first);
    let significant = &digits[first..=last];
    let power = exponent - frac.len() as i64 + (digits.len() - 1 - last) as i64;
    if negative {
        return Some(Err(ExactCount::Negative));
    }
    if power < 0 {
        return Some(Err(ExactCount::NotWhole));
    }
    let mut n = 0u64;
    for &d in significant {
        n = match n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
        {
            Some(n) => n,
            None => return Some(Err(ExactCount::Overflow)),
        };
    }
    for _ in 0..power {
        n = match n.checked_mul(10) {
            Some(n) => n,
            None => return Some(Err(ExactCount::Overflow)),
        };
    }
    Some(Ok(n))
}

/// Touch times `h1 > h2 > …` into `out`, each finite and ≥ 0.
fn parse_hours(field: &[u8], out: &mut Vec<f64>) -> Result<(), LineErrorKind> {
    out.clear();
    for (i, token) in field.split(|&b| b == b'>').enumerate() {
        let Some(h) = parse_f64(token.trim_ascii()) else {
            return Err(LineErrorKind::BadHours {
                touch: i + 1,
                text: snippet(token),
            });
        };
        if !(h.is_finite() && h >= 0.0) {
            return Err(JourneyError::InvalidHours {
                touch: i + 1,
                hours: h,
            }
            .into());
        }
        out.push(h);
    }
    Ok(())
}

/// Powers of ten exactly representable in `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// Parses a decimal number, the same `f64` as `str::parse` (which it falls
/// back to) but faster on plain decimals.
///
/// Fast path (Clinger): `[+-]digits[.digits]` with a mantissa below 2^53
/// and at most 22 decimals is `mantissa / 10^decimals`, one correctly
/// rounded division of two exact numbers, hence the correctly rounded
/// value. Anything else (exponents, long mantissas, `inf`, errors) goes to
/// the standard parser.
pub(crate) fn parse_f64(s: &[u8]) -> Option<f64> {
    let (negative, digits) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let mut mantissa = 0u64;
    let mut count = 0usize;
    let mut i = 0;
    while i < digits.len() && digits[i].is_ascii_digit() {
        mantissa = mantissa
            .wrapping_mul(10)
            .wrapping_add(u64::from(digits[i] - b'0'));
        i += 1;
    }
    count += i;
    let mut decimals = 0usize;
    if i < digits.len() && digits[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < digits.len() && digits[i].is_ascii_digit() {
            mantissa = mantissa
                .wrapping_mul(10)
                .wrapping_add(u64::from(digits[i] - b'0'));
            i += 1;
        }
        decimals = i - frac_start;
        count += decimals;
    }
    if i == digits.len() && count > 0 && count <= 19 && decimals <= 22 && mantissa < (1 << 53) {
        let v = mantissa as f64 / POW10[decimals];
        return Some(if negative { -v } else { v });
    }
    std::str::from_utf8(s).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// `fast_decimal` over the whole of `bytes`, the reference.
    fn whole_decimal(bytes: &[u8]) -> Option<(u64, u32)> {
        match fast_decimal(bytes, 0) {
            Some((d, end)) if end == bytes.len() => Some((d.mantissa, d.decimals)),
            _ => None,
        }
    }

    fn decimal_bytes() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![
                6 => b'0'..=b'9',
                2 => Just(b'.'),
                1 => Just(b' '),
                1 => any::<u8>(),
            ],
            0..24,
        )
    }

    proptest! {
        /// The branch-free decimal reads exactly what the byte loop reads,
        /// wherever the token sits in the block (the last 8 bytes load
        /// bytewise).
        #[test]
        fn plain_decimal_agrees_with_the_byte_loop(
            token in decimal_bytes(),
            before in 0usize..4,
            after in proptest::collection::vec(any::<u8>(), 0..10),
        ) {
            let mut data = vec![b'x'; before];
            data.extend_from_slice(&token);
            data.extend_from_slice(&after);
            let got = plain_decimal(&data, before, before + token.len())
                .map(|d| (d.mantissa, d.decimals));
            prop_assert_eq!(got, whole_decimal(&token), "{:?}", String::from_utf8_lossy(&token));
            prop_assert_eq!(is_plain_decimal(&data, before, before + token.len()), got.is_some());
        }

        /// The stop bits, SIMD or not, mark exactly the stop bytes, and
        /// `next_stop` finds the first at or after any index.
        #[test]
        fn stops_mark_exactly_the_stop_bytes(
            data in proptest::collection::vec(
                prop_oneof![Just(b'>'), Just(b','), Just(b';'), Just(b'"'), Just(b'\n'), any::<u8>()],
                0..300,
            ),
            sep in prop_oneof![Just(b','), Just(b';')],
        ) {
            let mut stops = Stops::default();
            stops.mark(&data, sep);
            for i in 0..=data.len() {
                let want = data[i..].iter().position(|&b| is_stop(b, sep)).map(|k| i + k);
                prop_assert_eq!(next_stop(&stops.all, i), want);
                let want_field = data[i..]
                    .iter()
                    .position(|&b| b == sep || b == b'"' || b == b'\n')
                    .map(|k| i + k);
                prop_assert_eq!(next_stop(&stops.fields, i), want_field);
            }
        }
    }

    #[test]
    fn plain_decimals_of_every_shape() {
        for (text, want) in [
            ("0", Some((0, 0))),
            ("12.5", Some((125, 1))),
            ("5.", Some((5, 0))),
            (".5", Some((5, 1))),
            ("12345678", Some((12_345_678, 0))),
            ("1234.5678", Some((12_345_678, 4))),
            ("99999999", Some((99_999_999, 0))),
            (".", None),
            ("1.2.3", None),
            ("1 2", None),
            ("-1", None),
            ("1e3", None),
            ("", None),
        ] {
            let mut data = text.as_bytes().to_vec();
            data.extend_from_slice(b",xxxxxxxx");
            let got = plain_decimal(&data, 0, text.len()).map(|d| (d.mantissa, d.decimals));
            assert_eq!(got, want, "{text:?}");
        }
    }

    /// A memoized path is only reused for the same bytes ending at a comma:
    /// the same letters before a quote or a line end go the general way.
    #[test]
    fn the_path_memo_never_answers_for_other_fields() {
        let data = "journey_id,path,hours,converted,value\n\
                    1,sms > email,2 > 1,1,10\n\
                    2,sms > email\"x\",2 > 1,1,10\n";
        let err = super::read(data.as_bytes(), &ReadOptions::default()).unwrap_err();
        assert!(matches!(err, ReadError::Line { line: 3, .. }), "{err:?}");
        let data = "journey_id,path,hours,converted,value\n\
                    1,sms > email,2 > 1,1,10\n\
                    2, sms > email ,2 > 1,0,0\n\
                    3,sms>email,2>1,1,5\n";
        let set = super::read(data.as_bytes(), &ReadOptions::default()).unwrap();
        assert_eq!(set.len(), 1);
        assert_eq!((set.total_conversions(), set.total_nulls()), (2, 1));
        assert_eq!(set.total_value(), 15.0);
    }
}
