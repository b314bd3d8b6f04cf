//! A PostgreSQL server that goes away mid-run and comes back: calls fail
//! with retryable errors (no panic, nothing half written), and the same
//! calls retried once it is back pay exactly once.
//!
//! The outage is a TCP proxy between the store and the server, stopped
//! (its connections cut) and started again on the same port: the same
//! thing the store sees when the server restarts, without stopping a
//! server other tests share.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use referrals::engine::ConversionOutcome;
use referrals::model::{Conversion, CustomerId, EventId, OrderId, Signup};
use referrals::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use referrals::store::PostgresStore;
use referrals::{Currency, Engine, Money, Program};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

use super::pg;
use crate::simulation::sim::{self, Inspect, Strictness};

/// Forwards connections from a local port to the server; `stop` cuts
/// every one of them.
struct Proxy {
    port: u16,
    upstream: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Proxy {
    async fn start(port: u16, upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let tasks: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let inner = Arc::clone(&tasks);
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let conn = tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                inner.lock().unwrap().push(conn);
            }
        });
        tasks.lock().unwrap().push(accept);
        Proxy {
            port,
            upstream,
            tasks,
        }
    }

    /// Cuts every connection and stops listening.
    async fn stop(&self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    /// Listens again on the same port.
    async fn restart(self) -> Proxy {
        Proxy::start(self.port, self.upstream).await
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn cid(s: &str) -> CustomerId {
    CustomerId::new(s).unwrap()
}

fn sar(minor: i64) -> Money {
    Money::new(minor, Currency::SAR)
}

fn program() -> Program {
    Program::builder("outage", "Outage bakery")
        .currency(Currency::SAR)
        .two_sided_reward(sar(1_500), sar(1_000))
        .build()
        .unwrap()
}

fn signup(referee: &str, code: referrals::Code) -> Signup {
    Signup {
        id: EventId::new(format!("signup-{referee}")).unwrap(),
        customer: cid(referee),
        visitor: None,
        code: Some(code),
        channel: None,
        at: t0(),
    }
}

fn order(referee: &str) -> Conversion {
    Conversion {
        order: OrderId::new(format!("order-{referee}")).unwrap(),
        customer: cid(referee),
        amount: sar(12_000),
        at: t0() + TimeDelta::hours(1),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_goes_away_and_comes_back_costs_retries_not_money() {
    let Some(url) = pg::url() else {
        return pg::skipped("a_server_that_goes_away_and_comes_back_costs_retries_not_money");
    };
    // A schema of its own, through the real server.
    let schema = pg::fresh(&url, "outage", Default::default(), 1).await;
    let search_path: String = referrals::sqlx::query_scalar("SHOW search_path")
        .fetch_one(schema.pool())
        .await
        .unwrap();
    schema.pool().close().await;

    let base: PgConnectOptions = url.parse().unwrap();
    let upstream: SocketAddr = format!("{}:{}", base.get_host(), base.get_port())
        .parse()
        .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], base.get_port())));
    let proxy = Proxy::start(0, upstream).await;
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_millis(500))
        .connect_with(
            base.clone()
                .port(proxy.port)
                .options([("search_path", search_path.as_str())]),
        )
        .await
        .unwrap();
    let engine = Engine::new(PostgresStore::new(pool).await.unwrap(), program());
    let amira = cid("amira");
    let code = engine.issue_code(&amira, t0()).await.unwrap().record.code;
    engine.record_signup(&signup("badr", code)).await.unwrap();
    engine.record_signup(&signup("chadi", code)).await.unwrap();
    let first = engine.record_conversion(&order("badr")).await.unwrap();
    assert!(
        matches!(first, ConversionOutcome::Rewarded { .. }),
        "{first:?}"
    );

    // The server goes away: every call fails, retryably, with no panic.
    proxy.stop().await;
    for _ in 0..3 {
        let err = engine.record_conversion(&order("chadi")).await.unwrap_err();
        assert!(err.is_retryable(), "{:?}: {err}", err.kind());
        let err = engine.balance(&amira).await.unwrap_err();
        assert!(err.is_retryable(), "{:?}: {err}", err.kind());
    }

    // It comes back: the same call, retried, pays once; replays pay nothing.
    let _proxy = proxy.restart().await;
    let mut outcome = None;
    for _ in 0..50 {
        match engine.record_conversion(&order("chadi")).await {
            Ok(o) => {
                outcome = Some(o);
                break;
            }
            Err(e) if e.is_retryable() => tokio::time::sleep(Duration::from_millis(100)).await,
            Err(e) => panic!("not retryable after the server came back: {e}"),
        }
    }
    let outcome = outcome.expect("the server came back");
    assert!(
        matches!(outcome, ConversionOutcome::Rewarded { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        engine.record_conversion(&order("chadi")).await.unwrap(),
        outcome
    );
    assert_eq!(
        engine.record_conversion(&order("badr")).await.unwrap(),
        first
    );
    assert_eq!(engine.balance(&amira).await.unwrap(), sar(3_000));
    assert_eq!(engine.balance(&cid("chadi")).await.unwrap(), sar(1_000));
    let state = engine.store().state();
    sim::audit(
        engine.program(),
        &[order("badr"), order("chadi")],
        &state,
        Strictness::Strict,
    )
    .unwrap_or_else(|msg| panic!("audit: {msg}"));
    pg::drop_schemas(&url, "outage").await;
}
