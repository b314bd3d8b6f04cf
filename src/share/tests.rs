//! Unit tests of share messages.

use proptest::prelude::*;

use super::builtin::{builtin, is_valid_template};
use super::template::{NAME_EXCERPT_CHARS, PLACEHOLDER_NAMES, edit_distance, suggest};
use super::*;
use crate::model::Channel;
use crate::money::{Currency, Money};
use crate::text::{FSI, LRI, PDI};

fn full(language: Language) -> ShareContext {
    ShareContext::new("BAKE-7K3-MQ9", language)
        .with_link("https://bakery.example/?ref=BAKE7K3MQ9&utm_source=sms")
        .with_reward(Money::new(2000, Currency::SAR))
        .with_referee_reward(Money::new(2500, Currency::SAR))
        .with_name("ريم")
        .with_program("Bake & Co")
}

fn channels() -> Vec<Channel> {
    let mut all = Channel::BUILT_IN.to_vec();
    all.push(Channel::custom("podcast").unwrap());
    all
}

fn isolated(open: char, value: &str) -> String {
    format!("{open}{value}{PDI}")
}

#[test]
fn every_channel_and_language_renders_with_a_full_context() {
    for channel in channels() {
        for language in Language::ALL {
            for with_reward in [true, false] {
                let template = builtin(&channel, language, with_reward);
                let message = template
                    .render(&full(language))
                    .unwrap_or_else(|e| panic!("{channel} {language} {with_reward}: {e}"));
                let what = format!("{channel} {language} {with_reward}: {message:?}");
                assert!(message.body.contains("BAKE-7K3-MQ9"), "{what}");
                assert!(message.body.contains("Bake & Co"), "{what}");
                assert_eq!(message.body.contains("25.00 SAR"), with_reward, "{what}");
                let counter = matches!(channel, Channel::Qr | Channel::InStore);
                assert_eq!(
                    message.body.contains("https://bakery.example/"),
                    !counter,
                    "{what}"
                );
                assert_eq!(
                    message.subject.is_some(),
                    channel == Channel::Email,
                    "{what}"
                );
                // No placeholder or brace leaks into the output.
                assert!(!message.body.contains(['{', '}']), "{what}");
            }
        }
    }
}

#[test]
fn defaults_need_only_code_program_and_link() {
    for channel in channels() {
        for language in Language::ALL {
            let context = ShareContext::new("BAKE-7K3-MQ9", language)
                .with_program("مخبز")
                .with_link("https://bakery.example/");
            let message = ShareMessages::new().render(&channel, &context);
            assert!(message.is_ok(), "{channel} {language}: {message:?}");
            let without_link = ShareContext::new("BAKE-7K3-MQ9", language).with_program("مخبز");
            let counter = matches!(channel, Channel::Qr | Channel::InStore);
            assert_eq!(
                ShareMessages::new().render(&channel, &without_link).is_ok(),
                counter,
                "{channel} {language}"
            );
        }
    }
}

#[test]
fn render_picks_the_default_by_referee_reward() {
    let messages = ShareMessages::new();
    let with = messages.render(&Channel::Sms, &full(Language::En)).unwrap();
    assert!(with.body.contains("25.00 SAR off"), "{with:?}");
    let context = ShareContext::new("BAKE-7K3-MQ9", Language::En)
        .with_program("Bakery")
        .with_link("https://bakery.example/");
    let without = messages.render(&Channel::Sms, &context).unwrap();
    assert_eq!(
        without.body,
        "You'll love \u{2068}Bakery\u{2069}! Sign up with my code BAKE-7K3-MQ9: https://bakery.example/"
    );
}

#[test]
fn arabic_isolates_code_link_and_money_exactly() {
    for channel in channels() {
        let message = ShareMessages::new()
            .render(&channel, &full(Language::Ar))
            .unwrap();
        let text = format!("{}\n{}", message.subject.unwrap_or_default(), message.body);
        assert!(
            text.contains(&isolated(LRI, "BAKE-7K3-MQ9")),
            "{channel}: {text}"
        );
        assert!(
            text.contains(&isolated(LRI, "25.00 SAR")),
            "{channel}: {text}"
        );
        assert!(
            text.contains(&isolated(FSI, "Bake & Co")),
            "{channel}: {text}"
        );
        if !matches!(channel, Channel::Qr | Channel::InStore) {
            let link = "https://bakery.example/?ref=BAKE7K3MQ9&utm_source=sms";
            assert!(text.contains(&isolated(LRI, link)), "{channel}: {text}");
        }
        // Every isolate is closed.
        let opened = text.chars().filter(|&c| c == LRI || c == FSI).count();
        assert_eq!(
            opened,
            text.chars().filter(|&c| c == PDI).count(),
            "{channel}"
        );
    }
}

#[test]
fn english_isolates_names_only() {
    let template = Template::parse("{name} ({program}) says: {code} {reward} {link}").unwrap();
    let text = template.render(&full(Language::En)).unwrap();
    assert_eq!(
        text,
        "\u{2068}ريم\u{2069} (\u{2068}Bake & Co\u{2069}) says: BAKE-7K3-MQ9 20.00 SAR \
         https://bakery.example/?ref=BAKE7K3MQ9&utm_source=sms"
    );
}

#[test]
fn arabic_defaults_start_with_an_arabic_letter() {
    // Apps that take the paragraph direction from the first strong
    // letter then lay the message out right to left.
    for channel in channels() {
        for with_reward in [true, false] {
            let template = builtin(&channel, Language::Ar, with_reward);
            let sources = std::iter::once(template.body()).chain(template.subject());
            for source in sources {
                let first = source.as_str().chars().next().unwrap();
                assert!(
                    ('\u{0600}'..='\u{06FF}').contains(&first),
                    "{channel}: {source:?}"
                );
            }
        }
    }
}

#[test]
fn values_cannot_break_out_of_their_isolates() {
    let context = ShareContext::new("\u{2069}AB\u{202E}C", Language::Ar)
        .with_name("\u{2067}Eve\u{2069}\u{200F}")
        .with_program("\u{202B}x\u{202C}");
    let text = Template::parse("{code}|{name}|{program}")
        .unwrap()
        .render(&context)
        .unwrap();
    assert_eq!(
        text,
        "\u{2066}ABC\u{2069}|\u{2068}Eve\u{200F}\u{2069}|\u{2068}x\u{2069}"
    );
}

#[test]
fn missing_and_blank_values_are_errors() {
    let context = ShareContext::new("BAKE-7K3-MQ9", Language::En).with_name(" \u{2068} ");
    for (source, missing) in [
        ("{link}", Placeholder::Link),
        ("{reward}", Placeholder::Reward),
        ("{referee_reward}", Placeholder::RefereeReward),
        ("{name}", Placeholder::Name),
        ("{code} {program}", Placeholder::Program),
    ] {
        let err = Template::parse(source)
            .unwrap()
            .render(&context)
            .unwrap_err();
        assert_eq!(
            err,
            TemplateError::MissingValue {
                placeholder: missing
            },
            "{source}"
        );
    }
    let err = Template::parse("{name}")
        .unwrap()
        .render(&context)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the template uses {name} but the share context has no value for it"
    );
    let blank_code = ShareContext::new("", Language::En);
    assert!(
        Template::parse("{code}")
            .unwrap()
            .render(&blank_code)
            .is_err()
    );
}

#[test]
fn template_errors_name_the_problem_and_position() {
    let cases = [
        (
            "Use {cod} now",
            "unknown placeholder {cod} at character 4; did you mean {code}?",
        ),
        (
            "Use {Code}",
            "unknown placeholder {Code} at character 4; did you mean {code}?",
        ),
        (
            "{ referee_reward }",
            "unknown placeholder { referee_reward } at character 0; did you mean {referee_reward}?",
        ),
        (
            "{coupon}",
            "unknown placeholder {coupon} at character 0; known placeholders are {code}, {link}, \
             {reward}, {referee_reward}, {name}, {program}",
        ),
        (
            "{}",
            "unknown placeholder {} at character 0; known placeholders are {code}, {link}, \
             {reward}, {referee_reward}, {name}, {program}",
        ),
        (
            "رمزي {code",
            "unclosed placeholder: '{' at character 5 has no matching '}' (write '{{' for a literal brace)",
        ),
        (
            "{code {link}",
            "unclosed placeholder: '{' at character 0 has no matching '}' (write '{{' for a literal brace)",
        ),
        (
            "50% off} {code}",
            "unmatched '}' at character 7 (write '}}' for a literal brace)",
        ),
        (
            "{code}}",
            "unmatched '}' at character 6 (write '}}' for a literal brace)",
        ),
    ];
    for (source, message) in cases {
        let err = Template::parse(source).unwrap_err();
        assert_eq!(err.to_string(), message, "{source:?}");
    }
    assert_eq!(
        Template::parse("خصم {cod}").unwrap_err(),
        TemplateError::UnknownPlaceholder {
            name: "cod".to_owned(),
            position: 4,
            suggestion: Some(Placeholder::Code),
        }
    );
    let long = format!("{{{}}}", "x".repeat(100));
    let TemplateError::UnknownPlaceholder { name, .. } = Template::parse(&long).unwrap_err() else {
        panic!("not an unknown placeholder");
    };
    assert_eq!(name.chars().count(), NAME_EXCERPT_CHARS + 1);
}

#[test]
fn escaped_braces_render_literally() {
    let context = full(Language::En);
    let cases = [
        ("{{code}}", "{code}"),
        ("{{{code}}}", "{BAKE-7K3-MQ9}"),
        ("}}{{", "}{"),
        ("{{{{", "{{"),
        ("", ""),
    ];
    for (source, rendered) in cases {
        let template = Template::parse(source).unwrap();
        assert_eq!(template.render(&context).unwrap(), rendered, "{source:?}");
    }
    assert_eq!(
        Template::parse("{{code}}").unwrap().placeholders().count(),
        0
    );
}

#[test]
fn template_json_is_its_source_and_is_validated() {
    let template = Template::parse("استخدم {code} {{x}}").unwrap();
    let json = serde_json::to_string(&template).unwrap();
    assert_eq!(json, r#""استخدم {code} {{x}}""#);
    assert_eq!(serde_json::from_str::<Template>(&json).unwrap(), template);
    let err = serde_json::from_str::<Template>(r#""{cod}""#).unwrap_err();
    assert!(
        err.to_string().contains("unknown placeholder {cod}"),
        "{err}"
    );
    assert!(serde_json::from_str::<Template>(r#""{code""#).is_err());
}

#[test]
fn share_messages_json_round_trip() {
    let messages = ShareMessages::new()
        .with_template(
            Channel::WhatsApp,
            Language::Ar,
            Template::parse("رمزي {code}").unwrap(),
        )
        .with_template(
            Channel::Email,
            Language::En,
            MessageTemplate::new(Template::parse("{code}").unwrap())
                .with_subject(Template::parse("From {name}").unwrap()),
        )
        .with_template(
            Channel::custom("podcast").unwrap(),
            Language::En,
            Template::parse("Code {code}").unwrap(),
        );
    let json = serde_json::to_string(&messages).unwrap();
    assert_eq!(
        json,
        r#"{"overrides":{"email":{"en":{"subject":"From {name}","body":"{code}"}},"whatsapp":{"ar":{"body":"رمزي {code}"}},"podcast":{"en":{"body":"Code {code}"}}}}"#
    );
    assert_eq!(
        serde_json::from_str::<ShareMessages>(&json).unwrap(),
        messages
    );
    assert_eq!(
        serde_json::from_str::<ShareMessages>("{}").unwrap(),
        ShareMessages::new()
    );
    for bad in [
        r#"{"overrides":{"sms":{"en":{"body":"{cod}"}}}}"#,
        r#"{"overrides":{"sms":{"fr":{"body":"{code}"}}}}"#,
        r#"{"overrides":{"Bad Channel!":{"en":{"body":"{code}"}}}}"#,
        r#"{"overrides":{"sms":{"en":{"body":"{code}","subjct":"x"}}}}"#,
        // One channel under two of its names: one would silently win.
        r#"{"overrides":{"wa":{"en":{"body":"A {code}"}},"whatsapp":{"en":{"body":"B {code}"}}}}"#,
        r#"{"overrides":{"sms":{"en":{"body":"A {code}"},"en":{"body":"B {code}"}}}}"#,
        r#"{"overides":{}}"#,
    ] {
        assert!(serde_json::from_str::<ShareMessages>(bad).is_err(), "{bad}");
    }
}

#[test]
fn overrides_win_per_channel_and_language() {
    let messages = ShareMessages::new().with_template(
        Channel::Sms,
        Language::Ar,
        Template::parse("رمزي {code}").unwrap(),
    );
    let ar = messages.render(&Channel::Sms, &full(Language::Ar)).unwrap();
    assert_eq!(ar.body, "رمزي \u{2066}BAKE-7K3-MQ9\u{2069}");
    let en = messages.render(&Channel::Sms, &full(Language::En)).unwrap();
    assert_eq!(
        en,
        builtin(&Channel::Sms, Language::En, true)
            .render(&full(Language::En))
            .unwrap()
    );
    let other = messages
        .render(&Channel::WhatsApp, &full(Language::Ar))
        .unwrap();
    assert_ne!(other, ar);
}

#[test]
fn email_override_without_subject_keeps_the_default_subject() {
    let messages = ShareMessages::new().with_template(
        Channel::Email,
        Language::Ar,
        Template::parse("رمزي {code}").unwrap(),
    );
    let message = messages
        .render(&Channel::Email, &full(Language::Ar))
        .unwrap();
    assert_eq!(
        message.subject.as_deref(),
        Some("هدية لك: خصم \u{2066}25.00 SAR\u{2069} من \u{2068}Bake & Co\u{2069}")
    );
    assert_eq!(message.body, "رمزي \u{2066}BAKE-7K3-MQ9\u{2069}");
}

#[test]
fn language_serde_and_tags() {
    assert_eq!(serde_json::to_string(&Language::Ar).unwrap(), r#""ar""#);
    assert_eq!(
        serde_json::from_str::<Language>(r#""en""#).unwrap(),
        Language::En
    );
    assert!(serde_json::from_str::<Language>(r#""EN""#).is_err());
    for (tag, expected) in [
        ("ar", Some(Language::Ar)),
        ("AR-sa", Some(Language::Ar)),
        (" ar_EG.UTF-8 ", Some(Language::Ar)),
        ("en-US", Some(Language::En)),
        ("arz", None),
        ("fr", None),
        ("", None),
        ("-", None),
    ] {
        assert_eq!(Language::from_tag(tag), expected, "{tag:?}");
    }
    assert!(Language::Ar.is_rtl() && !Language::En.is_rtl());
}

#[test]
fn placeholder_names_agree_with_the_const_table() {
    for (p, name) in Placeholder::ALL.iter().zip(PLACEHOLDER_NAMES) {
        assert_eq!(p.as_str(), name);
        assert_eq!(Placeholder::from_name(name), Some(*p));
    }
}

#[test]
fn suggestions_are_close_or_absent() {
    assert_eq!(suggest("lnk"), Some(Placeholder::Link));
    assert_eq!(suggest("refere_reward"), Some(Placeholder::RefereeReward));
    assert_eq!(suggest("NAME"), Some(Placeholder::Name));
    assert_eq!(suggest("coupon"), None);
    assert_eq!(suggest(&"x".repeat(1000)), None);
    assert_eq!(edit_distance("", "abc"), 3);
    assert_eq!(edit_distance("kitten", "sitting"), 3);
}

/// Template-like text: braces, placeholder names and Unicode.
fn template_ish() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("{{".to_owned()),
        Just("}}".to_owned()),
        (0..PLACEHOLDER_NAMES.len()).prop_map(|i| format!("{{{}}}", PLACEHOLDER_NAMES[i])),
        (0..PLACEHOLDER_NAMES.len()).prop_map(|i| PLACEHOLDER_NAMES[i].to_owned()),
        Just("رمز".to_owned()),
        Just("\u{2069}".to_owned()),
        "\\PC{1,4}",
    ];
    prop::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
}

fn any_value() -> impl Strategy<Value = String> {
    prop_oneof![
        "\\PC{1,12}",
        "[a-z\u{0627}-\u{064A}\u{200E}\u{200F}\u{202A}-\u{202E}\u{2066}-\u{2069} -]{1,12}",
    ]
}

proptest! {
    #[test]
    fn template_parse_never_panics(source in "\\PC*") {
        let _ = Template::parse(&source);
    }

    #[test]
    fn const_validator_agrees_with_parse(source in template_ish()) {
        prop_assert_eq!(is_valid_template(&source), Template::parse(&source).is_ok(), "{:?}", source);
    }

    #[test]
    fn parsed_templates_round_trip_through_source_and_json(source in template_ish()) {
        if let Ok(template) = Template::parse(&source) {
            prop_assert_eq!(&Template::parse(template.as_str()).unwrap(), &template);
            let json = serde_json::to_string(&template).unwrap();
            prop_assert_eq!(serde_json::from_str::<Template>(&json).unwrap(), template);
        }
    }

    #[test]
    fn escaped_text_renders_verbatim(text in any::<String>()) {
        let escaped = text.replace('{', "{{").replace('}', "}}");
        let template = Template::parse(&escaped).unwrap();
        prop_assert_eq!(template.render(&full(Language::Ar)).unwrap(), text);
    }

    #[test]
    fn rendered_isolates_are_always_balanced(
        names in prop::collection::vec(0..PLACEHOLDER_NAMES.len(), 0..8),
        code in any_value(),
        link in any_value(),
        name in any_value(),
        program in any_value(),
        rtl in any::<bool>(),
    ) {
        let source: String = names.iter().map(|&i| format!("{{{}}} ", PLACEHOLDER_NAMES[i])).collect();
        let language = if rtl { Language::Ar } else { Language::En };
        let context = ShareContext::new(code, language)
            .with_link(link)
            .with_name(name)
            .with_program(program)
            .with_reward(Money::new(-5, Currency::KWD))
            .with_referee_reward(Money::new(i64::MAX, Currency::JPY));
        match Template::parse(&source).unwrap().render(&context) {
            Ok(text) => {
                // Values' own isolates are stripped; only ours remain,
                // each opened and closed in order.
                let mut depth = 0usize;
                for c in text.chars() {
                    if c == LRI || c == FSI { depth += 1; prop_assert_eq!(depth, 1); }
                    if c == PDI { prop_assert_eq!(depth, 1); depth -= 1; }
                    let foreign = matches!(c, '\u{202A}'..='\u{202E}' | '\u{2067}');
                    prop_assert!(!foreign, "a value's own bidi control in {:?}", text);
                }
                prop_assert_eq!(depth, 0);
            }
            Err(TemplateError::MissingValue { .. }) => {} // a blank value
            Err(e) => prop_assert!(false, "{e}"),
        }
    }
}
