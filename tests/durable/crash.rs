//! Crash safety: a child process writing referrals to a SQLite file is
//! killed with SIGKILL at random points, mid-commit, again and again. After
//! every kill the file passes `PRAGMA integrity_check`, every event the
//! child saw acknowledged is there, and the simulation's auditor finds
//! every ledger law intact; resumed to the end, the program holds exactly
//! what a run that never crashed holds: nothing lost, nothing doubled.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use referrals::ledger::{Budget, LedgerPolicy};
use referrals::model::{
    Conversion, CustomerId, EventId, OrderId, Refund, RefundAmount, RefundId, Signup,
};
use referrals::sqlx;
use referrals::store::{IdempotencyKey, SqliteStore};
use referrals::{Currency, Engine, Money, Program};

use super::histories::RUNTIME;
use crate::simulation::sim::{self, Inspect, Strictness};

/// Referees in the workload; every third refunds.
const REFEREES: u32 = 150;
/// Kills per test run.
const KILLS: u32 = 30;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn cid(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

/// Two-sided 15/10 SAR under a budget that runs out two-thirds of the way.
fn program() -> Program {
    Program::builder("crash", "Crash bakery")
        .currency(Currency::SAR)
        .two_sided_reward(
            Money::new(1_500, Currency::SAR),
            Money::new(1_000, Currency::SAR),
        )
        .ledger_policy(LedgerPolicy {
            budget: Some(Budget {
                limit: Money::new(250_000, Currency::SAR),
                overdraft: None,
                shared: None,
            }),
            ..LedgerPolicy::default()
        })
        .build()
        .unwrap()
}

fn conversion(i: u32) -> Conversion {
    Conversion {
        order: OrderId::new(format!("order-{i}")).unwrap(),
        customer: cid(&format!("referee-{i}")),
        amount: Money::new(12_000, Currency::SAR),
        at: t0() + TimeDelta::minutes(i64::from(i)),
    }
}

fn orders() -> Vec<Conversion> {
    (0..REFEREES).map(conversion).collect()
}

/// The workload, from the start: replayed events answer from their
/// idempotency records, so a resumed child goes on where the last left
/// off. `ack` hears of each event once the store committed it.
async fn workload(engine: &Engine<SqliteStore>, mut ack: impl FnMut(&str)) {
    for i in 0..REFEREES {
        let referrer = cid(&format!("referrer-{}", i % 7));
        let code = engine
            .issue_code(&referrer, t0())
            .await
            .unwrap()
            .record
            .code;
        let signup = Signup {
            id: EventId::new(format!("signup-{i}")).unwrap(),
            customer: cid(&format!("referee-{i}")),
            visitor: None,
            code: Some(code),
            channel: None,
            at: t0() + TimeDelta::minutes(i64::from(i)),
        };
        engine.record_signup(&signup).await.unwrap();
        ack(&format!("signup {i}"));
        engine.record_conversion(&conversion(i)).await.unwrap();
        ack(&format!("conversion {i}"));
        if i % 3 == 0 {
            let refund = Refund {
                id: RefundId::new("r1").unwrap(),
                order: conversion(i).order,
                amount: RefundAmount::Full,
                at: t0() + TimeDelta::minutes(i64::from(i) + 30),
            };
            engine.record_refund(&refund).await.unwrap();
            ack(&format!("refund {i}"));
        }
    }
}

/// Run by the parent as a child process, never on its own.
#[test]
#[ignore = "the crash test's child process"]
fn crash_child() {
    let Ok(path) = std::env::var("REFERRALS_CRASH_DB") else {
        return;
    };
    RUNTIME.block_on(async {
        let engine = Engine::new(SqliteStore::open(&path).await.unwrap(), program());
        workload(&engine, |event| {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "ack {event}");
            let _ = out.flush();
        })
        .await;
        println!("done");
    });
}

/// The idempotency key of an acknowledged event line.
fn key(event: &str) -> IdempotencyKey {
    let (kind, i) = event.split_once(' ').unwrap();
    match kind {
        "signup" => IdempotencyKey::signup(&EventId::new(format!("signup-{i}")).unwrap()),
        "conversion" => IdempotencyKey::conversion(&OrderId::new(format!("order-{i}")).unwrap()),
        "refund" => IdempotencyKey::refund(
            &OrderId::new(format!("order-{i}")).unwrap(),
            &RefundId::new("r1").unwrap(),
        ),
        other => panic!("unknown event {other}"),
    }
}

/// Every customer's balances, in order.
fn balances(state: &referrals::store::MemoryState) -> Vec<String> {
    state
        .all_balances()
        .into_iter()
        .map(|(_, customer, b)| format!("{customer} {b:?}"))
        .collect()
}

#[test]
fn a_child_killed_mid_commit_leaves_a_whole_database_and_loses_nothing() {
    let dir = super::lite::dir("crash");
    let path = dir.join("referrals.db");
    let exe = std::env::current_exe().unwrap();
    let mut rng = StdRng::seed_from_u64(
        std::env::var("CRASH_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(7),
    );
    let program = program();
    // In order of first acknowledgement; a resumed child acknowledges the
    // replayed events again, which count once.
    let mut acked: Vec<String> = Vec::new();
    let mut known = std::collections::HashSet::new();
    let mut kills = 0;
    let mut finished = false;
    while !finished {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "durable::crash::crash_child",
                "--ignored",
                "--nocapture",
            ])
            .args(["--test-threads", "1"])
            .env("REFERRALS_CRASH_DB", &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        // Kill after a random number of acknowledgements, a random moment
        // later: the child is always in or near a commit.
        let kill_after = if kills < KILLS {
            rng.random_range(1..20)
        } else {
            u32::MAX
        };
        let mut seen = 0;
        for line in stdout.lines() {
            let line = line.unwrap();
            if let Some(event) = line.strip_prefix("ack ") {
                if !known.insert(event.to_owned()) {
                    continue;
                }
                acked.push(event.to_owned());
                seen += 1;
                if seen >= kill_after {
                    std::thread::sleep(std::time::Duration::from_micros(
                        rng.random_range(0..3_000),
                    ));
                    child.kill().unwrap();
                    kills += 1;
                    break;
                }
            } else if line == "done" {
                finished = true;
            }
        }
        let status = child.wait().unwrap();
        assert!(
            finished || !status.success() || kills > 0,
            "the child failed: {status}"
        );

        // The file is whole, and holds everything acknowledged.
        RUNTIME.block_on(async {
            let pool = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path))
                .await
                .unwrap();
            let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check")
                .fetch_one(&pool)
                .await
                .unwrap();
            assert_eq!(check, "ok", "after kill {kills}");
            pool.close().await;
        });
        let store = RUNTIME.block_on(SqliteStore::open(&path)).unwrap();
        let state = store.state();
        for event in &acked {
            assert!(
                state.idempotency(program.id(), &key(event)).is_some(),
                "after kill {kills}: acknowledged {event} is missing"
            );
        }
        // Audit the orders the store holds (acknowledged or committed just
        // before the kill).
        let recorded: Vec<Conversion> = orders()
            .into_iter()
            .filter(|c| state.conversion(program.id(), &c.order).is_some())
            .collect();
        sim::audit(&program, &recorded, &state, Strictness::Strict)
            .unwrap_or_else(|msg| panic!("after kill {kills}: audit: {msg}"));
        RUNTIME.block_on(store.pool().close());
    }
    assert_eq!(kills, KILLS);
    println!("{kills} kills, {} events acknowledged", acked.len());

    // What a run that never crashed holds.
    let clean_path = dir.join("clean.db");
    let clean = RUNTIME.block_on(async {
        let engine = Engine::new(
            SqliteStore::open(&clean_path).await.unwrap(),
            program.clone(),
        );
        workload(&engine, |_| {}).await;
        engine.store().snapshot().await.unwrap()
    });
    let crashed = RUNTIME.block_on(SqliteStore::open(&path)).unwrap().state();
    assert_eq!(
        balances(&crashed),
        balances(&clean),
        "balances differ from a clean run"
    );
    assert_eq!(
        crashed.all_ledger_entries().len(),
        clean.all_ledger_entries().len(),
        "ledger entries differ in number from a clean run"
    );
    // Codes are drawn at random, so code-use counters are compared by
    // value; every other counter by name and value.
    let counters = |state: &referrals::store::MemoryState| {
        let mut named = Vec::new();
        let mut uses = Vec::new();
        for (key, value) in state.all_counters() {
            if key.name.starts_with("code-uses/") {
                uses.push(value);
            } else {
                named.push((key.name, value));
            }
        }
        uses.sort_unstable();
        (named, uses)
    };
    assert_eq!(counters(&crashed), counters(&clean));
}
