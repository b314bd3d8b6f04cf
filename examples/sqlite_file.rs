//! The quickstart's bakery on a SQLite file: each run is one more day of
//! the program, and finds every earlier day's referrals and rewards in the
//! file. Run it twice:
//!
//! ```sh
//! cargo run --features sqlite --example sqlite_file -- /tmp/bakery.db
//! cargo run --features sqlite --example sqlite_file -- /tmp/bakery.db
//! ```
//!
//! The second run prints "day 2" and Amira's balance from both days.

use chrono::{TimeDelta, TimeZone, Utc};
use referrals::engine::ConversionOutcome;
use referrals::model::{Conversion, CustomerId, EventId, OrderId, Signup};
use referrals::store::SqliteStore;
use referrals::{Currency, Engine, Money, Program};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("referrals-bakery.db"));
    let sar = |minor| Money::new(minor, Currency::SAR);
    let program = Program::builder("riyadh-bakery", "Riyadh Bakery friends")
        .currency(Currency::SAR)
        .two_sided_reward(sar(1500), sar(1000))
        .build()?;
    let engine = Engine::new(SqliteStore::open(&path).await?, program);
    let amira = CustomerId::new("amira")?;

    // Amira's code is the one an earlier run issued, if there was one.
    let start = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    let code = engine.issue_code(&amira, start).await?.record.code;
    let earlier = engine.balance(&amira).await?;
    let day = earlier.minor() / 1500 + 1;
    println!("{}: day {day}; Amira's code {code}", path.display());
    if day > 1 {
        println!("  found from earlier runs: Amira has {earlier}");
    }

    // Today a new friend signs up with her code and buys.
    let friend = CustomerId::new(format!("friend-{day}"))?;
    let at = start + TimeDelta::days(day - 1);
    engine
        .record_signup(&Signup {
            id: EventId::new(format!("signup-{day}"))?,
            customer: friend.clone(),
            visitor: None,
            code: Some(code),
            channel: None,
            at,
        })
        .await?;
    let outcome = engine
        .record_conversion(&Conversion {
            order: OrderId::new(format!("order-{day}"))?,
            customer: friend.clone(),
            amount: sar(12_000),
            at: at + TimeDelta::hours(2),
        })
        .await?;
    if let ConversionOutcome::Rewarded { payouts, .. } = &outcome {
        println!("  {friend} bought: {} rewards paid", payouts.len());
    }
    println!(
        "  Amira now has {}, {friend} has {}",
        engine.balance(&amira).await?,
        engine.balance(&friend).await?
    );
    Ok(())
}
