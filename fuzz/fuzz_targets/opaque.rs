//! `normalise_opaque` (device and payment fingerprints): never panics; on
//! success the output is the trimmed input and normalises to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use referrals::fraud::identity::normalise_opaque;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    if let Ok(once) = normalise_opaque(&raw) {
        assert_eq!(once, raw.trim(), "{raw:?}");
        assert_eq!(
            normalise_opaque(&once),
            Ok(once.clone()),
            "not idempotent: {raw:?} gave {once:?}"
        );
    }
});
