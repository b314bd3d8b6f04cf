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
    ExactSum, JourneyError, JourneySet, JourneySetBuilder, LineErrorKind, PathStats, ReadError,
};

/// [`read`](fn@super::read), told the input's size in bytes if known: aggregated lines
/// are distinct paths, so the worker's arenas are sized for the whole file
/// up front (estimated from the first block's line length), and its
/// packed-path table for the first block's share of packable lines once
/// that block is parsed (at most twice the file; it grows past that if the
/// paths come). Sizes change no result.
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
    let requested = match format {
        Format::Paths => 1,
        Format::Journeys => options.threads,
    };
    let parse = ParseConfig {
        format,
        half_life: options.half_life_hours,
        max_line: options.max_line_bytes,
        // Aggregated files only, read by one worker.
        expected_paths: expected,
        // Only packable paths land in the packed table (a file of a new
        // channel per line has 255): it is sized for the first block's
        // share of them, and up front it takes at most twice the file,
        // which bounds what an unused table costs (its huge pages make
        // even a few keys touch all of it); it grows if the paths come.
        packed_table_bytes: size.map_or(usize::MAX, |s| {
            usize::try_from(s).unwrap_or(usize::MAX).saturating_mul(2)
        }),
        announce_names: true,
    };
    // The first block is parsed here, before any worker starts, to see
    // what the data is like.
    let mut parser = Parser::new(parse);
    let mut block = first;
    let partial = parser.parse(&block.data[block.start..block.len]);
    if expected > 0 {
        parser.expect_packed_paths(partial.lines, expected);
    }
    // A file that names a new channel every few lines gains nothing from
    // more workers (the fold after the last block redoes each line's
    // work) and would hold every name once in its worker and once in the
    // builder: one worker reads it. The result is the same either way.
    let channels = parser.channel_count() as u64;
    let threads = if channels > 255 && channels * 4 > partial.lines {
        1
    } else {
        requested
    };
    // A lone worker's channel ids become the (fresh) builder's: nothing
    // is interned twice.
    let shared_ids = threads == 1;
    parser.announce_names(!shared_ids);
    let mut merger = Merger::new(builder, threads, shared_ids);
    merger.merge(0, &partial)?;
    let parsers = if threads == 1 {
        while source.fill(&mut block)? {
            let partial = parser.parse(&block.data[block.start..block.len]);
            merger.merge(0, &partial)?;
        }
        vec![parser]
    } else {
        run_parallel(&mut source, block, parser, parse, threads, &mut merger)?
    };
    let mut builder = merger.builder;
    let worker_channels = (!shared_ids).then_some(merger.worker_channels);
    add_worker_paths(&mut builder, parsers, worker_channels).map_err(ReadError::Totals)?;
    builder.finish().map_err(ReadError::Totals)
}

/// Adds the workers' path totals to the builder, once, after the last
/// block: every other worker's paths are folded into the first worker's
/// table, which then goes to the builder without a second lookup per
/// path. Totals are integers and exact decimal sums, so the order of this
/// fold changes no result.
///
/// No name is looked up here. `worker_channels` (several workers) is the
/// merger's translation of each worker's channel ids to the builder's:
/// the fold maps channels through it, and the paths end in builder ids.
/// Without it (one worker, whose ids the merger used as the builder's),
/// the builder takes the worker's dictionary as it is.
pub(super) fn add_worker_paths(
    builder: &mut JourneySetBuilder,
    mut parsers: Vec<Parser>,
    worker_channels: Option<Vec<Vec<u32>>>,
) -> Result<(), JourneyError> {
    for parser in &mut parsers {
        parser.settle_counts()?;
    }
    let mut parsers = parsers.into_iter();
    let Some(mut base) = parsers.next() else {
        return Ok(());
    };
    match worker_channels {
        None => builder.adopt_channels(std::mem::take(&mut base.channel_names)),
        Some(worker_channels) => {
            // The first worker's ids, extended by the others' channels it
            // never met, in builder ids; and the way back.
            let mut to_builder: Vec<u32> = worker_channels.first().cloned().unwrap_or_default();
            let mut from_builder = vec![u32::MAX; builder.channel_count()];
            for (id, &b) in to_builder.iter().enumerate() {
                from_builder[b as usize] = id as u32;
            }
            // Names are not needed: ids are translated.
            base.channel_names = Default::default();
            for (other, translation) in parsers.zip(worker_channels.iter().skip(1)) {
                let mut other = other;
                // Only its paths and totals are needed: free the rest first.
                other.release_lookups();
                let channels: Vec<u32> = translation
                    .iter()
                    .map(|&b| {
                        let mine = &mut from_builder[b as usize];
                        if *mine == u32::MAX {
                            *mine = to_builder.len() as u32;
                            to_builder.push(b);
                        }
                        *mine
                    })
                    .collect();
                base.absorb(&other, &channels);
            }
            for id in &mut base.path_channels {
                *id = to_builder[*id as usize];
            }
        }
    }
    // Only the paths and their totals are needed from here: free the
    // worker's lookups (its tokens and path tables) before the builder
    // takes or indexes the paths, so the two are not held at once.
    base.release_lookups();
    if builder.has_no_paths() {
        // Distinct paths (by ids: see `Parser::path_of`) into a fresh
        // builder: it takes the paths as they are, each path's exact sum
        // rounded once.
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
        base.path_totals = Vec::new();
        return builder.adopt_paths(base.path_channels, base.path_start, stats, &total);
    }
    // The builder holds paths already (values that were not plain
    // decimals went to it block by block): every path goes through its
    // index.
    builder.reserve_paths(base.path_totals.len());
    for (i, totals) in base.path_totals.iter().enumerate() {
        let path = &base.path_channels[base.path_start[i]..base.path_start[i + 1]];
        let slot = builder.slot(path);
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
/// while this thread reads and merges in block order. Block 0 is parsed
/// and merged already, by `first_parser`, which becomes worker 0; `spare`
/// is its buffer.
pub(super) fn run_parallel<R: Read>(
    source: &mut Source<R>,
    spare: Block,
    first_parser: Parser,
    parse: ParseConfig,
    threads: usize,
    merger: &mut Merger,
) -> Result<Vec<Parser>, ReadError> {
    thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel::<(Partial, Block)>();
        let mut work = Vec::with_capacity(threads);
        let mut workers = Vec::with_capacity(threads);
        let mut first_parser = Some(first_parser);
        for _ in 0..threads {
            let parser = first_parser.take();
            // One queued block per worker bounds memory to about
            // 3 × threads blocks.
            let (tx, rx) = mpsc::sync_channel::<Block>(1);
            let done_tx = done_tx.clone();
            workers.push(scope.spawn(move || {
                let mut parser = parser.unwrap_or_else(|| Parser::new(parse));
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
        let mut spare: Vec<Block> = vec![spare];
        let mut next_merge = 1usize;
        let mut merge_ready = |pending: &mut BTreeMap<usize, Partial>,
                               next_merge: &mut usize|
         -> Result<(), ReadError> {
            while let Some(partial) = pending.remove(next_merge) {
                merger.merge(*next_merge % threads, &partial)?;
                *next_merge += 1;
            }
            Ok(())
        };

        let mut block = None;
        let mut first = spare.pop().unwrap_or_default();
        if source.fill(&mut first)? {
            block = Some(first);
        }
        let mut index = 1usize;
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
    /// Whether the one worker's channel ids are the builder's (see
    /// [`add_worker_paths`]): then no name is interned here.
    shared_ids: bool,
}

impl Merger {
    fn new(builder: JourneySetBuilder, workers: usize, shared_ids: bool) -> Self {
        Merger {
            builder,
            next_line: 2,
            worker_channels: vec![Vec::new(); workers],
            inexact_path: Vec::new(),
            shared_ids,
        }
    }

    /// Merges the next block, parsed by `worker`.
    fn merge(&mut self, worker: usize, partial: &Partial) -> Result<(), ReadError> {
        let b = &mut self.builder;
        let channels = &mut self.worker_channels[worker];
        let shared = self.shared_ids;
        if !shared {
            for name in partial.new_names.iter() {
                channels.push(b.intern(name));
            }
        }
        let channels: &[u32] = channels;
        let builder_id = |c: u32| if shared { c } else { channels[c as usize] };
        // Before the block's error: they come from earlier lines.
        let mut at = 0;
        for &(len, line, value) in &partial.inexact {
            let len = len as usize;
            self.inexact_path.clear();
            self.inexact_path.extend(
                partial.inexact_ids[at..at + len]
                    .iter()
                    .map(|&c| builder_id(c)),
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
        // One addition per channel and block, in block order: the sums
        // do not depend on the number of threads.
        for &(c, credit) in &partial.time_decay {
            let t = b.time_decay_mut(builder_id(c));
            t.conversions += credit.conversions;
            t.value += credit.value;
        }
        self.next_line += partial.lines;
        Ok(())
    }
}
