//! Crockford's base32 alphabet. (helper: complete)

/// The 32 symbols, in value order.
pub const SYMBOLS: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// The value (0..32) of a canonical upper-case symbol, or `None`.
pub fn value(symbol: u8) -> Option<u8> {
    SYMBOLS.iter().position(|&s| s == symbol).map(|p| p as u8)
}
