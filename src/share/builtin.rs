//! The built-in texts per channel kind and language, checked at compile
//! time.

use super::template::PLACEHOLDER_NAMES;
use super::{Language, MessageTemplate, Template};
use crate::model::Channel;

/// Which built-in text a channel uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Chat,
    Email,
    Social,
    Counter,
    Generic,
}

impl Kind {
    fn of(channel: &Channel) -> Kind {
        match channel {
            Channel::Sms | Channel::WhatsApp | Channel::Telegram | Channel::Snapchat => Kind::Chat,
            Channel::Email => Kind::Email,
            Channel::X
            | Channel::Instagram
            | Channel::TikTok
            | Channel::Facebook
            | Channel::LinkedIn => Kind::Social,
            Channel::Qr | Channel::InStore => Kind::Counter,
            Channel::Link | Channel::Custom(_) => Kind::Generic,
        }
    }
}

/// A built-in text: an optional subject and a body, as template source.
#[derive(Debug, Clone, Copy)]
struct Text {
    subject: Option<&'static str>,
    body: &'static str,
}

const fn body(body: &'static str) -> Text {
    Text {
        subject: None,
        body,
    }
}

/// The built-in texts, indexed `[kind][language][with referee reward]`.
///
/// Language index: 0 English, 1 Arabic. Every entry is checked at compile
/// time by [`is_valid_template`] below.
const TEXTS: [[[Text; 2]; 2]; 5] = [
    // Chat: WhatsApp, SMS, Telegram, Snapchat.
    [
        [
            body("You'll love {program}! Sign up with my code {code}: {link}"),
            body(
                "You'll love {program}! Use my code {code} to get {referee_reward} off your first order: {link}",
            ),
        ],
        [
            body("أنصحك بتجربة {program}! سجّل باستخدام رمزي {code}:\n{link}"),
            body(
                "أنصحك بتجربة {program}! استخدم رمزي {code} واحصل على خصم {referee_reward} على طلبك الأول:\n{link}",
            ),
        ],
    ],
    // E-mail.
    [
        [
            Text {
                subject: Some("Join me at {program}"),
                body: "Hi,\n\nI've been enjoying {program} and I think you'll like it too. \
                       Sign up with my code {code}:\n\n{link}\n\nSee you there!",
            },
            Text {
                subject: Some("A gift for you: {referee_reward} off at {program}"),
                body: "Hi,\n\nI've been enjoying {program} and I think you'll like it too. \
                       Use my code {code} to get {referee_reward} off your first order:\n\n{link}\n\nEnjoy!",
            },
        ],
        [
            Text {
                subject: Some("انضم إليّ في {program}"),
                body: "مرحبًا،\n\nجرّبت {program} وأعجبني كثيرًا، وأظنه سيعجبك أيضًا. \
                       سجّل باستخدام رمزي {code}:\n\n{link}\n\nمع أطيب التحيات",
            },
            Text {
                subject: Some("هدية لك: خصم {referee_reward} من {program}"),
                body: "مرحبًا،\n\nجرّبت {program} وأعجبني كثيرًا، وأظنه سيعجبك أيضًا. \
                       استخدم رمزي {code} واحصل على خصم {referee_reward} على طلبك الأول:\n\n{link}\n\nمع أطيب التحيات",
            },
        ],
    ],
    // Social posts: X, Instagram, TikTok, Facebook, LinkedIn.
    [
        [
            body("Join me at {program} with my code {code} 🎁 {link}"),
            body(
                "{referee_reward} off your first order at {program} with my code {code} 🎁 {link}",
            ),
        ],
        [
            body("انضم إليّ في {program} مع رمزي {code} 🎁\n{link}"),
            body("خصم {referee_reward} على طلبك الأول من {program} مع رمزي {code} 🎁\n{link}"),
        ],
    ],
    // Counter: QR codes and in-store, no link.
    [
        [
            body("Show this code at the counter at {program}: {code}"),
            body(
                "Show this code at the counter: {code}\n{referee_reward} off your first order at {program}.",
            ),
        ],
        [
            body("اعرض هذا الرمز عند الدفع في {program}: {code}"),
            body(
                "اعرض هذا الرمز عند الدفع: {code}\nخصم {referee_reward} على طلبك الأول من {program}.",
            ),
        ],
    ],
    // Generic: copied links, custom channels.
    [
        [
            body("Join me at {program}! Sign up with my code {code}: {link}"),
            body(
                "Join me at {program}! Use my code {code} to get {referee_reward} off your first order: {link}",
            ),
        ],
        [
            body("انضم إليّ في {program}! سجّل باستخدام رمزي {code}:\n{link}"),
            body(
                "انضم إليّ في {program}! استخدم رمزي {code} واحصل على خصم {referee_reward} على طلبك الأول:\n{link}",
            ),
        ],
    ],
];

// Every built-in text parses: checked by the compiler, so that `builtin`
// below cannot fail at run time.
const _: () = {
    let mut kind = 0;
    while kind < TEXTS.len() {
        let mut language = 0;
        while language < 2 {
            let mut reward = 0;
            while reward < 2 {
                let text = TEXTS[kind][language][reward];
                assert!(
                    is_valid_template(text.body),
                    "a built-in body does not parse"
                );
                if let Some(subject) = text.subject {
                    assert!(
                        is_valid_template(subject),
                        "a built-in subject does not parse"
                    );
                }
                reward += 1;
            }
            language += 1;
        }
        kind += 1;
    }
};

/// Whether `source` parses as a [`Template`]: the same grammar as
/// [`Template::parse`], over bytes so that it runs at compile time. Braces
/// are ASCII, so byte scanning is exact for UTF-8 text.
pub(super) const fn is_valid_template(source: &str) -> bool {
    let bytes = source.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let doubled = i + 1 < bytes.len() && bytes[i + 1] == bytes[i];
        if bytes[i] == b'{' && !doubled {
            let start = i + 1;
            let mut end = start;
            while end < bytes.len() && bytes[end] != b'}' {
                if bytes[end] == b'{' {
                    return false;
                }
                end += 1;
            }
            if end == bytes.len() || !is_placeholder_name(bytes, start, end) {
                return false;
            }
            i = end + 1;
        } else if bytes[i] == b'}' && !doubled {
            return false;
        } else if bytes[i] == b'{' || bytes[i] == b'}' {
            i += 2;
        } else {
            i += 1;
        }
    }
    true
}

/// Whether `bytes[start..end]` is a placeholder name.
const fn is_placeholder_name(bytes: &[u8], start: usize, end: usize) -> bool {
    let mut k = 0;
    while k < PLACEHOLDER_NAMES.len() {
        let name = PLACEHOLDER_NAMES[k].as_bytes();
        if name.len() == end - start {
            let mut j = 0;
            while j < name.len() && name[j] == bytes[start + j] {
                j += 1;
            }
            if j == name.len() {
                return true;
            }
        }
        k += 1;
    }
    false
}

/// The built-in template for a channel, language and reward variant.
pub(super) fn builtin(channel: &Channel, language: Language, with_reward: bool) -> MessageTemplate {
    let kind = match Kind::of(channel) {
        Kind::Chat => 0,
        Kind::Email => 1,
        Kind::Social => 2,
        Kind::Counter => 3,
        Kind::Generic => 4,
    };
    let language = match language {
        Language::En => 0,
        Language::Ar => 1,
    };
    let text = TEXTS[kind][language][usize::from(with_reward)];
    MessageTemplate {
        subject: text.subject.map(parse_builtin),
        body: parse_builtin(text.body),
    }
}

fn parse_builtin(source: &'static str) -> Template {
    // OK because every built-in text is checked by `is_valid_template` at
    // compile time (the `const _` block above), and the test
    // `const_validator_agrees_with_parse` checks that it accepts exactly
    // what `Template::parse` accepts.
    Template::parse(source).expect("built-in templates are checked at compile time")
}
