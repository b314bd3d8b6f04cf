//! `FraudSettings` from JSON: never panics; settings that load and validate
//! survive a round trip through JSON unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use referrals::fraud::FraudSettings;

fuzz_target!(|data: &[u8]| {
    if let Ok(settings) = serde_json::from_slice::<FraudSettings>(data) {
        if settings.validate().is_ok() {
            let json = serde_json::to_string(&settings).expect("settings serialise");
            let back: FraudSettings = serde_json::from_str(&json)
                .unwrap_or_else(|e| panic!("{json} does not load back: {e}"));
            assert_eq!(back, settings, "{json}");
        }
    }
});
