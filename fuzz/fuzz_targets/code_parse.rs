//! `CodeFormat::parse` under the default format and a prefixed one: never
//! panics; a parsed code parses to itself from its canonical text; every
//! suggestion for a typo parses to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use referrals::CodeFormat;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let formats = [
        CodeFormat::default(),
        CodeFormat::new(8)
            .and_then(|f| f.with_prefix("bake"))
            .and_then(|f| f.with_group(4))
            .expect("a format"),
    ];
    for format in &formats {
        match format.parse(&text) {
            Ok(code) => {
                assert_eq!(
                    format.parse(code.as_str()),
                    Ok(code),
                    "{text:?} gave {code:?}"
                );
            }
            Err(error) => {
                let _ = error.to_string();
                for suggestion in error.suggestions() {
                    assert_eq!(
                        format.parse(suggestion.as_str()),
                        Ok(suggestion),
                        "{text:?}: suggestion {suggestion:?}"
                    );
                }
            }
        }
    }
});
