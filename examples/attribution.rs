//! Attribution, both questions our users ask:
//!
//! 1. Which referrers earn the reward for this purchase? One referee's
//!    journey across three friends' links, credited under every model side
//!    by side, with a 30.00 SAR referrer reward split exactly.
//! 2. Which channels drive referred sales? A channel report over generated
//!    journeys.
//!
//! Run: `cargo run --example attribution`

use chrono::{TimeDelta, TimeZone, Utc};
use referrals::attribution::channel::{
    Journey, JourneySetBuilder, MarkovOptions, PositionWeights, ShapleyOptions,
};
use referrals::attribution::{AttributionPolicy, Model, TouchPoint, attribute};
use referrals::model::{CustomerId, TouchKind};
use referrals::{Channel, Currency, Money};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Part 1: one referee, three friends.
    let bought = Utc.with_ymd_and_hms(2026, 4, 20, 18, 0, 0).unwrap();
    let journey = [
        ("amira", Channel::Email, 12),
        ("badr", Channel::WhatsApp, 6),
        ("amira", Channel::Instagram, 3),
        ("chadi", Channel::Sms, 1),
    ];
    let touches: Vec<TouchPoint> = journey
        .iter()
        .enumerate()
        .map(|(i, (who, channel, days_before))| {
            Ok(TouchPoint {
                id: format!("click-{i}"),
                referrer: CustomerId::new(*who)?,
                channel: channel.clone(),
                kind: TouchKind::Click,
                at: bought - TimeDelta::days(*days_before),
            })
        })
        .collect::<Result<_, referrals::model::IdError>>()?;
    println!("Dana's journey before her first order:");
    for t in &touches {
        println!(
            "  {}  {:<9} {:<6}",
            t.at.format("%b %d"),
            t.channel.as_str(),
            t.referrer.as_str()
        );
    }
    let reward = Money::new(3000, Currency::SAR);
    let models = [
        ("last touch", Model::LastTouch),
        ("first touch", Model::FirstTouch),
        ("linear", Model::Linear),
        ("time decay (7 d)", Model::time_decay()),
        ("position 40/20/40", Model::position_based()),
        (
            "custom 1,1,…,3 from last",
            Model::CustomWeights {
                weights: vec![3, 1],
                from_last: true,
            },
        ),
    ];
    println!("\nA {reward} referrer reward, split by each model:");
    println!(
        "  {:<26} {:>12} {:>12} {:>12}",
        "model", "amira", "badr", "chadi"
    );
    for (name, model) in models {
        let credit = attribute(&AttributionPolicy::with_model(model), &touches, bought);
        let parts = credit.split(reward)?;
        let cell = |who: &str| {
            parts
                .iter()
                .find(|(c, _)| c.as_str() == who)
                .map_or("-".to_owned(), |(_, m)| m.to_string())
        };
        println!(
            "  {name:<26} {:>12} {:>12} {:>12}",
            cell("amira"),
            cell("badr"),
            cell("chadi")
        );
        let total: i64 = parts.iter().map(|(_, m)| m.minor()).sum();
        assert_eq!(total, reward.minor(), "every split adds up to the reward");
    }

    // Part 2: which channels drive referred sales, over 20 000 generated
    // journeys (a seeded toy generator; real programs read their own
    // journeys with `channel::read_file`).
    let channels = [
        "whatsapp",
        "email",
        "sms",
        "qr in store",
        "instagram",
        "رسائل",
    ];
    let lift = [0.05, 0.02, 0.01, 0.08, 0.015, 0.03];
    let mut seed: u64 = 2026;
    let mut next = move || {
        // SplitMix64: enough randomness for an example, the same everywhere.
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let mut builder = JourneySetBuilder::new();
    for _ in 0..20_000 {
        let touches = 1 + (next() % 4) as usize;
        let path: Vec<&str> = (0..touches)
            .map(|_| channels[(next() % channels.len() as u64) as usize])
            .collect();
        let hours: Vec<f64> = (0..touches)
            .map(|i| ((touches - 1 - i) * 24) as f64 + (next() % 24) as f64)
            .collect();
        let p_convert: f64 = path
            .iter()
            .map(|c| lift[channels.iter().position(|x| x == c).unwrap_or(0)])
            .sum();
        let converted = (next() % 10_000) as f64 / 10_000.0 < p_convert;
        let journey = if converted {
            Journey::converted(&path, 80.0 + (next() % 12_000) as f64 / 100.0)
        } else {
            Journey::lost(&path)
        };
        builder.add(&journey.with_hours(&hours))?;
    }
    let set = builder.finish()?;
    let markov = set.markov(&MarkovOptions::default())?;
    let shapley = set.shapley(&ShapleyOptions::default())?;
    let models = [
        ("first", set.first_touch()),
        ("last", set.last_touch()),
        ("linear", set.linear()),
        ("position", set.position_based(PositionWeights::default())),
        ("decay", set.time_decay()?.clone()),
        ("markov", markov.credits().clone()),
        ("shapley", shapley),
    ];
    println!(
        "\n{} journeys, {} conversions worth {:.2}: conversions credited to each channel",
        20_000,
        set.total_conversions(),
        set.total_value()
    );
    print!("  {:<12}", "channel");
    for (name, _) in &models {
        print!(" {name:>9}");
    }
    println!(" {:>9}", "removal");
    for (id, name) in set.channels().iter() {
        print!("  {name:<12}");
        for (_, credits) in &models {
            print!(" {:>9.1}", credits.get(id).conversions);
        }
        println!(" {:>9.3}", markov.removal_effect(id));
    }
    Ok(())
}
