//! `normalise_email`: never panics; on success the output is at most 254
//! bytes and normalises to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use referrals::fraud::identity::normalise_email;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    if let Ok(once) = normalise_email(&raw) {
        assert!(once.len() <= 254, "{once:?} is {} bytes", once.len());
        assert_eq!(
            normalise_email(&once),
            Ok(once.clone()),
            "not idempotent: {raw:?} gave {once:?}"
        );
    }
});
