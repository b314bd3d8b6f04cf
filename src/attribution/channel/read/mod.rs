//! Streaming readers for the aggregated-path and per-journey formats.
//!
//! The input is cut into blocks of whole lines (about
//! [`ReadOptions::with_block_bytes`] each, at the last newline), parsed on
//! worker threads into per-block aggregates keyed by the path's raw bytes
//! (so a path is split into channel names once per block, not once per
//! line), and merged into one [`JourneySetBuilder`](super::JourneySetBuilder) in block order. The
//! cut points depend only on the bytes, which makes the result independent
//! of the number of threads; memory is a few blocks plus the distinct
//! paths and channels.
//!
//! Aggregated files (one line per distinct path) take a leaner route:
//! one worker on the calling thread, whose path table is sized from the
//! file size ([`read_file`]; up to 2^22 paths, growing past that) once
//! the first block has shown what share of its lines pack (at most 16
//! touches over the first 255 channels), so it rarely grows, and whose
//! paths (each keyed by its ids however it is spelled) go to the builder
//! without a second lookup. The output is the same bytes as through
//! several workers.
//!
//! Memory stays within about ten times the file, whatever its shape: a
//! file that names a new channel on every line (4M lines, 59 MB) peaks
//! at 8.8 times its size in `channel_report`, models and output included
//! (it was 41 times); reading alone, 7 to 9 times. Names are held once, in one text buffer; a worker's
//! ids are the builder's when it is alone; a file that names a new
//! channel every few lines is read by one worker (several would hold its
//! names once each and gain nothing); and the tables are sized for what
//! lands in them.

mod driver;
mod number;
mod parser;
mod scan;
mod table;
#[cfg(test)]
mod tests;

use std::fs::File;
use std::io::Read;
use std::path::Path;
use std::thread;

use serde::{Deserialize, Serialize};

use super::error::snippet;
use super::{DEFAULT_HALF_LIFE_HOURS, JourneySet, ReadError, check_half_life};
use driver::read_sized;
use number::parse_count;
pub(crate) use number::parse_f64;
use parser::{parse_converted, split_fields};
pub(super) use table::PackedSlot;

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
    /// merge is faster. So is a journey file whose first block names a
    /// new channel every few lines (more than 255 channels, over a
    /// quarter of its lines).
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
///   [`LineErrorKind`](super::LineErrorKind) for the first bad line (wrong field count, bad
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
