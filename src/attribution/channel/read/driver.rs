//! The driver: the input cut into blocks of whole lines, parsed on worker
//! threads (or the calling thread), and the workers' results folded into
//! one [`JourneySet`] in block order.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::sync::mpsc;
use std::thread;

use super::parser::{ParseConfig, Parser, Partial};
use super::{BOM, Format, ReadOptions, check_header, detect_format, expected_lines, trim_line_end};
use crate::attribution::channel::error::snippet;
use crate::attribution::channel::{
    Credit, ExactSum, JourneyError, JourneySet, JourneySetBuilder, LineErrorKind, PathStats,
    ReadError,
};

/// [`read`](fn@super::read), told the input's size in bytes if known: aggregated lines
/// are distinct paths, so the tables are sized for the whole file up front
/// (estimated from the first block's line length) and never grow. Sizes
/// change no result.
pub(super) fn read_sized<R: Read>(
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
pub(super) fn add_worker_paths(
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
            .path_totals
            .iter()
            .map(|totals| PathStats {
                conversions: totals.conversions,
                nulls: totals.nulls,
                value: if totals.conversions > 0 {
                    total.merge(&totals.value);
                    totals.value.to_f64()
                } else {
                    0.0
                },
            })
            .collect();
        return builder.adopt_paths(
            base.channel_names,
            base.path_channels,
            base.path_start,
            stats,
            &total,
        );
    }
    // Here the builder holds paths already, or some worker path was not
    // packable in its worker's ids (so the same path can come twice, and
    // be packable in the builder's ids): every path goes through the
    // builder's index.
    let channels: Vec<u32> = base
        .channel_names
        .names
        .iter()
        .map(|n| builder.intern(n))
        .collect();
    // Only the paths and their totals are needed from here: free the
    // worker's lookups (its names, tokens and path tables) before the
    // builder's index grows, so the two are not held at once.
    base.release_lookups();
    builder.reserve_paths(base.path_totals.len());
    let mut ids = Vec::new();
    for (i, totals) in base.path_totals.iter().enumerate() {
        base.mapped_path(i, &channels, &mut ids);
        let slot = builder.slot(&ids);
        builder.add_exact_to_slot(slot, totals.conversions, totals.nulls, &totals.value)?;
    }
    Ok(())
}

/// A buffer of whole lines. `data[..len]` is valid; `data` stays
/// initialised across reuse so refilling never zeroes memory.
#[derive(Default)]
pub(super) struct Block {
    data: Vec<u8>,
    len: usize,
    /// Where parsing starts (after the header in the first block).
    start: usize,
    index: usize,
}

/// Cuts a reader into blocks of whole lines at points that depend only on
/// the bytes.
pub(super) struct Source<R> {
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
pub(super) fn run_parallel<R: Read>(
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
pub(super) struct Merger {
    builder: JourneySetBuilder,
    /// The line number of the next block's first line.
    next_line: u64,
    /// Per worker: worker channel id → builder channel id.
    worker_channels: Vec<Vec<u32>>,
    /// The path of an inexact value, in builder channel ids (reused).
    inexact_path: Vec<u32>,
}

impl Merger {
    fn new(builder: JourneySetBuilder, workers: usize) -> Self {
        Merger {
            builder,
            next_line: 2,
            worker_channels: vec![Vec::new(); workers],
            inexact_path: Vec::new(),
        }
    }

    /// Merges the next block, parsed by `worker`.
    fn merge(&mut self, worker: usize, partial: &Partial) -> Result<(), ReadError> {
        let b = &mut self.builder;
        let channels = &mut self.worker_channels[worker];
        for name in &partial.new_names {
            channels.push(b.intern(name));
        }
        // Before the block's error: they come from earlier lines.
        let mut at = 0;
        for &(len, line, value) in &partial.inexact {
            let len = len as usize;
            self.inexact_path.clear();
            self.inexact_path.extend(
                partial.inexact_ids[at..at + len]
                    .iter()
                    .map(|&c| channels[c as usize]),
            );
            at += len;
            let slot = b.slot(&self.inexact_path);
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
