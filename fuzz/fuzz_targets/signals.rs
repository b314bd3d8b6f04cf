//! `Keyring::signals` over an `IdentityInput` from arbitrary bytes: the
//! input read as text (lossily), its lines in order the e-mail, phone,
//! device, IP, payment and address; an empty line (or a missing one) is an
//! absent field.
//!
//! Never panics, under options without and with a default region (966).
//! Every present field gives a hash or an error, not both; the signals of
//! the normalised texts are the signals of the raw input (normalising is
//! idempotent through the whole path); signals for matching under a ring of
//! two keys contain the current key's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use referrals::fraud::identity::{
    IdentityInput, IdentityKey, IdentityKind, KeyId, Keyring, NormaliseOptions, normalise,
};

fn field(line: Option<&str>) -> Option<String> {
    line.filter(|line| !line.is_empty()).map(str::to_owned)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let input = IdentityInput {
        email: field(lines.next()),
        phone: field(lines.next()),
        device: field(lines.next()),
        ip: field(lines.next()),
        payment: field(lines.next()),
        address: field(lines.next()),
    };
    let ring = Keyring::new(IdentityKey::new(KeyId::new(2), &[2u8; 32]).expect("a key"))
        .with_previous(IdentityKey::new(KeyId::new(1), &[1u8; 32]).expect("a key"))
        .expect("distinct ids");

    for options in [
        NormaliseOptions::default(),
        NormaliseOptions::default()
            .with_default_region(966)
            .expect("a calling code"),
    ] {
        let signals = ring.signals(&input, &options);
        let kinds = signals.kinds();
        for (kind, raw) in input.fields() {
            let hashed = kinds.contains(&kind);
            let refused = signals.errors().iter().any(|e| e.kind == kind);
            assert!(
                hashed != refused,
                "{kind} {raw:?}: hashed {hashed}, refused {refused}"
            );
        }
        assert_eq!(
            kinds.contains(&IdentityKind::Ip),
            kinds.contains(&IdentityKind::IpPrefix)
        );
        assert_eq!(signals.shared_with(&signals), kinds);

        // The same person typing the canonical texts: the same signals.
        let canonical = |kind: IdentityKind, raw: &Option<String>| {
            raw.as_deref()
                .and_then(|raw| normalise(kind, raw, &options).ok())
        };
        let normalised = IdentityInput {
            email: canonical(IdentityKind::Email, &input.email),
            phone: canonical(IdentityKind::Phone, &input.phone),
            device: canonical(IdentityKind::Device, &input.device),
            ip: canonical(IdentityKind::Ip, &input.ip),
            payment: canonical(IdentityKind::Payment, &input.payment),
            address: canonical(IdentityKind::Address, &input.address),
        };
        let again = ring.signals(&normalised, &options);
        assert!(again.errors().is_empty(), "{:?}", again.errors());
        assert_eq!(
            again.hashes().collect::<Vec<_>>(),
            signals.hashes().collect::<Vec<_>>(),
            "{input:?} and {normalised:?}"
        );
        assert_eq!(again.disposable_email(), signals.disposable_email());

        let matching = ring.signals_for_matching(&input, &options);
        assert_eq!(matching.kinds(), kinds);
        assert_eq!(matching.errors(), signals.errors());
        assert_eq!(matching.shared_with(&signals), kinds);
        assert!(signals.hashes().all(|h| matching.hashes().any(|m| m == h)));
    }
});
