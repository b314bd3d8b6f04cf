//! A bakery's referral program in Saudi riyals, step by step, on the
//! in-memory store: issue a code, share it on WhatsApp, a friend clicks,
//! signs up and buys, both are rewarded, then a refund claws the rewards
//! back.
//!
//! Run: `cargo run --example quickstart`

use chrono::{TimeDelta, TimeZone, Utc};
use referrals::engine::{ConversionOutcome, SignupOutcome, TouchOutcome, block_on};
use referrals::model::{
    Actor, Conversion, CustomerId, EventId, OrderId, Refund, RefundAmount, RefundId, Signup, Touch,
    TouchKind, VisitorId,
};
use referrals::url::Url;
use referrals::{
    Channel, Currency, Engine, Language, MemoryStore, Money, Program, ShareContext, ShareLink,
    ShareMessages,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sar = |minor| Money::new(minor, Currency::SAR);
    let program = Program::builder("riyadh-bakery", "Riyadh Bakery friends")
        .currency(Currency::SAR)
        .terms(
            1,
            "Invite a friend: you get 15 SAR and your friend 10 SAR after their first order.",
        )
        .lookback_days(30)
        .two_sided_reward(sar(1500), sar(1000))
        .build()?;
    println!(
        "Program: {} (terms v{})",
        program.name(),
        program.terms().version
    );
    println!("  {}", program.terms().text);
    let engine = Engine::new(MemoryStore::new(), program);
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();

    block_on(async {
        // 1. Amira, a regular, gets her referral code.
        let amira = CustomerId::new("amira")?;
        let issued = engine.issue_code(&amira, now).await?;
        println!("\n1. Amira's code: {}", issued.display);
        let code = issued.record.code;

        // 2. She shares it on WhatsApp, in Arabic: the link carries the code
        //    and the channel, the message keeps the Latin code readable
        //    inside right-to-left text.
        let landing = Url::parse("https://riyadh-bakery.example/welcome")?;
        let link = ShareLink::build(&landing, &code, &Channel::WhatsApp, Some("رمضان"))?;
        println!("2. Her WhatsApp link: {link}");
        let context = ShareContext::for_code(&code, engine.program().code_format(), Language::Ar)
            .with_link(link.clone())
            .with_program(engine.program().name())
            .with_referee_reward(sar(1000));
        let message = ShareMessages::new().render(&Channel::WhatsApp, &context)?;
        println!(
            "   Her message:\n     {}",
            message.body.replace('\n', "\n     ")
        );
        // What the bakery's landing page reads back from the link.
        let parsed = ShareLink::parse(link.as_str(), engine.program().code_format())?;
        println!(
            "   The landing page reads: code {}, channel {:?}, campaign {:?}",
            parsed.code,
            parsed.channel.as_ref().map(|c| c.as_str()),
            parsed.campaign
        );

        // 3. Her friend Badr clicks the link (not signed in yet).
        let visitor = VisitorId::new("cookie-7f3a")?;
        let clicked = engine
            .record_touch(&Touch {
                id: EventId::new("click-1")?,
                actor: Actor::Visitor(visitor.clone()),
                code,
                channel: Channel::WhatsApp,
                kind: TouchKind::Click,
                at: now + TimeDelta::minutes(10),
            })
            .await?;
        if let TouchOutcome::Recorded { referrer, .. } = &clicked {
            println!("3. A visitor clicked the link: touch recorded for referrer {referrer}");
        }

        // 4. Badr signs up in the same browser.
        let badr = CustomerId::new("badr")?;
        let joined = engine
            .record_signup(&Signup {
                id: EventId::new("signup-1")?,
                customer: badr.clone(),
                visitor: Some(visitor),
                code: None,
                channel: None,
                at: now + TimeDelta::minutes(15),
            })
            .await?;
        if let SignupOutcome::Referred { referral, .. } = &joined {
            println!(
                "4. Badr signed up, referred by {} via {}",
                referral.referrer, referral.channel
            );
        }

        // 5. Two days later Badr orders 120 SAR of pastries.
        let order = OrderId::new("order-1001")?;
        let bought = engine
            .record_conversion(&Conversion {
                order: order.clone(),
                customer: badr.clone(),
                amount: sar(12_000),
                at: now + TimeDelta::days(2),
            })
            .await?;
        if let ConversionOutcome::Rewarded { payouts, .. } = &bought {
            println!("5. Badr ordered 120.00 SAR; rewards booked:");
            for p in payouts {
                println!(
                    "     {:<6} {:?}: {}",
                    p.beneficiary.as_str(),
                    p.role,
                    p.kind
                );
            }
        }
        // A retried call (say the HTTP request timed out) pays nothing twice.
        let retried = engine
            .record_conversion(&Conversion {
                order: order.clone(),
                customer: badr.clone(),
                amount: sar(12_000),
                at: now + TimeDelta::days(2),
            })
            .await?;
        assert_eq!(retried, bought);
        println!(
            "   (the same order reported again returns the same outcome, nothing is paid twice)"
        );
        println!(
            "   Balances: Amira {}, Badr {}",
            engine.balance(&amira).await?,
            engine.balance(&badr).await?
        );

        // 6. The order is refunded in full: both rewards are clawed back.
        let refunded = engine
            .record_refund(&Refund {
                id: RefundId::new("refund-1")?,
                order,
                amount: RefundAmount::Full,
                at: now + TimeDelta::days(5),
            })
            .await?;
        println!("6. Order refunded ({}); clawbacks:", refunded.refunded);
        for c in &refunded.clawbacks {
            println!("     {:<6} {} {}", c.customer.as_str(), c.kind, c.quantity);
        }
        println!(
            "   Balances: Amira {}, Badr {}",
            engine.balance(&amira).await?,
            engine.balance(&badr).await?
        );
        println!("\nAmira's ledger:");
        for e in engine.ledger(&amira).await? {
            let change = e.net_money().map_or(String::new(), |m| m.to_string());
            let order = e.order.as_ref().map_or("-", |o| o.as_str());
            println!(
                "  {}  {:<9}  {change:>10}  order {order}",
                e.at.format("%Y-%m-%d"),
                e.kind.as_str(),
            );
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
