//! The link tests: building, reading, settings, and property tests of
//! the round trip and of hostile input.

use proptest::prelude::*;
use url::form_urlencoded;

use super::parse::{RELATIVE_BASE, is_blank, normalize_campaign};
use super::*;
use crate::code::CodeParseError;

/// A blank campaign (only whitespace or bidi marks) counts as absent,
/// when parsed and when built; a repeated one yields the first
/// non-blank.
#[test]
fn blank_campaigns_count_as_absent() {
    let format = CodeFormat::default();
    let parsed = ShareLink::parse("?ref=7K3MQ9XDS&utm_campaign=+++", &format).unwrap();
    assert_eq!(parsed.campaign, None);
    let parsed =
        ShareLink::parse("?ref=7K3MQ9XDS&utm_campaign=+&utm_campaign=spring", &format).unwrap();
    assert_eq!(parsed.campaign.as_deref(), Some("spring"));
    let landing = Url::parse("https://b.example/").unwrap();
    let code = Code::from_canonical("7K3MQ9XDS").unwrap();
    let built = ShareLink::build(&landing, &code, &Channel::Sms, Some("  \u{2069}")).unwrap();
    assert!(!built.as_str().contains("utm_campaign"), "{built}");
    // Spaces inside a campaign are part of its name.
    let built = ShareLink::build(&landing, &code, &Channel::Sms, Some(" eid sale ")).unwrap();
    let back = ShareLink::parse(built.as_str(), &format).unwrap();
    assert_eq!(back.campaign.as_deref(), Some(" eid sale "));
}

fn code() -> Code {
    Code::from_canonical("7K3MQ9XDS").unwrap()
}

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

fn parse(input: &str) -> Result<ParsedLink, LinkError> {
    ShareLink::parse(input, &CodeFormat::default())
}

#[test]
fn relative_base_is_a_valid_url() {
    assert!(Url::parse(RELATIVE_BASE).is_ok());
}

#[test]
fn build_appends_params_and_keeps_query_and_fragment() {
    let landing = url("https://bakery.example/menu?lang=ar&flag&sp=a%20b#cakes");
    let link = ShareLink::build(&landing, &code(), &Channel::InStore, Some("spring")).unwrap();
    // Other parameters are kept byte for byte: `flag` stays without `=`,
    // `%20` is not re-encoded as `+`.
    assert_eq!(
        link.as_str(),
        "https://bakery.example/menu?lang=ar&flag&sp=a%20b&ref=7K3MQ9XDS\
         &utm_source=in_store&utm_medium=referral&utm_campaign=spring#cakes"
    );
    let no_query = ShareLink::build(&url("http://b.example"), &code(), &Channel::Sms, None);
    assert_eq!(
        no_query.unwrap().as_str(),
        "http://b.example/?ref=7K3MQ9XDS&utm_source=sms&utm_medium=referral"
    );
}

#[test]
fn build_replaces_existing_params_ignoring_case() {
    let landing = url(
        "https://b.example/?REF=OLD&a=1&utm_source=fb&Utm_Medium=cpc&utm_campaign=x&ref=OLD2&b=2",
    );
    let link = ShareLink::build(&landing, &code(), &Channel::X, None).unwrap();
    assert_eq!(
        link.query(),
        Some("a=1&b=2&ref=7K3MQ9XDS&utm_source=x&utm_medium=referral")
    );
    // A campaign left on the landing page is removed even when the new
    // link has none: it would otherwise be credited to this share.
    assert!(!link.as_str().contains("utm_campaign"));
}

#[test]
fn build_percent_encodes_campaigns() {
    let cases = [
        (
            "رمضان كريم",
            "%D8%B1%D9%85%D8%B6%D8%A7%D9%86+%D9%83%D8%B1%D9%8A%D9%85",
        ),
        ("a&b=c#d", "a%26b%3Dc%23d"),
        ("50%+off", "50%25%2Boff"),
        ("٢٥", "%D9%A2%D9%A5"),
    ];
    for (campaign, encoded) in cases {
        let link = ShareLink::build(
            &url("https://b.example/#f"),
            &code(),
            &Channel::Email,
            Some(campaign),
        )
        .unwrap();
        let expected = format!("&utm_campaign={encoded}#f");
        assert!(link.as_str().ends_with(&expected), "{campaign}: {link}");
        assert_eq!(
            parse(link.as_str()).unwrap().campaign.as_deref(),
            Some(campaign)
        );
    }
}

#[test]
fn build_drops_empty_campaign_and_glued_isolates() {
    let landing = url("https://b.example/");
    let empty = ShareLink::build(&landing, &code(), &Channel::Email, Some("")).unwrap();
    assert!(!empty.as_str().contains("utm_campaign"));
    let glued = ShareLink::build(
        &landing,
        &code(),
        &Channel::Email,
        Some("\u{2066}eid\u{2069}"),
    )
    .unwrap();
    assert!(glued.as_str().ends_with("&utm_campaign=eid"), "{glued}");
}

#[test]
fn build_rejects_landing_pages_that_are_not_http() {
    for landing in [
        "mailto:a@b.example",
        "ftp://b.example/",
        "file:///tmp/x",
        "data:text/plain,hi",
    ] {
        let err = ShareLink::build(&url(landing), &code(), &Channel::Sms, None).unwrap_err();
        assert!(matches!(err, LinkError::LandingNotHttp { .. }), "{landing}");
        assert_eq!(
            err.to_string(),
            format!("landing page {} is not http(s)", url(landing))
        );
    }
}

#[test]
fn parse_accepts_urls_scheme_less_urls_and_bare_queries() {
    let inputs = [
        "https://b.example/p?ref=7K3MQ9XDS&utm_source=whatsapp#x",
        "http://b.example:8080?ref=7K3MQ9XDS&utm_source=whatsapp",
        "bakery://invite?ref=7K3MQ9XDS&utm_source=whatsapp",
        "b.example/?ref=7K3MQ9XDS&utm_source=whatsapp",
        "b.example?ref=7K3MQ9XDS&utm_source=whatsapp",
        "localhost:3000/?ref=7K3MQ9XDS&utm_source=whatsapp",
        "//b.example/?ref=7K3MQ9XDS&utm_source=whatsapp",
        "/landing?ref=7K3MQ9XDS&utm_source=whatsapp",
        "?ref=7K3MQ9XDS&utm_source=whatsapp",
        "ref=7K3MQ9XDS&utm_source=whatsapp",
        "ref=7K3MQ9XDS&utm_source=whatsapp#frag",
        "  \n https://b.example/?ref=7K3MQ9XDS&utm_source=whatsapp \t",
    ];
    for input in inputs {
        let parsed = parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(parsed.code, code(), "{input:?}");
        assert_eq!(parsed.channel, Some(Channel::WhatsApp), "{input:?}");
        assert_eq!(parsed.campaign, None, "{input:?}");
    }
}

#[test]
fn parse_tries_code_names_in_documented_order() {
    let cases = [
        ("?referral_code=7K3MQ9XDS", "7K3MQ9XDS"),
        ("?referral=7K3MQ9XDS&referral_code=AAAAAAAAT", "7K3MQ9XDS"),
        ("?code=7K3MQ9XDS&referral=AAAAAAAAT", "7K3MQ9XDS"),
        ("?code=AAAAAAAAT&ref=7K3MQ9XDS", "7K3MQ9XDS"),
        ("?CODE=7K3MQ9XDS", "7K3MQ9XDS"),
        ("?Referral_Code=7K3MQ9XDS", "7K3MQ9XDS"),
        // First occurrence wins, across spellings of the same name.
        ("?ref=7K3MQ9XDS&REF=AAAAAAAAT&ref=BBBBBBBBJ", "7K3MQ9XDS"),
        // Empty values count as absent.
        ("?ref=&ref=+&code=7K3MQ9XDS", "7K3MQ9XDS"),
    ];
    for (input, expected) in cases {
        let parsed = parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
        assert_eq!(parsed.code.as_str(), expected, "{input:?}");
    }
}

#[test]
fn parse_reports_missing_and_invalid_codes() {
    let err = parse("https://b.example/?utm_source=sms&ref=").unwrap_err();
    assert!(matches!(err, LinkError::MissingCode { .. }));
    assert_eq!(
        err.to_string(),
        r#"no referral code parameter in "https://b.example/?utm_source=sms&ref=""#
    );
    for input in [
        "",
        "   ",
        "?",
        "&&&",
        "https://b.example/",
        "b.example/r/7K3MQ9XDS",
    ] {
        assert!(
            matches!(parse(input), Err(LinkError::MissingCode { .. })),
            "{input:?}"
        );
    }

    let err = parse("?REF=bad%21code&code=7K3MQ9XDS").unwrap_err();
    let LinkError::InvalidCode { param, value, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!((param.as_str(), value.as_str()), ("REF", "bad!code"));
    assert_eq!(
        err.to_string(),
        r#"referral code "bad!code" in parameter REF is invalid"#
    );
    let source = std::error::Error::source(&err).expect("source");
    assert!(source.downcast_ref::<CodeParseError>().is_some());
}

#[test]
fn parse_refuses_huge_and_broken_input() {
    // Nor is one built: a landing page with a huge query of its own
    // makes a link the reader would refuse.
    let landing = Url::parse(&format!(
        "https://shop.example/?x={}",
        "a".repeat(MAX_LINK_LEN)
    ))
    .unwrap();
    let code = CodeFormat::default().parse("7K3MQ9XDS").unwrap();
    assert!(matches!(
        ShareLink::build(&landing, &code, &Channel::Sms, None),
        Err(LinkError::TooLong { .. })
    ));
    let huge = format!("?ref=7K3MQ9XDS&x={}", "a".repeat(MAX_LINK_LEN));
    assert!(matches!(parse(&huge), Err(LinkError::TooLong { .. })));
    let err = parse("https://[::1/?ref=7K3MQ9XDS").unwrap_err();
    assert!(matches!(err, LinkError::NotALink { .. }), "{err:?}");
    assert!(std::error::Error::source(&err).is_some());
    // Error messages quote a bounded excerpt of the input.
    let long = format!("?utm_source={}", "ب".repeat(5_000));
    let message = parse(&long).unwrap_err().to_string();
    assert!(message.chars().count() < 300, "{message}");
    assert!(message.contains('…'));
}

#[test]
fn parse_decodes_plus_and_percent_encoding() {
    let parsed = parse(
        "?r%65f=7K3MQ9XDS&utm_source=%77hats%41pp&utm_campaign=%D8%B9%D9%8A%D8%AF+50%25+%26+more",
    )
    .unwrap();
    assert_eq!(parsed.code, code());
    assert_eq!(parsed.channel, Some(Channel::WhatsApp));
    assert_eq!(parsed.campaign.as_deref(), Some("عيد 50% & more"));
    // Raw (unencoded) Arabic and spaces pasted by hand read the same.
    let raw = parse("b.example/?ref=7K3MQ9XDS&utm_campaign=عيد 50").unwrap();
    assert_eq!(raw.campaign.as_deref(), Some("عيد 50"));
    // Invalid UTF-8 is replaced, not an error.
    let lossy = parse("?ref=7K3MQ9XDS&utm_campaign=%FF").unwrap();
    assert_eq!(lossy.campaign.as_deref(), Some("\u{FFFD}"));
}

#[test]
fn parse_reads_sources_leniently() {
    let cases: [(&str, Option<Channel>); 8] = [
        ("whatsapp", Some(Channel::WhatsApp)),
        ("Twitter", Some(Channel::X)),
        ("in-store", Some(Channel::InStore)),
        ("podcast", Some(Channel::custom("podcast").unwrap())),
        ("news+letter", None),
        ("%F0%9F%A6%84", None),
        ("", None),
        (&"a".repeat(33), None),
    ];
    for (source, expected) in cases {
        let parsed = parse(&format!("?ref=7K3MQ9XDS&utm_source={source}")).unwrap();
        assert_eq!(parsed.channel, expected, "{source:?}");
    }
    // The first non-empty source wins.
    let parsed = parse("?ref=7K3MQ9XDS&utm_source=&UTM_SOURCE=sms&utm_source=qr").unwrap();
    assert_eq!(parsed.channel, Some(Channel::Sms));
}

#[test]
fn parse_ignores_isolates_glued_on_by_chat_apps() {
    // A right-to-left share message wraps the link in U+2066 … U+2069;
    // some linkifiers keep the U+2069 as part of the link.
    let glued = "https://b.example/?ref=7K3MQ9XDS&utm_source=sms&utm_campaign=eid\u{2069}";
    let parsed = parse(glued).unwrap();
    assert_eq!(parsed.campaign.as_deref(), Some("eid"));
    let encoded = "?utm_source=sms%E2%81%A9&ref=%E2%80%8F7K3MQ9XDS%E2%81%A9";
    let parsed = parse(encoded).unwrap();
    assert_eq!(parsed.code, code());
    assert_eq!(parsed.channel, Some(Channel::Sms));
}

#[test]
fn parse_hands_typed_codes_to_the_code_format() {
    // Whatever the code format makes of typed input, the link reads the
    // same: this holds before and after the full code parser lands.
    let format = CodeFormat::default();
    for typed in ["7k3mq9xds", "7K3-MQ9-XDS", "7K3 MQ9 XDS", "7K3MQ9XDS"] {
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("ref", typed)
            .finish();
        let from_link = ShareLink::parse(&query, &format).map(|p| p.code).ok();
        assert_eq!(from_link, format.parse(typed).ok(), "{typed:?}");
    }
}

#[test]
fn custom_params_build_and_parse() {
    let params = LinkParams::default()
        .with_code_param("invite")
        .unwrap()
        .with_source_param("src")
        .unwrap()
        .with_medium_param("m")
        .unwrap()
        .with_campaign_param("c")
        .unwrap()
        .with_medium_value("friend")
        .unwrap();
    let landing = url("https://b.example/?invite=OLD&utm_source=keep#f");
    let link = params
        .build(&landing, &code(), &Channel::Telegram, Some("عيد"))
        .unwrap();
    assert_eq!(
        link.as_str(),
        "https://b.example/?utm_source=keep&invite=7K3MQ9XDS&src=telegram&m=friend\
         &c=%D8%B9%D9%8A%D8%AF#f"
    );
    let parsed = params.parse(link.as_str(), &CodeFormat::default()).unwrap();
    assert_eq!(parsed.code, code());
    assert_eq!(parsed.channel, Some(Channel::Telegram));
    assert_eq!(parsed.campaign.as_deref(), Some("عيد"));
    // The standard fallback names still read old links.
    let old = params
        .parse("?ref=7K3MQ9XDS", &CodeFormat::default())
        .unwrap();
    assert_eq!(old.code, code());
}

#[test]
fn fallback_names_never_read_other_params() {
    // With `code` as the source parameter, `code=` holds a channel, and
    // must not be read as a referral code.
    let params = LinkParams::default().with_source_param("code").unwrap();
    let err = params
        .parse("?code=whatsapp", &CodeFormat::default())
        .unwrap_err();
    assert!(matches!(err, LinkError::MissingCode { .. }), "{err:?}");
}

#[test]
fn link_params_validate_names() {
    let p = LinkParams::default;
    let cases: [(Result<LinkParams, LinkError>, &str); 6] = [
        (
            p().with_code_param(""),
            r#"link setting code_param = "" is not valid: it is empty"#,
        ),
        (
            p().with_code_param("Utm_Source"),
            r#"link setting source_param = "utm_source" is not valid: another link parameter has the same name"#,
        ),
        (
            p().with_campaign_param("a\u{0}"),
            r#"link setting campaign_param = "a\0" is not valid: it holds a control character"#,
        ),
        (
            p().with_source_param(&"s".repeat(65)),
            &format!(
                "link setting source_param = {:?} is not valid: it is longer than 64 bytes",
                "s".repeat(65)
            ),
        ),
        (
            p().with_medium_value(""),
            r#"link setting medium_value = "" is not valid: it is empty"#,
        ),
        (
            p().with_medium_param("ref"),
            r#"link setting medium_param = "ref" is not valid: another link parameter has the same name"#,
        ),
    ];
    for (result, message) in cases {
        assert_eq!(result.unwrap_err().to_string(), message);
    }
    // Swapping two names is fine once both have moved.
    assert!(
        p().with_code_param("r")
            .unwrap()
            .with_source_param("ref")
            .is_ok()
    );
}

#[test]
fn link_params_json_round_trip_and_validation() {
    let json = serde_json::to_string(&LinkParams::default()).unwrap();
    assert_eq!(
        json,
        r#"{"code_param":"ref","source_param":"utm_source","medium_param":"utm_medium","campaign_param":"utm_campaign","medium_value":"referral"}"#
    );
    assert_eq!(
        serde_json::from_str::<LinkParams>(&json).unwrap(),
        LinkParams::default()
    );
    assert_eq!(
        serde_json::from_str::<LinkParams>("{}").unwrap(),
        LinkParams::default()
    );
    let custom: LinkParams = serde_json::from_str(r#"{"medium_value":"إحالة"}"#).unwrap();
    assert_eq!(custom.medium_value(), "إحالة");
    for bad in [
        r#"{"code_param":""}"#,
        r#"{"code_param":"utm_medium"}"#,
        r#"{"medium_value":""}"#,
        r#"{"unknown":"x"}"#,
    ] {
        assert!(serde_json::from_str::<LinkParams>(bad).is_err(), "{bad}");
    }
}

#[test]
fn parsed_link_json_round_trip() {
    let parsed = parse("?ref=7K3MQ9XDS&utm_source=podcast&utm_campaign=عيد").unwrap();
    let json = serde_json::to_string(&parsed).unwrap();
    assert_eq!(
        json,
        r#"{"code":"7K3MQ9XDS","channel":"podcast","campaign":"عيد"}"#
    );
    assert_eq!(serde_json::from_str::<ParsedLink>(&json).unwrap(), parsed);
    let bare = parse("?ref=7K3MQ9XDS").unwrap();
    let json = serde_json::to_string(&bare).unwrap();
    assert_eq!(
        json,
        r#"{"code":"7K3MQ9XDS","channel":null,"campaign":null}"#
    );
}

#[test]
fn excerpt_cuts_on_character_boundaries() {
    assert_eq!(excerpt("abc"), "abc");
    let arabic = "ع".repeat(EXCERPT_CHARS + 1);
    let cut = excerpt(&arabic);
    assert_eq!(cut.chars().count(), EXCERPT_CHARS + 1);
    assert!(cut.ends_with('…'));
}

/// Codes the full code parser accepts (right check character, or a
/// vanity shape), and arbitrary canonical symbols, which it may refuse.
fn any_code() -> impl Strategy<Value = Code> {
    prop_oneof![
        prop::sample::select(vec!["7K3MQ9XDS", "AAAAAAAAT", "BBBBBBBBJ", "SARA2026"])
            .prop_map(|s| Code::from_canonical(s).unwrap()),
        "[0-9A-HJKMNP-TV-Z]{1,32}".prop_map(|s| Code::from_canonical(&s).unwrap()),
    ]
}

fn any_channel() -> impl Strategy<Value = Channel> {
    prop_oneof![
        (0..Channel::BUILT_IN.len()).prop_map(|i| Channel::BUILT_IN[i].clone()),
        // `Channel::custom` folds names that are aliases into built-ins.
        "[a-z0-9_-]{1,32}".prop_map(|s| Channel::custom(&s).unwrap()),
    ]
}

/// A random http(s) landing page with a path, existing query parameters
/// (arbitrary text, sometimes named like ours) and a fragment.
fn any_landing() -> impl Strategy<Value = Url> {
    let key = prop_oneof![
        "[a-z_]{1,8}",
        Just("ref".to_owned()),
        Just("UTM_SOURCE".to_owned()),
        Just("utm_campaign".to_owned()),
        Just("code".to_owned()),
        any::<String>(),
    ];
    (
        prop_oneof![Just("http"), Just("https")],
        "[a-z][a-z0-9-]{0,10}\\.(example|sa|com)",
        prop::collection::vec("[a-zA-Z0-9._~-]{1,8}", 0..3),
        prop::collection::vec((key, any::<String>()), 0..4),
        prop::option::of(any::<String>()),
    )
        .prop_map(|(scheme, host, path, params, fragment)| {
            let mut url = Url::parse(&format!("{scheme}://{host}/{}", path.join("/"))).unwrap();
            if !params.is_empty() {
                url.query_pairs_mut().extend_pairs(params);
            }
            url.set_fragment(fragment.as_deref());
            url
        })
}

/// Strings assembled from pieces of URLs, to reach the parser's corners
/// more often than arbitrary text does.
fn url_ish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("https://".to_owned()),
        Just("http:".to_owned()),
        Just("//".to_owned()),
        Just("?".to_owned()),
        Just("&".to_owned()),
        Just("=".to_owned()),
        Just("#".to_owned()),
        Just("%".to_owned()),
        Just("%E2%81%A9".to_owned()),
        Just("%FF".to_owned()),
        Just("+".to_owned()),
        Just("[::1".to_owned()),
        Just("@".to_owned()),
        Just(":".to_owned()),
        Just("ref".to_owned()),
        Just("REF".to_owned()),
        Just("code".to_owned()),
        Just("utm_source".to_owned()),
        Just("utm_campaign".to_owned()),
        Just("7K3MQ9XDS".to_owned()),
        Just("xn--".to_owned()),
        Just("متجر".to_owned()),
        Just("\u{2069}".to_owned()),
        "[a-z0-9.]{1,6}",
        "\\PC{1,3}",
    ];
    prop::collection::vec(piece, 0..24).prop_map(|pieces| pieces.concat())
}

proptest! {
    #[test]
    fn parse_never_panics_on_arbitrary_text(input in "\\PC*") {
        let _ = parse(&input);
    }

    #[test]
    fn parse_never_panics_on_url_like_text(input in url_ish()) {
        let _ = parse(&input);
        let params = LinkParams::default().with_code_param("invite").unwrap();
        let _ = params.parse(&input, &CodeFormat::default());
    }

    #[test]
    fn build_then_parse_round_trips(
        landing in any_landing(),
        code in any_code(),
        channel in any_channel(),
        campaign in prop::option::of(any::<String>()),
    ) {
        let link = ShareLink::build(&landing, &code, &channel, campaign.as_deref()).unwrap();
        // The link reads back exactly what the code format makes of the
        // canonical code: the code itself, or the format's refusal.
        let format = CodeFormat::default();
        let parsed = match (parse(link.as_str()), format.parse(code.as_str())) {
            (Ok(parsed), Ok(expected)) => {
                prop_assert_eq!(expected, code);
                parsed
            }
            (Err(LinkError::InvalidCode { source, .. }), Err(refused)) => {
                prop_assert_eq!(source, refused);
                return Ok(());
            }
            (got, expected) => {
                return Err(TestCaseError::fail(format!(
                    "link gave {got:?}, code format gave {expected:?}"
                )));
            }
        };
        prop_assert_eq!(parsed.code, code);
        prop_assert_eq!(parsed.channel, Some(channel));
        // A blank campaign (whitespace or bidi marks only) is absent.
        let expected = campaign.as_deref().filter(|c| !is_blank(c)).map(normalize_campaign);
        prop_assert_eq!(parsed.campaign.as_deref(), expected);

        // The landing page's own parameters and fragment survive.
        let ours = LinkParams::default();
        let others = |u: &Url| -> Vec<(String, String)> {
            u.query_pairs()
                .into_owned()
                .filter(|(k, _)| !ours.is_own_param(k))
                .collect()
        };
        prop_assert_eq!(others(&link), others(&landing));
        prop_assert_eq!(link.fragment(), landing.fragment());
        prop_assert_eq!(link.path(), landing.path());
        prop_assert_eq!(link.host_str(), landing.host_str());
    }
}
