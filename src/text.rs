//! Small text helpers shared by [`crate::link`] and [`crate::share`]: the
//! Unicode bidi formatting characters, and excerpts of hostile input for
//! error messages.

/// LEFT-TO-RIGHT ISOLATE.
pub(crate) const LRI: char = '\u{2066}';
/// FIRST STRONG ISOLATE.
pub(crate) const FSI: char = '\u{2068}';
/// POP DIRECTIONAL ISOLATE.
pub(crate) const PDI: char = '\u{2069}';

/// Explicit directional embeddings, overrides and isolates (and their
/// terminators): the characters that open or close a directional scope.
pub(crate) fn is_explicit_bidi(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// All bidi formatting characters: the explicit ones (LRE … RLO, LRI …
/// PDI) and the marks (ALM, LRM, RLM).
pub(crate) fn is_bidi_format(c: char) -> bool {
    is_explicit_bidi(c) || matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}')
}

/// At most the first `max` characters of `text`, marked with `…` when cut,
/// so that errors about hostile input stay loggable.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_sets() {
        for c in [
            '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202E}', LRI, FSI, PDI,
        ] {
            assert!(is_bidi_format(c), "{c:?}");
        }
        for c in ['\u{061C}', '\u{200E}', '\u{200F}'] {
            assert!(!is_explicit_bidi(c), "{c:?}");
        }
        for c in [
            'a', ' ', '\u{200B}', '\u{200D}', '\u{2029}', '\u{206A}', '\u{2065}',
        ] {
            assert!(!is_bidi_format(c), "{c:?}");
        }
    }

    #[test]
    fn excerpt_cuts_on_character_boundaries() {
        assert_eq!(excerpt("abc", 3), "abc");
        assert_eq!(excerpt("abcd", 3), "abc…");
        let cut = excerpt(&"ع".repeat(41), 40);
        assert_eq!(cut.chars().count(), 41);
        assert!(cut.ends_with('…'));
    }
}
