//! `normalise_ip_prefix` on addresses and on network texts: never panics;
//! on success the output normalises to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use referrals::fraud::identity::normalise_ip_prefix;

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    if let Ok(once) = normalise_ip_prefix(&raw) {
        assert!(
            once.ends_with("/24") || once.ends_with("/64"),
            "{raw:?} gave {once:?}"
        );
        assert_eq!(
            normalise_ip_prefix(&once),
            Ok(once.clone()),
            "not idempotent: {raw:?} gave {once:?}"
        );
    }
});
