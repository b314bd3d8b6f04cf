//! `parse_ip`, `normalise_ip` and `ip_prefix`: never panic; the canonical
//! text normalises to itself, and its network is the input's network.
#![no_main]

use libfuzzer_sys::fuzz_target;
use referrals::fraud::identity::{ip_prefix, normalise_ip, normalise_ip_prefix, parse_ip};

fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let parsed = parse_ip(&raw);
    let once = normalise_ip(&raw);
    assert_eq!(once, parsed.map(|addr| addr.to_string()), "{raw:?}");
    if let (Ok(addr), Ok(once)) = (parsed, once) {
        assert_eq!(
            normalise_ip(&once),
            Ok(once.clone()),
            "not idempotent: {raw:?} gave {once:?}"
        );
        assert_eq!(parse_ip(&once), Ok(addr), "{raw:?} gave {once:?}");
        let prefix = ip_prefix(addr);
        assert_eq!(
            normalise_ip_prefix(&prefix),
            Ok(prefix.clone()),
            "prefix not idempotent: {raw:?} gave {prefix:?}"
        );
        assert_eq!(normalise_ip_prefix(&once), Ok(prefix), "{raw:?}");
    }
});
