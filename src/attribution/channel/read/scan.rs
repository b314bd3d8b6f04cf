//! Where a block's fields and tokens end: its stop bytes marked once
//! ([`Stops`]), then found by bit scans.

#[cfg(target_arch = "x86_64")]
use crate::attribution::channel::unsafe_ops;

/// Where a fast-path scan must look closer in a block: bit `j` of
/// `all[c]` is set if `data[64 c + j]` is `>`, the field separator, a quote
/// or a line end; `fields` the same without `>`. Marked in one pass over
/// the block, 16 bytes at a time where SSE2 is available, so finding a
/// field or token end later is a bit scan instead of a branch per byte.
#[derive(Debug, Default)]
pub(super) struct Stops {
    pub(super) all: Vec<u64>,
    pub(super) fields: Vec<u64>,
}

impl Stops {
    pub(super) fn mark(&mut self, data: &[u8], sep: u8) {
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
pub(super) fn stops_bytewise(chunk: &[u8], sep: u8) -> (u64, u64) {
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
pub(super) fn is_stop(b: u8, sep: u8) -> bool {
    b == b'>' || b == sep || b == b'"' || b == b'\n'
}

/// A chunk's bits of at most 64 bytes (see [`Stops`]): SSE2 on a whole
/// chunk.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(super) fn stops64(chunk: &[u8], sep: u8) -> (u64, u64) {
    match <&[u8; 64]>::try_from(chunk) {
        Ok(chunk) => unsafe_ops::stops64(chunk, sep),
        Err(_) => stops_bytewise(chunk, sep),
    }
}

/// A chunk's bits of at most 64 bytes (see [`Stops`]).
#[cfg(not(target_arch = "x86_64"))]
#[inline]
pub(super) fn stops64(chunk: &[u8], sep: u8) -> (u64, u64) {
    stops_bytewise(chunk, sep)
}

/// The first stop at or after `i` (see [`Stops`]), `None` past the
/// last one.
#[inline]
pub(super) fn next_stop(stops: &[u64], i: usize) -> Option<usize> {
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
pub(super) fn trim_token(data: &[u8], mut start: usize, mut end: usize) -> (usize, usize) {
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
pub(super) fn window(bits: &[u64], at: usize) -> u64 {
    let c = at >> 6;
    let off = (at & 63) as u32;
    let lo = bits.get(c).copied().unwrap_or(0) >> off;
    let hi = bits.get(c + 1).copied().unwrap_or(0);
    // `(hi << 1) << (63 - off)`: no shift by 64 when `off` is 0.
    lo | (hi << 1) << (63 - off)
}

/// Where the next line starts if a line ends at `data[i]` (`\n`, `\r\n`,
/// a final `\r`, or the end of the data).
#[inline]
pub(super) fn line_end(data: &[u8], i: usize) -> Option<usize> {
    match data.get(i) {
        None => Some(i),
        Some(b'\n') => Some(i + 1),
        Some(b'\r') if matches!(data.get(i + 1), None | Some(b'\n')) => {
            Some((i + 2).min(data.len()))
        }
        Some(_) => None,
    }
}
