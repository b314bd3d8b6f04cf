//! `normalise_address`: never panics; on success the output is words
//! joined by single spaces and normalises to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use referrals::fraud::identity::normalise_address;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    if let Ok(once) = normalise_address(&raw) {
        assert!(!once.is_empty(), "{raw:?}");
        assert!(!once.contains("  "), "{raw:?} gave {once:?}");
        assert_eq!(once.trim(), once, "{raw:?}");
        assert_eq!(
            normalise_address(&once),
            Ok(once.clone()),
            "not idempotent: {raw:?} gave {once:?}"
        );
    }
});
