//! What can go wrong: with one journey's content ([`JourneyError`]), with a
//! line of an input file ([`ReadError`], [`LineErrorKind`]), and with a
//! model's parameters or data ([`ModelError`]).

/// The longest excerpt of bad text an error keeps, in bytes.
const SNIPPET_BYTES: usize = 40;

/// What is wrong with one journey (or one aggregated path).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum JourneyError {
    /// The path has no touches.
    #[error("empty path: a journey needs at least one touch")]
    EmptyPath,
    /// A channel name is empty (or only spaces), as in `a > > b`.
    #[error("touch {touch} has an empty channel name")]
    EmptyChannel {
        /// The touch's position in the path, from 1.
        touch: usize,
    },
    /// A channel name given through the API contains `>`, the path
    /// separator of the file formats.
    #[error("touch {touch}: channel name {name:?} contains the path separator '>'")]
    SeparatorInChannel {
        /// The touch's position in the path, from 1.
        touch: usize,
        /// The name as given.
        name: String,
    },
    /// A channel name holds a control character (a NUL, say, or a tab
    /// inside it): such names break tables, logs and downstream tools.
    #[error("touch {touch}: channel name holds control character U+{code_point:04X}")]
    ControlInChannel {
        /// The touch's position in the path, from 1.
        touch: usize,
        /// The control character.
        code_point: u32,
    },
    /// A channel name holds a bidi formatting character (an override such
    /// as U+202E, an embedding, an isolate or a mark): it reorders or
    /// hides text in tables and logs, and makes two names look alike.
    /// Identifiers refuse them too.
    #[error("touch {touch}: channel name holds bidi formatting character U+{code_point:04X}")]
    BidiInChannel {
        /// The touch's position in the path, from 1.
        touch: usize,
        /// The bidi character.
        code_point: u32,
    },
    /// The touch times do not match the path, one time per touch.
    #[error("{touches} touches in the path but {hours} touch times")]
    HoursMismatch {
        /// Touches in the path.
        touches: usize,
        /// Touch times given.
        hours: usize,
    },
    /// A touch time is negative, NaN or infinite.
    #[error("touch {touch}: time {hours} hours before the end is not a finite number >= 0")]
    InvalidHours {
        /// The touch's position in the path, from 1.
        touch: usize,
        /// The time as given.
        hours: f64,
    },
    /// The conversion value is NaN or infinite.
    #[error("conversion value {value} is not finite")]
    NonFiniteValue {
        /// The value as given.
        value: f64,
    },
    /// Adding this journey's counts would overflow `u64`.
    #[error("conversion or null count overflows u64")]
    CountOverflow,
    /// The summed conversion value is no longer finite.
    #[error("summed conversion value overflows f64")]
    ValueOverflow,
}

/// What is wrong with one line of an input file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LineErrorKind {
    /// The line does not have the format's number of fields.
    #[error("expected {expected} fields separated by {separator:?}, found {found}")]
    FieldCount {
        /// Fields the format has.
        expected: usize,
        /// Fields on the line.
        found: usize,
        /// The field separator (`;` or `,`).
        separator: char,
    },
    /// A field that should be a number is not one.
    #[error("{field}: {text:?} is not a number")]
    BadNumber {
        /// The column's name.
        field: &'static str,
        /// The text (first 40 bytes).
        text: String,
    },
    /// A count that should be a whole number is not one.
    #[error("{field}: {text:?} is not a whole number")]
    NotWhole {
        /// The column's name.
        field: &'static str,
        /// The text (first 40 bytes).
        text: String,
    },
    /// A count is negative.
    #[error("{field}: {text:?} is negative; counts are >= 0")]
    NegativeCount {
        /// The column's name.
        field: &'static str,
        /// The text (first 40 bytes).
        text: String,
    },
    /// A number is NaN or infinite.
    #[error("{field}: {text:?} is not finite")]
    NotFinite {
        /// The column's name.
        field: &'static str,
        /// The text (first 40 bytes).
        text: String,
    },
    /// The `converted` field is not `0`, `1`, `true` or `false`.
    #[error("converted: {text:?} is not 0, 1, true or false")]
    BadConverted {
        /// The text (first 40 bytes).
        text: String,
    },
    /// A touch time in `hours` is not a number.
    #[error("hours: touch {touch}: {text:?} is not a number")]
    BadHours {
        /// The touch's position, from 1.
        touch: usize,
        /// The text (first 40 bytes).
        text: String,
    },
    /// A field is not valid UTF-8 (only names must be text; numbers are
    /// checked byte by byte).
    #[error("{field}: not valid UTF-8")]
    InvalidUtf8 {
        /// The column's name.
        field: &'static str,
    },
    /// A quoted field has no closing quote on its line (quoted fields
    /// cannot span lines).
    #[error("field {field}: no closing double quote on this line")]
    UnterminatedQuote {
        /// The field's position, from 1.
        field: usize,
    },
    /// A double quote inside a field that does not start with one; such a
    /// field must be quoted, with the quote doubled (RFC 4180).
    #[error(
        "field {field}: double quote inside an unquoted field (quote the field and double the quote)"
    )]
    StrayQuote {
        /// The field's position, from 1.
        field: usize,
    },
    /// Text after the closing quote of a quoted field.
    #[error("field {field}: text after the closing double quote")]
    TextAfterQuote {
        /// The field's position, from 1.
        field: usize,
    },
    /// The line is longer than the reader accepts.
    #[error("line longer than {max_bytes} bytes")]
    TooLong {
        /// The limit.
        max_bytes: usize,
    },
    /// The journey on the line is invalid.
    #[error(transparent)]
    Journey(#[from] JourneyError),
}

/// Why a file or stream could not be read into a
/// [`JourneySet`](super::JourneySet).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The underlying reader failed.
    #[error("cannot read the input: {0}")]
    Io(#[from] std::io::Error),
    /// The input has no header line.
    #[error("line 1: empty input; a header line is required")]
    Empty,
    /// The first line looks like data: the formats require a header.
    #[error("line 1: {line:?} looks like data, not a header; a header line is required")]
    MissingHeader {
        /// The first line (first 40 bytes).
        line: String,
    },
    /// The header matches neither format.
    #[error(
        "line 1: cannot tell the format from header {header:?}: expected 4 fields separated by ';' \
         (path;total_conversions;total_null;total_conversion_value) or 5 separated by ',' \
         (journey_id,path,hours,converted,value)"
    )]
    UnknownFormat {
        /// The header (first 40 bytes).
        header: String,
    },
    /// A header column carries the name of another of the format's
    /// columns: columns are read by position, so the file's columns are in
    /// another order than the format's, and reading it would mix them up
    /// (conversions read as nulls, say).
    #[error(
        "line 1: header column {column} is {name:?}, which this format reads from column \
         {expected_column}: columns are read by position ({columns})"
    )]
    MisplacedColumn {
        /// The column (from 1).
        column: usize,
        /// Its name in the header.
        name: String,
        /// Where the format has that column (from 1).
        expected_column: usize,
        /// The format's columns, in order.
        columns: &'static str,
    },
    /// A line is invalid.
    #[error("line {line}: {kind}")]
    Line {
        /// The line's number, from 1 (the header is line 1).
        line: u64,
        /// What is wrong with it.
        kind: LineErrorKind,
    },
    /// A totalled count or value overflowed while merging blocks of lines.
    #[error("totals overflow: {0}")]
    Totals(JourneyError),
    /// A reader option is out of range.
    #[error("invalid reader option: {0}")]
    InvalidOption(&'static str),
}

impl ReadError {
    /// The 1-based line number the error is about, if it is about a line.
    ///
    /// # Example: the line of a bad count
    ///
    /// ```
    /// use referrals::attribution::channel::{read, ReadOptions};
    ///
    /// let data = "path;total_conversions;total_null;total_conversion_value\n\
    ///             whatsapp > email;3;1;30.5\n\
    ///             email;-2;0;0\n";
    /// let err = read(data.as_bytes(), &ReadOptions::default()).unwrap_err();
    /// assert_eq!(err.line(), Some(3));
    /// ```
    pub fn line(&self) -> Option<u64> {
        match self {
            ReadError::Line { line, .. } => Some(*line),
            ReadError::Empty
            | ReadError::MissingHeader { .. }
            | ReadError::MisplacedColumn { .. }
            | ReadError::UnknownFormat { .. } => Some(1),
            _ => None,
        }
    }
}

/// Why a model could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// Time decay needs a time for every touch, and some journeys (or the
    /// whole input format) had none.
    #[error("time decay needs touch times, and the data has journeys without them")]
    NoTouchTimes,
    /// Shapley values are exact over all coalitions, `2^n` of them: refused
    /// above the configured number of channels.
    #[error("{channels} channels is more than the Shapley limit of {limit} (cost grows as n*2^n)")]
    TooManyChannels {
        /// Channels in the data.
        channels: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The Markov chain has more transient states than the configured limit
    /// (the exact solve costs `O(states^3)`, and `states^2` floats).
    #[error(
        "the order-{order} Markov chain has more than {limit} states ({states} counted, counting \
         stops past the limit)"
    )]
    TooManyStates {
        /// The chain's order.
        order: usize,
        /// Transient states (windows of channels) counted: counting stops
        /// past the limit, so the chain may have more.
        states: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The Markov run would take more work than its limit, counted before
    /// starting: hashing the windows of long paths at a high order (more
    /// than 64 channel ids per touch of the data and than `max_states²`),
    /// or removal effects whose states overlap so much that channels'
    /// removals are large solves (more than `max_states³` multiply-adds).
    /// Raising
    /// [`MarkovOptions::with_max_states`](super::MarkovOptions::with_max_states)
    /// raises both limits.
    #[error(
        "the order-{order} Markov chain would take about {work} operations, more than the limit \
         of {limit}"
    )]
    TooMuchWork {
        /// The chain's order.
        order: usize,
        /// The work counted (multiply-adds, or channel ids hashed).
        work: u128,
        /// The limit.
        limit: u128,
    },
    /// The model's working memory could not be allocated (Shapley values
    /// over many channels take `16 · 2^channels` bytes): reported, rather
    /// than aborting the process.
    #[error("{model} needs {bytes} bytes of working memory, which could not be allocated")]
    OutOfMemory {
        /// The model (`"Shapley"`).
        model: &'static str,
        /// The bytes it asked for.
        bytes: u64,
    },
    /// A model parameter is out of range.
    #[error("invalid parameter: {0}")]
    InvalidParameter(&'static str),
    /// The linear system of the Markov chain is singular: a state cannot
    /// reach conversion or null. Cannot happen for chains built from
    /// journeys; reported rather than panicking.
    #[error("singular Markov system (a state never reaches conversion or null)")]
    Singular,
}

/// The first [`SNIPPET_BYTES`] of `bytes`, lossily decoded, for error
/// messages.
pub(crate) fn snippet(bytes: &[u8]) -> String {
    let end = bytes.len().min(SNIPPET_BYTES);
    let mut s = String::from_utf8_lossy(&bytes[..end]).into_owned();
    if bytes.len() > SNIPPET_BYTES {
        s.push('…');
    }
    s
}
