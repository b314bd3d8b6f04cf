//! Codes through the engine: issuing, limits, vanity codes, typos.

use super::*;

#[test]
fn code_limits_expiry_and_deactivation_are_enforced_with_reasons() {
    let p = program()
        .code_max_uses(1)
        .code_valid_for(TimeDelta::days(10))
        .build()
        .unwrap();
    let e = engine_with(p);
    block_on(async {
        let issued = e.issue_code(&cid("amira"), t0()).await.unwrap();
        assert_eq!(issued.record.expires_at, Some(t0() + TimeDelta::days(10)));
        let code = issued.record.code;
        let first = e
            .record_signup(&signup("s1", "b", None, Some(code), t0()))
            .await
            .unwrap();
        assert!(matches!(first, SignupOutcome::Referred { .. }));
        let second = e
            .record_signup(&signup("s2", "c", None, Some(code), t0()))
            .await
            .unwrap();
        assert_eq!(
            second,
            SignupOutcome::NotReferred {
                reason: Reason::CodeExhausted
            }
        );

        let other = e.issue_code(&cid("zaid"), t0()).await.unwrap().record.code;
        let expired = e
            .record_touch(&touch(
                "t1",
                "v",
                other,
                Channel::Sms,
                t0() + TimeDelta::days(10),
            ))
            .await
            .unwrap();
        assert_eq!(
            expired,
            TouchOutcome::Ignored {
                reason: Reason::CodeExpired
            }
        );

        e.set_code_active(&other, false).await.unwrap();
        let off = e
            .record_signup(&signup("s3", "d", None, Some(other), t0()))
            .await
            .unwrap();
        assert_eq!(
            off,
            SignupOutcome::NotReferred {
                reason: Reason::CodeInactive
            }
        );
        let check = e
            .check_code(&other.to_string().to_lowercase(), t0())
            .await
            .unwrap();
        assert_eq!(check.owner, Some(cid("zaid")));
        assert_eq!(check.unusable, Some(CodeUnusable::Inactive));
    });
}

#[test]
fn issuing_is_idempotent_per_customer_and_derived_codes_are_stable() {
    let p = program()
        .code_generation(CodeGeneration::Derived)
        .build()
        .unwrap();
    let secret = || CodeSecret::new(b"a program secret of 32 bytes....").unwrap();
    let a = Engine::new(MemoryStore::new(), p.clone()).with_code_secret(secret());
    let b = Engine::new(MemoryStore::new(), p.clone()).with_code_secret(secret());
    block_on(async {
        let first = a.issue_code(&cid("amira"), t0()).await.unwrap();
        let again = a
            .issue_code(&cid("amira"), t0() + TimeDelta::days(1))
            .await
            .unwrap();
        assert!(first.created && !again.created);
        assert_eq!(first.record, again.record);
        let elsewhere = b.issue_code(&cid("amira"), t0()).await.unwrap();
        assert_eq!(elsewhere.record.code, first.record.code);
        let other = a.issue_code(&cid("badr"), t0()).await.unwrap();
        assert_ne!(other.record.code, first.record.code);

        let no_secret = Engine::new(MemoryStore::new(), p);
        let err = no_secret.issue_code(&cid("amira"), t0()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unsupported, "{err}");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_issues_for_one_customer_agree_on_one_code() {
    let e = Arc::new(engine());
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let e = Arc::clone(&e);
        tasks.push(tokio::spawn(async move {
            e.issue_code(&cid("amira"), t0()).await
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap().unwrap().record.code);
    }
    codes.dedup();
    assert_eq!(codes.len(), 1, "{codes:?}");
}

#[test]
fn vanity_codes_are_unique_per_program() {
    let e = engine();
    block_on(async {
        let sara = e
            .create_vanity_code(&cid("sara"), "sara2026", VanityOptions::default(), t0())
            .await
            .unwrap();
        assert_eq!(sara.code.as_str(), "SARA2026");
        let again = e
            .create_vanity_code(&cid("sara"), "SARA-2026", VanityOptions::default(), t0())
            .await
            .unwrap();
        assert_eq!(again, sara);
        let taken = e
            .create_vanity_code(&cid("other"), "SARA2026", VanityOptions::default(), t0())
            .await
            .unwrap_err();
        assert_eq!(taken.kind(), ErrorKind::Duplicate, "{taken}");
        // The vanity code refers like any other.
        let joined = e
            .record_signup(&signup("s", "fan", None, Some(sara.code), t0()))
            .await
            .unwrap();
        assert!(matches!(joined, SignupOutcome::Referred { .. }));
    });
}

#[test]
fn vanity_options_are_checked() {
    let e = engine();
    block_on(async {
        let zero = VanityOptions {
            max_uses: Some(0),
            ..VanityOptions::default()
        };
        let err = e
            .create_vanity_code(&cid("sara"), "SARA2026", zero, t0())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().starts_with("options.max_uses"), "{err}");
        let past = VanityOptions {
            expires_at: Some(t0()),
            ..VanityOptions::default()
        };
        let err = e
            .create_vanity_code(&cid("sara"), "SARA2026", past, t0())
            .await
            .unwrap_err();
        assert!(err.to_string().starts_with("options.expires_at"), "{err}");
    });
}

/// A code prefix that the program's blocklist refuses is a build error:
/// every generated code would be refused, and `issue_code` could never
/// succeed.
#[test]
fn a_prefix_the_blocklist_refuses_is_a_build_error() {
    let format = referrals::CodeFormat::default()
        .with_prefix("FREE")
        .unwrap();
    let err = program().code_format(format).build().unwrap_err();
    assert_eq!(err.field, "code_format", "{err}");
    assert!(err.to_string().contains("FREE"), "{err}");
    let fine = referrals::CodeFormat::default()
        .with_prefix("BAKE")
        .unwrap();
    assert!(program().code_format(fine).build().is_ok());
}

/// A typo in a typed code comes back with its corrections, through the
/// error's source, as `check_code`'s docs say.
#[test]
fn a_typed_typo_offers_its_corrections() {
    use referrals::code::CodeParseError;
    use std::error::Error as _;
    let e = engine();
    block_on(async {
        let code = e.issue_code(&cid("amira"), t0()).await.unwrap().record.code;
        let text = code.as_str();
        // Swap two adjacent symbols after the first: a typo the check catches.
        let mut typo: Vec<char> = text.chars().collect();
        let i = (1..typo.len() - 1)
            .find(|&i| typo[i] != typo[i + 1])
            .unwrap();
        typo.swap(i, i + 1);
        let typo: String = typo.into_iter().collect();
        let err = e.check_code(&typo, t0()).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        let parse = err
            .source()
            .and_then(|s| s.downcast_ref::<CodeParseError>())
            .expect("the source is the parse error");
        assert!(
            parse.suggestions().contains(&code),
            "{typo}: {:?}",
            parse.suggestions()
        );
    });
}
