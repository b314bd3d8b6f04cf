//! Retrying engine calls: what `Error::is_retryable` is for.
//!
//! A store can fail for a moment (a dropped connection, a failover), and
//! concurrent writers can keep winning a race until the engine gives up;
//! both come back as errors with `is_retryable() == true`. Calling again
//! with the same event is always safe: every event is idempotent by its id,
//! so even when the store applied the event and only the answer was lost,
//! the retry returns the first outcome and never pays twice. Every other
//! error (a malformed event, an id reused for another event) is not
//! retryable: retrying cannot help, so report it.
//!
//! The in-memory store never fails, so this example simulates what a real
//! store would do: an outage before the call reaches the store, then an
//! answer lost after the store applied it.
//!
//! Run: `cargo run --example retry`

use std::thread::sleep;
use std::time::Duration;

use chrono::{TimeDelta, TimeZone, Utc};
use referrals::engine::{ConversionOutcome, block_on};
use referrals::model::{Conversion, CustomerId, EventId, OrderId, Signup};
use referrals::store::StoreError;
use referrals::{Currency, Engine, Error, MemoryStore, Money, Program};

/// Attempts per call, the first included.
const MAX_ATTEMPTS: u32 = 5;
/// The wait after the first failure; it doubles after each further one.
const BASE_DELAY: Duration = Duration::from_millis(20);
/// The longest wait between two attempts.
const MAX_DELAY: Duration = Duration::from_millis(200);

/// Calls `call` (with the attempt number, from 1) until it succeeds, fails
/// with an error that is not retryable, or has been tried `MAX_ATTEMPTS`
/// times, waiting a bounded, doubling delay between attempts.
///
/// This is the synchronous form, for `block_on`; in an async host, make it
/// an `async fn` that awaits the runtime's sleep (`tokio::time::sleep`)
/// instead of blocking the thread, and with many clients add some random
/// jitter to the delay so that they do not all retry at once.
fn retry<T>(what: &str, mut call: impl FnMut(u32) -> Result<T, Error>) -> Result<T, Error> {
    let mut attempt = 1;
    loop {
        match call(attempt) {
            Ok(value) => {
                println!("   {what}: done on attempt {attempt}");
                return Ok(value);
            }
            Err(e) if e.is_retryable() && attempt < MAX_ATTEMPTS => {
                let delay = BASE_DELAY.saturating_mul(1 << (attempt - 1)).min(MAX_DELAY);
                println!("   {what}: attempt {attempt} failed ({e}); retrying in {delay:?}");
                sleep(delay);
                attempt += 1;
            }
            Err(e) => {
                let why = if e.is_retryable() {
                    "still failing"
                } else {
                    "not retryable"
                };
                println!(
                    "   {what}: giving up on attempt {attempt}, {why}: {:?}: {e}",
                    e.kind()
                );
                return Err(e);
            }
        }
    }
}

/// What a store's driver reports when the connection drops: a retryable
/// store error.
fn outage() -> Error {
    Error::from(StoreError::unavailable("connection reset (simulated)"))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sar = |minor| Money::new(minor, Currency::SAR);
    let program = Program::builder("bakery", "Bakery friends")
        .currency(Currency::SAR)
        .two_sided_reward(sar(1500), sar(1000))
        .build()?;
    let engine = Engine::new(MemoryStore::new(), program);
    let now = Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap();
    let amira = CustomerId::new("amira")?;
    let badr = CustomerId::new("badr")?;

    println!("1. Amira gets a code and Badr signs up with it (no failures).");
    let code = retry("issue_code", |_| {
        block_on(engine.issue_code(&amira, now)).map(|issued| issued.record.code)
    })?;
    let signup = Signup {
        id: EventId::new("signup-1")?,
        customer: badr.clone(),
        visitor: None,
        code: Some(code),
        channel: None,
        at: now,
    };
    retry("record_signup", |_| block_on(engine.record_signup(&signup)))?;

    println!("\n2. Badr's first order, while the store is having a bad moment:");
    println!("   attempt 1 never reaches the store; attempt 2 is applied but its");
    println!("   answer is lost; attempt 3 gets the first outcome back.");
    let order = Conversion {
        order: OrderId::new("order-1")?,
        customer: badr.clone(),
        amount: sar(12_000),
        at: now + TimeDelta::days(1),
    };
    let outcome = retry("record_conversion", |attempt| match attempt {
        1 => Err(outage()),
        2 => {
            let applied = block_on(engine.record_conversion(&order))?;
            let rewarded = matches!(applied, ConversionOutcome::Rewarded { .. });
            println!("   (the store applied it, rewarded: {rewarded}; the answer is lost)");
            Err(outage())
        }
        _ => block_on(engine.record_conversion(&order)),
    })?;
    assert!(matches!(outcome, ConversionOutcome::Rewarded { .. }));
    let balance = retry("balance", |_| block_on(engine.balance(&amira)))?;
    println!("   Amira's balance: {balance}, paid once for three attempts");
    assert_eq!(balance, sar(1500));

    println!("\n3. The same order id sent with another amount: not retryable.");
    let changed = Conversion {
        amount: sar(99_000),
        ..order.clone()
    };
    let err = retry("record_conversion", |_| {
        block_on(engine.record_conversion(&changed))
    })
    .unwrap_err();
    assert!(!err.is_retryable());
    Ok(())
}

// Run by `cargo test` (`test = true` for this example in Cargo.toml).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_runs() {
        main().unwrap();
    }

    #[test]
    fn retries_are_bounded_and_only_for_retryable_errors() {
        let mut calls = 0;
        let err = retry("always down", |_| -> Result<(), Error> {
            calls += 1;
            Err(outage())
        })
        .unwrap_err();
        assert!(err.is_retryable());
        assert_eq!(calls, MAX_ATTEMPTS);

        let mut calls = 0;
        let err = retry("bad input", |_| -> Result<(), Error> {
            calls += 1;
            Err(Error::new(referrals::ErrorKind::InvalidInput, "bad"))
        })
        .unwrap_err();
        assert!(!err.is_retryable());
        assert_eq!(calls, 1);
    }
}
