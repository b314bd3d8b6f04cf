//! Clauses on what incentive rules read: experiment assignments, recorded
//! once at first exposure, and the conversions credited to a referrer;
//! and the conversions a customer bought (their data export).

use std::sync::Arc;

use super::concurrency::{ROUNDS, TASKS, one_winner, race};
use super::fixtures::*;
use super::ledger::{witness, witnessed};

/// `Write::InsertAssignment` stores an [`AssignmentRecord`] that
/// `assignment(program, experiment, customer)` returns exactly (Arabic
/// labels, nanoseconds). An assignment is recorded once: a second insert
/// for the same (program, experiment, customer) fails with a conflict and
/// writes nothing of its plan, whether it names another variant or the
/// same one. Other experiments, other customers and other programs are
/// independent keys, compared exactly (`Checkout` is not `checkout`, `Sara`
/// is not `sara`). A plan refused for another reason records none of its
/// assignments.
pub async fn assignments_are_recorded_once<S: Store>(store: &S) {
    let p = Probe::new(store, "assignments_are_recorded_once");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let other = pid("conformance-other");
    let exp = "checkout";

    assert_eq!(
        p.assignment(&prog, exp, "sara").await,
        None,
        "{clause}: an assignment never recorded"
    );
    let first = assignment_record(&prog, exp, "sara", "ب");
    p.commit_ok(
        "recording sara's variant ب of checkout",
        plan(vec![Write::InsertAssignment(first.clone())]),
    )
    .await;
    assert_eq!(
        p.assignment(&prog, exp, "sara").await,
        Some(first.clone()),
        "{clause}: an assignment came back changed"
    );

    // Once: a second insert is refused, with everything else of its plan.
    for (i, variant) in ["أ", "ب"].into_iter().enumerate() {
        let again = AssignmentRecord {
            variant: label(variant),
            at: at_ns(99, 1),
            ..first.clone()
        };
        let touch = format!("w-assign-{i}");
        let what = format!(
            "a second assignment of sara to checkout (variant {variant}, the first was ب), \
             beside a touch and maha's first assignment"
        );
        p.commit_conflict(
            &what,
            plan(vec![
                witness(&prog, &touch),
                Write::InsertAssignment(assignment_record(&prog, exp, "maha", "أ")),
                Write::InsertAssignment(again),
            ]),
        )
        .await;
        assert_eq!(
            p.assignment(&prog, exp, "sara").await,
            Some(first.clone()),
            "{clause}: after {what} was refused, sara's assignment (the first variant is kept)"
        );
        assert_eq!(
            p.assignment(&prog, exp, "maha").await,
            None,
            "{clause}: after {what} was refused, maha's assignment was recorded"
        );
        assert!(
            !witnessed(&p, &prog, &touch).await,
            "{clause}: after {what} was refused, the plan's touch was stored"
        );
    }

    // Independent keys, several to a plan.
    let independent = [
        assignment_record(&prog, "Checkout", "sara", "أ"),
        assignment_record(&prog, "تجربة-الدفع", "sara", "أ"),
        assignment_record(&prog, exp, "Sara", "أ"),
        AssignmentRecord {
            at: at_ns(41, 999_999_999),
            ..assignment_record(&prog, exp, "نادية", "ج")
        },
        assignment_record(&other, exp, "sara", "أ"),
    ];
    p.commit_ok(
        "recording sara in two other experiments (one spelt Checkout), Sara and نادية in \
         checkout, and sara in checkout in another program, in one plan",
        plan(
            independent
                .iter()
                .cloned()
                .map(Write::InsertAssignment)
                .collect(),
        ),
    )
    .await;
    for a in independent.iter().chain([&first]) {
        let found = p
            .assignment(&a.program, a.experiment.as_str(), a.customer.as_str())
            .await;
        assert_eq!(
            found,
            Some(a.clone()),
            "{clause}: the assignment of {} in experiment {} in {} (keys are (program, \
             experiment, customer), compared exactly)",
            a.customer,
            a.experiment,
            a.program
        );
    }
    for (program, experiment, customer) in [
        (&pid("gamma"), exp, "sara"),
        (&prog, "CHECKOUT", "sara"),
        (&prog, exp, "SARA"),
        (&other, exp, "Sara"),
        (&other, "Checkout", "sara"),
    ] {
        assert_eq!(
            p.assignment(program, experiment, customer).await,
            None,
            "{clause}: the assignment of {customer} in experiment {experiment} in {program} was \
             never recorded"
        );
    }
    p.commit_conflict(
        "a second assignment of sara to checkout in the other program",
        plan(vec![Write::InsertAssignment(assignment_record(
            &other, exp, "sara", "ب",
        ))]),
    )
    .await;
    assert_eq!(
        p.assignment(&other, exp, "sara").await,
        Some(independent[4].clone()),
        "{clause}: the other program's assignment after a refused second one"
    );

    // A plan refused for another write records none of its assignments.
    p.commit_conflict(
        "maha's first assignment with a customer at a stale version",
        plan(vec![
            Write::InsertAssignment(assignment_record(&prog, exp, "maha", "أ")),
            put_customer(customer_record(&prog, "nobody"), 2),
        ]),
    )
    .await;
    assert_eq!(
        p.assignment(&prog, exp, "maha").await,
        None,
        "{clause}: an assignment of a refused plan was recorded"
    );
}

/// Many tasks at once each record the same customer's assignment to one
/// experiment, each with another variant and a touch of its own: exactly
/// one commits, every other fails with a conflict and writes nothing, and
/// every reader afterwards (many at once) sees the winner's variant. A
/// store that checks "no assignment yet" and then writes, or upserts, fails
/// here: the first exposure decides the variant for good.
///
/// # Panics
/// Also when not run on a multi-threaded tokio runtime.
pub async fn concurrent_assignments_have_one_winner<S: Store + 'static>(store: Arc<S>) {
    let clause = "concurrent_assignments_have_one_winner";
    assert_multi_thread(clause);
    let p = Probe::new(&*store, clause);
    let prog = pid(PROGRAM);
    for round in 0..ROUNDS {
        let experiment = format!("race-{round}");
        let record = |i: usize| AssignmentRecord {
            at: at_ns(40, u32::try_from(i).unwrap_or(0)),
            ..assignment_record(&prog, &experiment, "sara", &format!("variant-{i:02}"))
        };
        let name = |i: usize| format!("assignment-race-{round}-{i:02}");
        let plans = (0..TASKS)
            .map(|i| {
                plan(vec![
                    witness(&prog, &name(i)),
                    Write::InsertAssignment(record(i)),
                ])
            })
            .collect();
        let what = format!(
            "{TASKS} tasks recording one customer's variant of one experiment at once, each \
             another variant (round {round}, {experiment})"
        );
        let results = race(&store, clause, plans).await;
        let winner = one_winner(clause, &what, &results);
        let want = Some(record(winner));

        let readers: Vec<_> = (0..TASKS)
            .map(|_| {
                let store = Arc::clone(&store);
                let (prog, experiment) = (prog.clone(), label(&experiment));
                tokio::spawn(
                    async move { store.assignment(&prog, &experiment, &cid("sara")).await },
                )
            })
            .collect();
        for (i, reader) in readers.into_iter().enumerate() {
            match reader.await {
                Ok(Ok(found)) => assert_eq!(
                    found, want,
                    "{clause}: {what}: reader {i} afterwards (task {winner} won)"
                ),
                Ok(Err(err)) => panic!(
                    "{clause}: {what}: reader {i} failed ({:?}): {err}",
                    err.kind()
                ),
                Err(err) => panic!("{clause}: {what}: a reading task failed: {err}"),
            }
        }
        for i in 0..TASKS {
            assert_eq!(
                witnessed(&p, &prog, &name(i)).await,
                i == winner,
                "{clause}: {what}: task {i}'s touch stored (task {winner} won)"
            );
        }
    }
}

/// `referred_conversions(program, referrer)` returns the conversions
/// whose `referrer` (of record) is that customer, each once and as last
/// put, ascending by (conversion time, order id bytewise), after every
/// plan: conversions with no referrer, another referrer (also one that
/// merely shares the credit) or a referrer spelt otherwise (`Sara`) are not
/// listed. An update (a refund, a new version) shows the new state and is
/// not listed twice; an update that names another referrer or moves the
/// conversion time moves the conversion to that list or place. A refused
/// plan changes no list. Programs are isolated.
pub async fn referred_conversions_are_listed_per_referrer<S: Store>(store: &S) {
    let p = Probe::new(store, "referred_conversions_are_listed_per_referrer");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let other = pid("conformance-other");
    let conv = |prog: &ProgramId, order: &str, referrer: Option<&str>, at: DateTime<Utc>| {
        let base = conversion_record(prog, order, "nada");
        ConversionRecord {
            conversion: Conversion {
                at,
                ..base.conversion.clone()
            },
            referrer: referrer.map(cid),
            ..base
        }
    };
    let credit = |referrer: &str, ppb: u32| Credit {
        referrer: cid(referrer),
        share: Share::from_ppb(ppb).expect("at most one"),
        touches: 1,
        channel: Channel::WhatsApp,
        last_touch_at: at_ns(5, 5),
    };
    // Sara shares the credit of order-n, but nada is its referrer of record.
    let shared = ConversionRecord {
        credits: vec![credit("nada", 666_666_667), credit("sara", 333_333_333)],
        ..conv(&prog, "order-n", Some("nada"), at(150))
    };
    let rich = ConversionRecord {
        credits: vec![credit("sara", 1_000_000_000)],
        payouts: vec![Payout {
            reward: rwid("reward-order-1"),
            beneficiary: cid("sara"),
            role: Role::Referrer,
            kind: RewardKind::Points {
                unit: label("نقاط"),
                amount: 250,
            },
            quantity: 250,
            clawed_back: 0,
        }],
        withheld: vec![Withheld {
            beneficiary: cid("nada"),
            role: Role::Referee,
            kind: RewardKind::Credit { amount: sar(500) },
            reason: Reason::BudgetExhausted,
        }],
        ..conv(&prog, "order-1", Some("sara"), at_ns(100, 999_999_999))
    };
    let batches: Vec<Vec<ConversionRecord>> = vec![
        vec![
            conv(&prog, "order-3", Some("sara"), at(300)),
            conv(&prog, "order-none", None, at(50)),
            shared,
        ],
        vec![rich],
        vec![
            conv(&prog, "order-a", Some("sara"), at(200)),
            conv(&prog, "order-B", Some("sara"), at(200)),
            conv(&prog, "order-0", Some("sara"), at_ns(200, 1)),
            conv(&prog, "order-S", Some("Sara"), at(120)),
        ],
        vec![conv(&prog, "طلب-٧", Some("سارة"), at(400))],
        vec![
            ConversionRecord {
                refunded: sar(1),
                ..conv(&other, "order-1", Some("sara"), at(10))
            },
            conv(&other, "order-o", Some("sara"), at(20)),
        ],
    ];

    let mut lists = ConversionLists::new(
        &p,
        Listed::ByReferrer,
        &[&prog, &other],
        &["sara", "Sara", "nada", "سارة", "nobody"],
    );
    lists.check("nothing was recorded").await;
    for batch in &batches {
        lists.record(batch).await;
    }
    let found = p.referred_conversions(&prog, "sara").await;
    assert_eq!(
        orders_of(&found),
        ["order-1", "order-B", "order-a", "order-0", "order-3"],
        "{clause}: after recording them, the conversions referred by \"sara\" (the fixture's \
         order)"
    );

    // New versions: listed once, in their new state.
    let refunded = |c: ConversionRecord, count: u32, minor: i64, full: bool| ConversionRecord {
        refund_count: count,
        refunded: sar(minor),
        fully_refunded_at: full.then(|| at_ns(350, 1)),
        ..c
    };
    let o3 = lists.current(&prog, "order-3").await.record;
    let o1 = lists.current(&prog, "order-1").await.record;
    lists
        .update(
            "after refunding order-3 and order-1",
            vec![
                refunded(o3.clone(), 1, 10_000, true),
                refunded(o1.clone(), 1, 2_500, false),
            ],
        )
        .await;
    lists
        .update(
            "after refunding order-1 again",
            vec![refunded(o1, 2, 5_000, false)],
        )
        .await;

    // Another referrer of record, another time: the conversion moves.
    let moved = [
        ("order-n", Some("sara"), at(150)),
        ("order-a", None, at(200)),
        ("order-B", Some("Sara"), at(200)),
        ("order-0", Some("sara"), at(50)),
    ];
    let mut records = Vec::new();
    for (order, referrer, when) in moved {
        let mut record = lists.current(&prog, order).await.record;
        record.referrer = referrer.map(cid);
        record.conversion.at = when;
        records.push(record);
    }
    lists
        .update(
            "after order-n's referrer became sara, order-a's none and order-B's Sara, and order-0 \
         moved to 50 s",
            records,
        )
        .await;

    // Refused plans change no list.
    let what = "recording order-new for sara with order-3 at a stale version";
    p.commit_conflict(
        what,
        plan(vec![
            put_conversion(conv(&prog, "order-new", Some("sara"), at(60)), 0),
            put_conversion(conv(&prog, "order-3", Some("nada"), at(300)), 1),
        ]),
    )
    .await;
    lists.check(&format!("after {what} was refused")).await;
}

/// `customer_conversions(program, customer)` returns the conversions whose
/// buyer (`conversion.customer`) is that customer, referred or not, each
/// once and as last put, ascending by (conversion time, order id
/// bytewise), after every plan: another buyer's orders (also one the
/// customer referred, or one by a buyer spelt otherwise, `Nada`) are not
/// listed. An update (a refund) shows the new state and is not listed
/// twice; an update that names another buyer or moves the conversion time
/// moves the conversion to that list or place. A refused plan changes no
/// list. Programs are isolated.
pub async fn customer_conversions_are_listed_per_buyer<S: Store>(store: &S) {
    let p = Probe::new(store, "customer_conversions_are_listed_per_buyer");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let other = pid("conformance-other");
    let conv =
        |prog: &ProgramId, order: &str, buyer: &str, referrer: Option<&str>, at: DateTime<Utc>| {
            let base = conversion_record(prog, order, buyer);
            ConversionRecord {
                conversion: Conversion {
                    at,
                    ..base.conversion.clone()
                },
                referrer: referrer.map(cid),
                ..base
            }
        };
    let batches: Vec<Vec<ConversionRecord>> = vec![
        vec![
            // Referred by sara; bought by nada.
            conv(&prog, "order-2", "nada", Some("sara"), at(200)),
            // Nobody referred huda.
            conv(&prog, "order-h", "huda", None, at(100)),
            // A nanosecond after order-2: listed after it, though its id
            // sorts first.
            conv(&prog, "order-1", "nada", None, at_ns(200, 1)),
        ],
        vec![
            // Ties at 200 s: by order id bytewise.
            conv(&prog, "order-b", "nada", Some("sara"), at(200)),
            conv(&prog, "order-A", "nada", None, at(200)),
            conv(&prog, "order-N", "Nada", None, at(50)),
            // Nada referred sara's order: it is sara's, not nada's.
            conv(&prog, "order-s", "sara", Some("nada"), at(60)),
        ],
        vec![conv(&prog, "طلب-٧", "نادية", None, at(400))],
        vec![
            conv(&other, "order-1", "nada", Some("sara"), at(10)),
            conv(&other, "order-o", "nada", None, at(20)),
        ],
    ];

    let mut lists = ConversionLists::new(
        &p,
        Listed::ByBuyer,
        &[&prog, &other],
        &["nada", "Nada", "huda", "sara", "نادية", "nobody"],
    );
    lists.check("nothing was recorded").await;
    for batch in &batches {
        lists.record(batch).await;
    }
    let found = p.customer_conversions(&prog, "nada").await;
    assert_eq!(
        orders_of(&found),
        ["order-2", "order-A", "order-b", "order-1"],
        "{clause}: after recording them, the conversions bought by \"nada\" (the fixture's \
         order)"
    );

    // A refund: listed once, in its new state.
    let mut refunded = lists.current(&prog, "order-2").await.record;
    refunded.refund_count = 1;
    refunded.refunded = sar(10_000);
    refunded.fully_refunded_at = Some(at_ns(350, 1));
    lists
        .update("after refunding order-2", vec![refunded])
        .await;

    // Another buyer, another time: the conversion moves.
    let mut records = Vec::new();
    for (order, buyer, when) in [
        ("order-h", "nada", at(100)),
        ("order-A", "Nada", at(200)),
        ("order-1", "nada", at(300)),
    ] {
        let mut record = lists.current(&prog, order).await.record;
        record.conversion.customer = cid(buyer);
        record.conversion.at = when;
        records.push(record);
    }
    lists
        .update(
            "after order-h's buyer became nada and order-A's Nada, and order-1 moved to 300 s",
            records,
        )
        .await;

    // Refused plans change no list.
    let what = "recording order-new for nada with order-2 at a stale version";
    p.commit_conflict(
        what,
        plan(vec![
            put_conversion(conv(&prog, "order-new", "nada", None, at(60)), 0),
            put_conversion(conv(&prog, "order-2", "huda", None, at(300)), 1),
        ]),
    )
    .await;
    lists.check(&format!("after {what} was refused")).await;
}

/// Which list of conversions a clause checks.
#[derive(Debug, Clone, Copy)]
enum Listed {
    /// `referred_conversions`: by referrer of record.
    ByReferrer,
    /// `customer_conversions`: by buyer.
    ByBuyer,
}

impl Listed {
    /// The customer a conversion is listed under, if any.
    fn under(self, c: &ConversionRecord) -> Option<&str> {
        match self {
            Listed::ByReferrer => c.referrer.as_ref().map(|r| r.as_str()),
            Listed::ByBuyer => Some(c.conversion.customer.as_str()),
        }
    }
}

/// The conversions a clause has put (the last put of each) and what every
/// list of them must then be.
struct ConversionLists<'p, 's, S> {
    p: &'p Probe<'s, S>,
    listed: Listed,
    /// The programs written to; a third, never written, is read too.
    programs: Vec<ProgramId>,
    /// The customers whose lists are read.
    names: &'p [&'p str],
    stored: Vec<ConversionRecord>,
}

impl<'p, 's, S: Store> ConversionLists<'p, 's, S> {
    fn new(
        p: &'p Probe<'s, S>,
        listed: Listed,
        programs: &[&ProgramId],
        names: &'p [&'p str],
    ) -> Self {
        let mut programs: Vec<ProgramId> = programs.iter().map(|&p| p.clone()).collect();
        programs.push(pid("gamma"));
        ConversionLists {
            p,
            listed,
            programs,
            names,
            stored: Vec::new(),
        }
    }

    fn put(&mut self, record: &ConversionRecord) {
        self.stored.retain(|c| {
            (&c.program, &c.conversion.order) != (&record.program, &record.conversion.order)
        });
        self.stored.push(record.clone());
    }

    /// Every list is exactly the stored conversions listed under its
    /// customer, each as last put, ascending by (time, order id bytewise).
    async fn check(&self, after: &str) {
        let clause = self.p.clause;
        let (verb, whose) = match self.listed {
            Listed::ByReferrer => ("referred by", "whose referrer of record is them"),
            Listed::ByBuyer => ("bought by", "whose buyer is them"),
        };
        for program in &self.programs {
            for &name in self.names {
                let mut want: Vec<ConversionRecord> = self
                    .stored
                    .iter()
                    .filter(|c| c.program == *program && self.listed.under(c) == Some(name))
                    .cloned()
                    .collect();
                want.sort_by(|a, b| {
                    (a.conversion.at, a.conversion.order.as_str())
                        .cmp(&(b.conversion.at, b.conversion.order.as_str()))
                });
                let found = match self.listed {
                    Listed::ByReferrer => self.p.referred_conversions(program, name).await,
                    Listed::ByBuyer => self.p.customer_conversions(program, name).await,
                };
                assert_eq!(
                    orders_of(&found),
                    orders_of(&want),
                    "{clause}: {after}: the conversions {verb} {name:?} in {program}: exactly \
                     those {whose}, each once, ascending by (conversion time, order id bytewise)"
                );
                assert_eq!(
                    found, want,
                    "{clause}: {after}: the conversions {verb} {name:?} in {program} are not as \
                     last put"
                );
            }
        }
    }

    /// Creates `batch` in one plan, then checks every list.
    async fn record(&mut self, batch: &[ConversionRecord]) {
        let what = format!("recording {:?}", orders_of(batch));
        let writes = batch
            .iter()
            .cloned()
            .map(|c| put_conversion(c, 0))
            .collect();
        self.p.commit_ok(&what, plan(writes)).await;
        for c in batch {
            self.put(c);
        }
        self.check(&format!("after {what}")).await;
    }

    /// A conversion as stored now.
    async fn current(&self, program: &ProgramId, order: &str) -> Versioned<ConversionRecord> {
        let clause = self.p.clause;
        self.p
            .conversion(program, order)
            .await
            .unwrap_or_else(|| panic!("{clause}: conversion {order} is missing"))
    }

    /// Puts new versions of `records` in one plan, then checks every list.
    async fn update(&mut self, what: &str, records: Vec<ConversionRecord>) {
        let mut writes = Vec::new();
        for record in &records {
            let read = self
                .current(&record.program, record.conversion.order.as_str())
                .await;
            writes.push(put_conversion(record.clone(), read.version));
        }
        self.p.commit_ok(what, plan(writes)).await;
        for record in &records {
            self.put(record);
        }
        self.check(what).await;
    }
}
