//! `normalise_phone` without a default region: never panics; on success
//! the output is `+` and 8 to 15 digits and normalises to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use referrals::fraud::identity::normalise_phone;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    if let Ok(once) = normalise_phone(&raw, None) {
        let digits = once.strip_prefix('+').expect("E.164 starts with '+'");
        assert!(
            (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()),
            "{once:?} is not E.164"
        );
        assert_eq!(
            normalise_phone(&once, None),
            Ok(once.clone()),
            "not idempotent: {raw:?} gave {once:?}"
        );
    }
});
