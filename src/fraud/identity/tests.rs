use std::net::IpAddr;

use proptest::prelude::*;

use super::*;

fn saudi() -> Option<CallingCode> {
    CallingCode::new(966).ok()
}

fn keyring(id: u32, byte: u8) -> Keyring {
    Keyring::new(key(id, byte))
}

fn key(id: u32, byte: u8) -> IdentityKey {
    IdentityKey::new(KeyId::new(id), &[byte; 32]).unwrap()
}

// ---- e-mail ----

#[test]
fn gmail_dots_tags_case_and_googlemail_fold() {
    for raw in [
        "amira.saleh@gmail.com",
        "AmiraSaleh@Gmail.com",
        "a.m.i.r.a.s.a.l.e.h@gmail.com",
        "amirasaleh+bakery@gmail.com",
        "Amira.Saleh+bakery+2@googlemail.com",
        "  amirasaleh@GOOGLEMAIL.COM  ",
        "\u{200F}amirasaleh@gmail.com\u{200E}",
        "amirasaleh@gmail.com.",
    ] {
        assert_eq!(
            normalise_email(raw).unwrap(),
            "amirasaleh@gmail.com",
            "{raw}"
        );
    }
}

#[test]
fn other_domains_keep_dots_drop_tags() {
    assert_eq!(
        normalise_email("A.Li+x@Outlook.com").unwrap(),
        "a.li@outlook.com"
    );
    assert_eq!(
        normalise_email("ali@outlook.com").unwrap(),
        "ali@outlook.com"
    );
    assert_ne!(
        normalise_email("a.li@outlook.com").unwrap(),
        normalise_email("ali@outlook.com").unwrap()
    );
}

#[test]
fn idn_domains_are_lower_cased_as_given() {
    assert_eq!(
        normalise_email("Sara@Bücher.Example").unwrap(),
        "sara@bücher.example"
    );
    assert_eq!(
        normalise_email("سارة@مثال.السعودية").unwrap(),
        "سارة@مثال.السعودية"
    );
}

#[test]
fn bad_emails_are_refused_with_what_was_wrong() {
    use EmailError::*;
    let cases = [
        ("", Empty),
        ("  \u{200B} ", Empty),
        ("sara", AtSigns { count: 0 }),
        ("sara@@example.com", AtSigns { count: 2 }),
        ("a@b@example.com", AtSigns { count: 2 }),
        ("@example.com", EmptyLocal),
        ("+tag@example.com", EmptyLocal),
        ("...@gmail.com", EmptyLocal),
        ("sara@", EmptyDomain),
        ("sa ra@example.com", LocalCharacter { ch: ' ' }),
        ("sa<ra@example.com", LocalCharacter { ch: '<' }),
        (".sara@example.com", LocalDots),
        ("sa..ra@example.com", LocalDots),
        ("sara@exa_mple.com", DomainCharacter { ch: '_' }),
        ("sara@[192.0.2.1]", DomainCharacter { ch: '[' }),
        ("sara@example..com", DomainLabel),
        ("sara@-example.com", DomainLabel),
        ("sara@localhost", SingleLabelDomain),
    ];
    for (raw, expected) in cases {
        assert_eq!(normalise_email(raw), Err(expected), "{raw:?}");
    }
    assert!(matches!(
        normalise_email(&format!("{}@example.com", "a".repeat(65))),
        Err(LocalTooLong { len: 65 })
    ));
    assert!(matches!(
        normalise_email(&"a".repeat(5000)),
        Err(TooLong { len: 5000 })
    ));
    // Errors never echo the address.
    let message = normalise_email("secret.person@@example.com")
        .unwrap_err()
        .to_string();
    assert!(!message.contains("secret"), "{message}");
}

#[test]
fn disposable_domains() {
    let mut sorted = BUILTIN_DISPOSABLE_DOMAINS.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted, BUILTIN_DISPOSABLE_DOMAINS, "sorted and unique");
    for domain in BUILTIN_DISPOSABLE_DOMAINS {
        assert_eq!(
            normalise_email(&format!("x@{domain}")).unwrap(),
            format!("x@{domain}")
        );
    }
    assert!((50..=200).contains(&BUILTIN_DISPOSABLE_DOMAINS.len()));

    assert!(is_disposable("mailinator.com"));
    assert!(is_disposable("MAILINATOR.COM."));
    assert!(is_disposable("x.y.mailinator.com"));
    assert!(!is_disposable("notmailinator.com"));
    assert!(!is_disposable("gmail.com"));
    assert!(!is_disposable(""));

    let mut domains = DisposableDomains::default();
    domains.extend(["Burner.Example", ""]);
    assert!(domains.contains("burner.example"));
    assert!(domains.contains("a.burner.example"));
    assert!(domains.contains("yopmail.com"));
    let mut own = DisposableDomains::none();
    assert!(!own.contains("yopmail.com"));
    own.insert("burner.example");
    assert!(own.contains("burner.example"));

    let json = serde_json::to_string(&domains).unwrap();
    assert_eq!(
        serde_json::from_str::<DisposableDomains>(&json).unwrap(),
        domains
    );
}

// ---- phone ----

#[test]
fn phone_notations_fold_to_e164() {
    for raw in [
        "+966 50 123 4567",
        "+966-50-123-4567",
        "+966 (50) 123.4567",
        "00966501234567",
        "00 966 50 123 4567",
        "＋９６６５０１２３４５６７",
        "\u{200E}+966 50 123 4567\u{200E}",
        "+٩٦٦٥٠١٢٣٤٥٦٧",
        "+۹۶۶۵۰۱۲۳۴۵۶۷",
    ] {
        assert_eq!(
            normalise_phone(raw, None).unwrap(),
            "+966501234567",
            "{raw}"
        );
    }
    for raw in [
        "0501234567",
        "٠٥٠١٢٣٤٥٦٧",
        "۰۵۰۱۲۳۴۵۶۷",
        "050 123 4567",
        "501234567",
    ] {
        assert_eq!(
            normalise_phone(raw, saudi()).unwrap(),
            "+966501234567",
            "{raw}"
        );
    }
}

#[test]
fn national_numbers_drop_their_trunk_prefix() {
    let region = |code| CallingCode::new(code).ok();
    assert_eq!(
        normalise_phone("020 7946 0018", region(44)).unwrap(),
        "+442079460018"
    );
    assert_eq!(
        normalise_phone("1 (202) 555-0143", region(1)).unwrap(),
        "+12025550143"
    );
    assert_eq!(
        normalise_phone("(202) 555-0143", region(1)).unwrap(),
        "+12025550143"
    );
    assert_eq!(
        normalise_phone("8 912 345 67 89", region(7)).unwrap(),
        "+79123456789"
    );
    // Italy keeps the 0 of fixed lines.
    assert_eq!(
        normalise_phone("06 1234 5678", region(39)).unwrap(),
        "+390612345678"
    );
    // A number with its country code is international however the region.
    assert_eq!(
        normalise_phone("+44 20 7946 0018", saudi()).unwrap(),
        "+442079460018"
    );
}

#[test]
fn bad_phones_are_refused_with_what_was_wrong() {
    use PhoneError::*;
    let cases = [
        ("", None, Empty),
        (" - ", None, Empty),
        ("0501234567", None, NoRegion),
        (
            "+966 50 ext 1",
            None,
            Character {
                ch: 'e',
                position: 8,
            },
        ),
        ("966+501234567", None, MisplacedPlus { position: 3 }),
        ("++966501234567", None, MisplacedPlus { position: 1 }),
        ("+0966501234567", None, ZeroCountryCode),
        ("000966501234567", None, ZeroCountryCode),
        ("+9665012", None, TooShort { digits: 7 }),
        ("+9665012345678901", None, TooLong { digits: 16 }),
    ];
    for (raw, region, expected) in cases {
        assert_eq!(normalise_phone(raw, region), Err(expected), "{raw:?}");
    }
    assert_eq!(super::CallingCode::new(0), Err(CallingCode { code: 0 }));
    assert_eq!(
        super::CallingCode::new(1000),
        Err(CallingCode { code: 1000 })
    );
    assert!(matches!(
        normalise_phone(&"1".repeat(500), None),
        Err(InputTooLong { len: 500 })
    ));
    assert!(serde_json::from_str::<super::CallingCode>("1000").is_err());
    assert_eq!(
        serde_json::from_str::<super::CallingCode>("966").ok(),
        saudi()
    );
}

// ---- IP ----

#[test]
fn ip_spellings_fold() {
    let v6 = "2001:db8::1";
    for raw in [
        "2001:db8::1",
        "2001:DB8::1",
        "2001:0db8:0000:0000:0000:0000:0000:0001",
        "2001:db8:0:0:0:0:0:1",
        "[2001:db8::1]",
        "[2001:db8::1]:443",
        " 2001:db8::1 ",
    ] {
        assert_eq!(normalise_ip(raw).unwrap(), v6, "{raw}");
    }
    for raw in [
        "203.0.113.7",
        "::ffff:203.0.113.7",
        "::FFFF:cb00:7107",
        "203.0.113.7:8080",
    ] {
        assert_eq!(normalise_ip(raw).unwrap(), "203.0.113.7", "{raw}");
    }
    for raw in [
        "",
        "  ",
        "localhost",
        "203.0.113",
        "010.0.0.1",
        "256.0.0.1",
        "fe80::1%eth0",
    ] {
        assert!(normalise_ip(raw).is_err(), "{raw:?}");
    }
}

#[test]
fn ip_prefixes() {
    let ip = |raw| parse_ip(raw).unwrap();
    assert_eq!(ip_prefix(ip("203.0.113.77")), "203.0.113.0/24");
    assert_eq!(ip_prefix(ip("::ffff:203.0.113.77")), "203.0.113.0/24");
    assert_eq!(ip_prefix(ip("2001:db8:1:2:3:4:5:6")), "2001:db8:1:2::/64");
    assert_eq!(ip_prefix(ip("2001:db8::1")), "2001:db8::/64");
    let mapped: IpAddr = "::ffff:198.51.100.9".parse().unwrap();
    assert_eq!(ip_prefix(mapped), "198.51.100.0/24");

    assert_eq!(
        normalise_ip_prefix("203.0.113.0/24").unwrap(),
        "203.0.113.0/24"
    );
    assert_eq!(
        normalise_ip_prefix("203.0.113.9/24").unwrap(),
        "203.0.113.0/24"
    );
    assert_eq!(
        normalise_ip_prefix("2001:DB8:1:2::/64").unwrap(),
        "2001:db8:1:2::/64"
    );
    for raw in [
        "203.0.113.0/16",
        "203.0.113.0/+24",
        "2001:db8::/48",
        "203.0.113.0/",
        "/24",
    ] {
        assert!(normalise_ip_prefix(raw).is_err(), "{raw:?}");
    }
}

// ---- address ----

#[test]
fn address_spellings_fold() {
    let canonical = normalise_address("12 King Fahd Road, Apartment 4, Building 7").unwrap();
    assert_eq!(canonical, "12 king fahd road apartment 4 building 7");
    for raw in [
        "12 king fahd rd apt 4 bldg 7",
        "12  KING FAHD RD.,  APT. 4 - BLDG. 7",
        "12\tKing\u{00A0}Fahd Rd\nApt #4, Bldg 7",
        "１２ Ｋｉｎｇ Ｆａｈｄ Ｒｄ， Ａｐｔ ４， Ｂｌｄｇ ７",
        "\u{2067}12 King\u{200B} Fahd Rd, Apt 4, Bldg 7\u{2069}",
    ] {
        assert_eq!(normalise_address(raw).unwrap(), canonical, "{raw:?}");
    }
    assert_eq!(
        normalise_address("1 Main St. Ste 5 Fl 2").unwrap(),
        "1 main street suite 5 floor 2"
    );
}

#[test]
fn arabic_addresses_fold() {
    let canonical = normalise_address("شارع الأمير سلطان، مبنى ١٢").unwrap();
    assert_eq!(canonical, "شارع الامير سلطان مبني 12");
    for raw in [
        "ش. الأمير سلطان، مبنى ١٢",
        "ش.الامير سلطان - مبنى 12",
        "شـــارع الأَمِير سلطان، مبنى ۱۲",
        "\u{200F}شارع الإمير سلطان\u{200F} مبنى ١٢",
    ] {
        assert_eq!(normalise_address(raw).unwrap(), canonical, "{raw:?}");
    }
    // The letter ش inside a word is untouched.
    assert_eq!(normalise_address("مشروع").unwrap(), "مشروع");
}

/// Found by `cargo fuzz run address`: lower-casing `İ` gives `i` and
/// U+0307, which then stood before a mark of a lower class (U+06ED), and a
/// dropped mark between two others let the next compose with its letter:
/// both changed again when normalised a second time.
#[test]
fn addresses_normalise_to_a_fixed_point_through_case_and_marks() {
    for raw in [
        "FFl\u{FFFD}1B Bak\u{64f}\u{6ed}\u{64f}\u{FFFD}akİ\u{64f}\u{6ed}",
        "İ\u{6ed}",
        "e\u{654}\u{301}",
        "ŞİŞLİ\u{316}\u{307}",
    ] {
        let once = normalise_address(raw).unwrap();
        assert_eq!(normalise_address(&once), Ok(once.clone()), "{raw:?}");
    }
    assert_eq!(normalise_address("e\u{654}\u{301}").unwrap(), "é");
}

#[test]
fn bad_addresses_are_refused() {
    assert_eq!(normalise_address(""), Err(AddressError::Empty));
    assert_eq!(normalise_address(" ,.-\u{200F} "), Err(AddressError::Empty));
    assert!(matches!(
        normalise_address(&"a ".repeat(2000)),
        Err(AddressError::TooLong { len: 4000 })
    ));
}

#[test]
fn abbreviations_are_sorted() {
    assert!(address_abbreviations_sorted());
}

fn address_abbreviations_sorted() -> bool {
    // The table is private; check it through its effect on every entry.
    [
        ("apt", "apartment"),
        ("av", "avenue"),
        ("ave", "avenue"),
        ("bld", "building"),
        ("bldg", "building"),
        ("blvd", "boulevard"),
        ("fl", "floor"),
        ("rd", "road"),
        ("st", "street"),
        ("ste", "suite"),
        ("str", "street"),
        ("ش", "شارع"),
    ]
    .into_iter()
    .all(|(short, long)| normalise_address(short).as_deref() == Ok(long))
}

// ---- opaque ----

#[test]
fn opaque_ids_keep_case() {
    assert_eq!(normalise_opaque(" fp_AbC123 ").unwrap(), "fp_AbC123");
    assert_ne!(
        normalise_opaque("AbC").unwrap(),
        normalise_opaque("abc").unwrap()
    );
    assert_eq!(normalise_opaque(" \t"), Err(OpaqueError::Empty));
    assert_eq!(
        normalise_opaque("a\u{0}b"),
        Err(OpaqueError::Control { position: 1 })
    );
    assert!(matches!(
        normalise_opaque(&"x".repeat(600)),
        Err(OpaqueError::TooLong { len: 600 })
    ));
}

// ---- hashing ----

#[test]
fn digest_is_pinned() {
    // HMAC-SHA256(key = 32 × 0x07, "referrals/identity/v1\0email\0sara@example.com"),
    // computed independently (Python's hmac). Changing it orphans every
    // stored hash.
    let hash = keyring(1, 7).hash(IdentityKind::Email, "sara@example.com");
    assert_eq!(
        hash.digest_hex(),
        "bea69f2c83bf04ec00f10525e087f4a9d5b275349817d70bd2efdf6eb90a5389"
    );
    assert_eq!(hash.key, KeyId::new(1));
    let json = serde_json::to_string(&hash).unwrap();
    assert_eq!(
        json,
        r#"{"kind":"email","key":1,"digest":"bea69f2c83bf04ec00f10525e087f4a9d5b275349817d70bd2efdf6eb90a5389"}"#
    );
    assert_eq!(serde_json::from_str::<SignalHash>(&json).unwrap(), hash);
    let upper = json.replace("bea69f2c", "BEA69F2C");
    assert_eq!(serde_json::from_str::<SignalHash>(&upper).unwrap(), hash);
    for bad in ["\"digest\":\"bea6\"", "\"digest\":\"zz\""] {
        let broken = format!(r#"{{"kind":"email","key":1,{bad}}}"#);
        assert!(serde_json::from_str::<SignalHash>(&broken).is_err());
    }
    assert!(format!("{hash:?}").contains("bea69f2c"));
}

#[test]
fn kinds_are_domain_separated() {
    let ring = keyring(1, 7);
    let text = "abc123";
    let hashes: Vec<[u8; 32]> = IdentityKind::ALL
        .iter()
        .map(|&kind| ring.hash(kind, text).digest)
        .collect();
    for (i, a) in hashes.iter().enumerate() {
        for b in &hashes[i + 1..] {
            assert_ne!(a, b);
        }
    }
    let device = IdentitySignals::from_hashes([ring.hash(IdentityKind::Device, text)]);
    let payment = IdentitySignals::from_hashes([ring.hash(IdentityKind::Payment, text)]);
    assert!(device.shared_with(&payment).is_empty());
    // Kind and text are framed: moving bytes across the boundary changes the hash.
    assert_ne!(
        ring.hash(IdentityKind::Ip, "_prefix\u{0}x"),
        ring.hash(IdentityKind::IpPrefix, "x")
    );
}

#[test]
fn keys_are_secret_and_distinct() {
    let a = keyring(1, 1).hash(IdentityKind::Phone, "+966501234567");
    let b = keyring(1, 2).hash(IdentityKind::Phone, "+966501234567");
    assert_ne!(a.digest, b.digest);
    let key = key(9, 3);
    assert_eq!(format!("{key:?}"), "IdentityKey { id: KeyId(9), .. }");
    assert!(!format!("{:?}", Keyring::new(key)).contains("3, 3"));
    assert_eq!(
        IdentityKey::new(KeyId::new(1), &[0; 15]).unwrap_err(),
        IdentityKeyError::TooShort { len: 15 }
    );
    assert_eq!(
        IdentityKey::new(KeyId::new(1), &[0; 1025]).unwrap_err(),
        IdentityKeyError::TooLong { len: 1025 }
    );
}

#[test]
fn rotation_keeps_old_hashes_comparable() {
    let options = NormaliseOptions::default()
        .with_default_region(966)
        .unwrap();
    let input = IdentityInput {
        email: Some("Amira.Saleh@gmail.com".into()),
        phone: Some("0501234567".into()),
        device: Some("dev-1".into()),
        ip: Some("203.0.113.7".into()),
        payment: Some("pm_abc".into()),
        address: Some("12 King Fahd Rd".into()),
    };
    let mut ring = keyring(1, 1);
    let stored = ring.signals(&input, &options);
    assert!(stored.errors().is_empty());
    assert_eq!(stored.hashes().count(), 7);
    assert!(stored.hashes().all(|hash| hash.key == KeyId::new(1)));

    ring.rotate(key(2, 2)).unwrap();
    assert_eq!(ring.current_id(), KeyId::new(2));
    assert_eq!(ring.key_ids(), [KeyId::new(2), KeyId::new(1)]);
    let fresh = ring.signals(&input, &options);
    assert!(fresh.shared_with(&stored).is_empty(), "new key, new hashes");

    let matching = ring.signals_for_matching(&input, &options);
    assert_eq!(matching.hashes().count(), 14);
    assert_eq!(matching.shared_with(&stored), IdentityKind::ALL);
    assert_eq!(matching.shared_with(&fresh), IdentityKind::ALL);

    // A second rotation: the first key is still accepted until retired.
    ring.rotate(key(3, 3)).unwrap();
    assert_eq!(
        ring.key_ids(),
        [KeyId::new(3), KeyId::new(2), KeyId::new(1)]
    );
    let stored_hash = stored.hashes().next().copied().unwrap();
    assert_eq!(
        ring.hashes_for_matching(IdentityKind::Email, "amirasaleh@gmail.com")
            .len(),
        3
    );
    assert!(
        ring.signals_for_matching(&input, &options)
            .shared_with(&stored)
            .len()
            == 7
    );
    assert!(ring.retire(KeyId::new(1)));
    assert!(!ring.retire(KeyId::new(1)));
    assert!(!ring.retire(KeyId::new(3)), "the current key stays");
    assert!(
        ring.signals_for_matching(&input, &options)
            .shared_with(&stored)
            .is_empty()
    );
    assert_eq!(stored_hash.key, KeyId::new(1));

    assert_eq!(
        ring.rotate(key(2, 9)),
        Err(KeyringError::DuplicateId { id: KeyId::new(2) })
    );
    assert!(keyring(1, 1).with_previous(key(1, 2)).is_err());
    let loaded = keyring(2, 2).with_previous(key(1, 1)).unwrap();
    assert_eq!(
        loaded
            .signals_for_matching(&input, &options)
            .shared_with(&stored),
        IdentityKind::ALL
    );
}

#[test]
fn signals_report_refused_inputs() {
    let ring = keyring(1, 1);
    let input = IdentityInput {
        email: Some("not an email".into()),
        phone: Some("0501234567".into()),
        device: Some("".into()),
        ip: Some("999.1.1.1".into()),
        payment: None,
        address: Some("12 Main St".into()),
    };
    let signals = ring.signals(&input, &NormaliseOptions::default());
    assert_eq!(signals.kinds(), [IdentityKind::Address]);
    let refused: Vec<IdentityKind> = signals.errors().iter().map(|e| e.kind).collect();
    assert_eq!(
        refused,
        [
            IdentityKind::Email,
            IdentityKind::Phone,
            IdentityKind::Device,
            IdentityKind::Ip
        ]
    );
    assert_eq!(
        signals.errors()[1].error,
        NormaliseError::Phone(PhoneError::NoRegion)
    );
    assert_eq!(
        signals.errors()[2].to_string(),
        "device: fingerprint: empty"
    );
    assert!(!signals.disposable_email());

    // Stored, the signals keep their hashes and drop the errors (which may
    // quote a character of what was typed).
    let json = serde_json::to_string(&signals).unwrap();
    assert!(!json.contains("error"), "{json}");
    let stored = serde_json::from_str::<IdentitySignals>(&json).unwrap();
    assert_eq!(
        stored.hashes().collect::<Vec<_>>(),
        signals.hashes().collect::<Vec<_>>()
    );
    assert!(stored.errors().is_empty());
    assert!(
        ring.signals(&IdentityInput::default(), &NormaliseOptions::default())
            .is_empty()
    );
}

#[test]
fn disposable_flag_follows_the_options() {
    let ring = keyring(1, 1);
    let input = IdentityInput {
        email: Some("x@burner.example".into()),
        ..IdentityInput::default()
    };
    assert!(
        !ring
            .signals(&input, &NormaliseOptions::default())
            .disposable_email()
    );
    let mut domains = DisposableDomains::default();
    domains.insert("burner.example");
    let options = NormaliseOptions::default().with_disposable(domains);
    assert!(ring.signals(&input, &options).disposable_email());
}

#[test]
fn input_and_options_serialise() {
    let input: IdentityInput = serde_json::from_str(r#"{"email":"a@b.co"}"#).unwrap();
    assert_eq!(input.email.as_deref(), Some("a@b.co"));
    assert_eq!(input.fields().count(), 1);
    let options = NormaliseOptions::default()
        .with_default_region(966)
        .unwrap();
    let json = serde_json::to_string(&options).unwrap();
    assert_eq!(
        serde_json::from_str::<NormaliseOptions>(&json).unwrap(),
        options
    );
    assert!(NormaliseOptions::default().with_default_region(0).is_err());
    for kind in IdentityKind::ALL {
        let json = serde_json::to_string(&kind).unwrap();
        assert_eq!(json, format!("\"{}\"", kind.as_str()));
    }
}

#[test]
fn normalise_dispatches_by_kind() {
    let options = NormaliseOptions::default()
        .with_default_region(966)
        .unwrap();
    let cases = [
        (IdentityKind::Email, "A+x@b.co", "a@b.co"),
        (IdentityKind::Phone, "050 123 4567", "+966501234567"),
        (IdentityKind::Device, " D1 ", "D1"),
        (IdentityKind::Ip, "::ffff:1.2.3.4", "1.2.3.4"),
        (IdentityKind::IpPrefix, "1.2.3.4", "1.2.3.0/24"),
        (IdentityKind::Payment, "pm_X", "pm_X"),
        (IdentityKind::Address, "1 Main St", "1 main street"),
    ];
    for (kind, raw, expected) in cases {
        assert_eq!(normalise(kind, raw, &options).unwrap(), expected, "{kind}");
    }
    assert!(matches!(
        normalise(IdentityKind::Email, "x", &options),
        Err(NormaliseError::Email(_))
    ));
}

// ---- properties: never panic, idempotent on success ----

/// Strings likely to reach deep into the normalisers: arbitrary Unicode
/// mixed with the characters they treat specially.
fn tricky() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ a-zA-Z0-9@+.\\-_()#,:/\\[\\]%٠-٩۰-۹０-９＋\u{200E}\u{200F}\u{200B}ـأإآةىشİΣς]{0,40}",
        // Combining marks of several classes around letters that case or
        // compose: lower case and dropped marks must not leave a text that
        // normalises again differently.
        "[aeiIİsS اب\u{0301}\u{0307}\u{0327}\u{064F}\u{0654}\u{06ED}\u{0316}]{0,24}",
        "[a-z.+]{1,12}@(gmail|googlemail|example|yopmail)\\.(com|co)\\.?",
        "(\\+|00)?[0-9 \\-]{0,20}",
        "[0-9a-fA-F:.\\[\\]]{0,45}(/[0-9]{1,3})?",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn email_is_idempotent(raw in tricky()) {
        if let Ok(once) = normalise_email(&raw) {
            prop_assert_eq!(normalise_email(&once), Ok(once.clone()));
            prop_assert!(once.len() <= 254);
        }
    }

    #[test]
    fn phone_is_idempotent(raw in tricky(), region in prop::option::of(1u16..=999)) {
        let region = region.and_then(|code| CallingCode::new(code).ok());
        if let Ok(once) = normalise_phone(&raw, region) {
            prop_assert_eq!(normalise_phone(&once, region), Ok(once.clone()));
            prop_assert_eq!(normalise_phone(&once, None), Ok(once.clone()));
            prop_assert!(once.starts_with('+'));
            prop_assert!((9..=16).contains(&once.len()));
        }
    }

    #[test]
    fn ip_is_idempotent(raw in tricky()) {
        if let Ok(once) = normalise_ip(&raw) {
            prop_assert_eq!(normalise_ip(&once), Ok(once.clone()));
        }
        if let Ok(once) = normalise_ip_prefix(&raw) {
            prop_assert_eq!(normalise_ip_prefix(&once), Ok(once.clone()));
        }
    }

    #[test]
    fn ip_addresses_round_trip(addr in any::<IpAddr>()) {
        let once = normalise_ip(&addr.to_string()).unwrap();
        prop_assert_eq!(normalise_ip(&once), Ok(once.clone()));
        let prefix = ip_prefix(addr);
        prop_assert_eq!(normalise_ip_prefix(&prefix), Ok(prefix.clone()));
        prop_assert_eq!(normalise_ip_prefix(&once), Ok(prefix));
    }

    #[test]
    fn address_is_idempotent(raw in tricky()) {
        if let Ok(once) = normalise_address(&raw) {
            prop_assert_eq!(normalise_address(&once), Ok(once.clone()));
            prop_assert!(!once.contains("  "));
            prop_assert_eq!(once.trim(), once.as_str());
        }
    }

    #[test]
    fn opaque_is_idempotent(raw in tricky()) {
        if let Ok(once) = normalise_opaque(&raw) {
            prop_assert_eq!(normalise_opaque(&once), Ok(once.clone()));
        }
    }

    #[test]
    fn signals_never_panic_and_account_for_every_input(
        email in prop::option::of(tricky()),
        phone in prop::option::of(tricky()),
        ip in prop::option::of(tricky()),
        address in prop::option::of(tricky()),
    ) {
        let input = IdentityInput { email, phone, device: None, ip, payment: None, address };
        let ring = keyring(1, 1);
        let options = NormaliseOptions::default().with_default_region(966).unwrap();
        let signals = ring.signals(&input, &options);
        // Every present input gave a hash or an error.
        for (kind, _) in input.fields() {
            let hashed = signals.kinds().contains(&kind);
            let refused = signals.errors().iter().any(|e| e.kind == kind);
            prop_assert!(hashed != refused, "{kind}: hashed {hashed}, refused {refused}");
        }
        prop_assert_eq!(signals.shared_with(&signals), signals.kinds());
    }
}

#[test]
fn compatibility_forms_are_the_letters_they_show() {
    // Full-width letters and a decomposed accent in an e-mail.
    assert_eq!(
        normalise_email("ＡＭＩＲＡ@ｇｍａｉｌ.ｃｏｍ").unwrap(),
        normalise_email("amira@gmail.com").unwrap()
    );
    assert_eq!(
        normalise_email("rene\u{301}@example.com").unwrap(),
        normalise_email("ren\u{e9}@example.com").unwrap()
    );
    // Arabic presentation forms in an address: the lam-alef ligature.
    assert_eq!(
        normalise_address("شارع الملك فهد \u{FEFB}").unwrap(),
        normalise_address("شارع الملك فهد لا").unwrap()
    );
}

#[test]
fn disposable_domains_loaded_from_settings_are_canonical() {
    // Found by reading the code beside the fuzz targets: a derived
    // Deserialize kept "Throwaway.Example." as written, which never matched.
    let d: DisposableDomains =
        serde_json::from_str(r#"{"builtin": false, "extra": ["Throwaway.Example.", ""]}"#).unwrap();
    assert!(d.contains("throwaway.example"));
    assert!(d.contains("mx.THROWAWAY.example"));
    assert!(!d.contains("yopmail.com"));
    let round: DisposableDomains =
        serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
    assert_eq!(round, d);
    // Found by `cargo fuzz run fraud_settings`: only one trailing dot was
    // stripped, so a domain ending in several changed on every load.
    for written in [
        "throwaway.example..",
        "throwaway.example. . ",
        " Throwaway.Example.\t.",
    ] {
        let json = format!(
            r#"{{"builtin": false, "extra": [{}]}}"#,
            serde_json::to_string(written).unwrap()
        );
        let d: DisposableDomains = serde_json::from_str(&json).unwrap();
        assert!(d.contains("throwaway.example"), "{written:?}");
        let round: DisposableDomains =
            serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(round, d, "{written:?}");
    }
    assert!(is_disposable("mailinator.com.."));
}
