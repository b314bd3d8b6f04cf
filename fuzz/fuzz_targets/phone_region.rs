//! `normalise_phone` with a default region: 966 (Saudi Arabia, trunk
//! prefix 0), or the region picked by the first byte among the ones with
//! rules of their own (1, 7, 39, 44). Never panics; on success the output
//! is E.164 and normalises to itself with the region and without one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use referrals::fraud::identity::{CallingCode, normalise_phone};

const REGIONS: [u16; 5] = [966, 1, 7, 39, 44];

fuzz_target!(|data: &[u8]| {
    let (region, rest) = match data.split_first() {
        // The first byte picks the region only when it is not text, so
        // that the seeds and most mutations run under 966.
        Some((&b, rest)) if b >= 0xF8 => (REGIONS[usize::from(b - 0xF8) % REGIONS.len()], rest),
        _ => (966, data),
    };
    let region = Some(CallingCode::new(region).expect("a calling code"));
    let raw = String::from_utf8_lossy(rest);
    if let Ok(once) = normalise_phone(&raw, region) {
        let digits = once.strip_prefix('+').expect("E.164 starts with '+'");
        assert!(
            (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()),
            "{once:?} is not E.164"
        );
        assert_eq!(
            normalise_phone(&once, region),
            Ok(once.clone()),
            "not idempotent with the region: {raw:?} gave {once:?}"
        );
        assert_eq!(
            normalise_phone(&once, None),
            Ok(once.clone()),
            "not idempotent without a region: {raw:?} gave {once:?}"
        );
    }
});
