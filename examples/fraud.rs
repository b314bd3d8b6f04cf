//! Fraud screening through the engine: a program with fraud settings, a
//! referrer, and a handful of referees, honest and not. Each signup or
//! order prints the verdict per side with its reasons; the review queue,
//! a reviewer's decisions, erasure and export follow.
//!
//! Run: `cargo run --example fraud`

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use referrals::engine::{HostFacts, SignupOutcome, block_on};
use referrals::fraud::FraudSettings;
use referrals::fraud::identity::{IdentityInput, IdentityKey, KeyId, Keyring, NormaliseOptions};
use referrals::model::{Conversion, CustomerId, EventId, OperatorId, OrderId, Signup};
use referrals::{Code, Currency, Engine, MemoryStore, Money, Program};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn t(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap() + TimeDelta::minutes(minutes)
}

fn person(email: &str, phone: Option<&str>, device: &str, ip: &str) -> IdentityInput {
    IdentityInput {
        email: Some(email.into()),
        phone: phone.map(Into::into),
        device: Some(device.into()),
        ip: Some(ip.into()),
        ..IdentityInput::default()
    }
}

fn main() -> Result<()> {
    // The program's secret: in production from a secret store, rotated
    // with `Keyring::rotate` (old hashes stay comparable).
    let keys = Keyring::new(IdentityKey::new(
        KeyId::new(1),
        b"riyadh-bakery: 32 bytes or more.",
    )?);
    let settings = FraudSettings::default()
        .with_identity(NormaliseOptions::default().with_default_region(966)?)
        .with_retention_days(365);
    let program = Program::builder("bakery", "Riyadh Bakery")
        .currency(Currency::SAR)
        .two_sided_reward(
            Money::new(1_500, Currency::SAR),
            Money::new(1_000, Currency::SAR),
        )
        .fraud(settings)
        .build()?;
    let engine = Engine::new(MemoryStore::new(), program).with_identity_keyring(keys);
    let facts = HostFacts::default();

    let amira = CustomerId::new("amira")?;
    block_on(engine.record_signup_screened(
        &signup("amira", None, t(0))?,
        &facts,
        &person(
            "amira.saleh@gmail.com",
            Some("+966 50 123 4567"),
            "ios-7f3a",
            "203.0.113.7",
        ),
    ))?;
    let code = block_on(engine.issue_code(&amira, t(0)))?.record.code;
    println!("Amira's code: {code}\n");

    let stories: [(&str, &str, IdentityInput); 4] = [
        (
            "badr",
            "Badr, her brother, at home on his own phone",
            person(
                "badr@example.com",
                Some("٠٥٠٧٦٥٤٣٢١"),
                "android-b",
                "203.0.113.9",
            ),
        ),
        (
            "amira-2",
            "A second account: her Gmail with dots moved and a +tag",
            person(
                "Amira.Saleh+promo@googlemail.com",
                None,
                "android-x",
                "198.51.100.4",
            ),
        ),
        (
            "hind",
            "Hind, who signs up on Amira's tablet",
            person("hind@example.com", None, "ios-7f3a", "192.0.2.44"),
        ),
        (
            "omar",
            "Omar, a colleague, on his own everything",
            person(
                "omar@example.org",
                Some("+971 50 765 4321"),
                "pixel-o",
                "192.0.2.80",
            ),
        ),
    ];
    for (i, (who, story, identity)) in stories.iter().enumerate() {
        let at = t(60 * (i as i64 + 1));
        let out = block_on(engine.record_signup_screened(
            &signup(who, Some(code), at)?,
            &facts,
            identity,
        ))?;
        println!("{story}");
        match &out {
            SignupOutcome::Referred { .. } => println!("  referred by amira"),
            SignupOutcome::NotReferred { reason } => println!("  not referred: {reason:?}"),
            _ => {}
        }
        if let Some(s) =
            block_on(engine.customer(&CustomerId::new(*who)?))?.and_then(|c| c.screening)
        {
            println!(
                "  verdict: referrer {:?}, referee {:?}",
                s.verdict.referrer, s.verdict.referee
            );
            for reason in &s.verdict.reasons {
                println!("  - {reason}");
            }
        } else {
            println!("  verdict: clean");
        }
        // Each referee buys the next day.
        let order = Conversion {
            order: OrderId::new(format!("order-{who}"))?,
            customer: CustomerId::new(*who)?,
            amount: Money::new(12_000, Currency::SAR),
            at: at + TimeDelta::days(1),
        };
        block_on(engine.record_conversion(&order))?;
        println!();
    }

    let queue = block_on(engine.review_queue(None, 10))?;
    println!("Review queue: {} rewards", queue.len());
    let reviewer = OperatorId::new("noura")?;
    for r in &queue {
        let order = r.order.as_ref().map_or("", |o| o.as_str());
        println!(
            "  {} ({:?}, {order}): {} held",
            r.customer,
            r.role,
            r.kind.quantity()
        );
        // Badr shares his sister's home network: a person approves it. The
        // shared tablet is a second account: rejected.
        if order == "order-badr" {
            block_on(engine.approve(&r.id, &reviewer, "family on one home network", t(4_000)))?;
            println!("    approved by {reviewer}");
        } else {
            block_on(engine.reject(&r.id, &reviewer, "shared tablet, second account", t(4_000)))?;
            println!("    rejected by {reviewer}");
        }
    }
    println!();
    for who in ["amira", "badr", "hind", "omar"] {
        let balance = block_on(engine.balance(&CustomerId::new(who)?))?;
        println!("{who}: {balance}");
    }

    let export = block_on(engine.export_customer(&CustomerId::new("hind")?))?;
    println!(
        "\nHind's export: {} bytes of JSON, {} identity hashes, {} rewards",
        serde_json::to_string(&export)?.len(),
        export.identity.as_ref().map_or(0, |i| i.signals.len()),
        export.rewards.len()
    );
    let erased = block_on(engine.erase_customer(&CustomerId::new("hind")?))?;
    println!(
        "Hind erased: {} hashes removed; her balance is still {}",
        erased.identity_hashes,
        block_on(engine.balance(&CustomerId::new("hind")?))?
    );
    Ok(())
}

fn signup(customer: &str, code: Option<Code>, at: DateTime<Utc>) -> Result<Signup> {
    Ok(Signup {
        id: EventId::new(format!("signup-{customer}"))?,
        customer: CustomerId::new(customer)?,
        visitor: None,
        code,
        channel: None,
        at,
    })
}
