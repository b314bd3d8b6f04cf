//! Clauses on reads: ordering, isolation between programs, exact keys and
//! records that round-trip.

use super::fixtures::*;

/// `touches` lists one actor's touches in the program, at or after
/// `since`, ascending by time, ties by id, whatever the insertion order.
///
/// Ids compare as Rust strings do, byte by byte: `"t-B" < "t-a"`. A SQL
/// store needs a binary collation on the id column (`COLLATE "C"`) to keep
/// this order, which decides attribution between simultaneous touches.
pub async fn touches_are_ordered_and_filtered_by_since<S: Store>(store: &S) {
    let p = Probe::new(store, "touches_are_ordered_and_filtered_by_since");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let other_prog = pid("conformance-other");
    let visitor = Actor::Visitor(vid("shared-id"));
    // Same id text, another kind of actor: must not see the visitor's touches.
    let customer = Actor::Customer(cid("shared-id"));
    let t = |id: &str, at: DateTime<Utc>| touch_record(&prog, id, visitor.clone(), at);
    let inserts: Vec<Vec<TouchRecord>> = vec![
        vec![t("t-05", at(500))],
        vec![t("t-01", at(100))],
        vec![t("t-03", at(300))],
        // Several in one plan, out of order.
        vec![t("t-b", at(300)), t("t-a", at(300)), t("t-B", at(300))],
        // Later by a nanosecond: after every tie at 300 s despite its id.
        vec![t("t-0", at_ns(300, 1))],
        vec![t("t-02", at(200))],
        vec![touch_record(&prog, "t-c", customer.clone(), at(300))],
        vec![touch_record(&other_prog, "t-x", visitor.clone(), at(300))],
    ];
    for touches in inserts {
        let what = format!("inserting {:?}", ids_of_touches(&touches));
        p.commit_ok(
            &what,
            plan(touches.into_iter().map(Write::InsertTouch).collect()),
        )
        .await;
    }
    let cases: [(DateTime<Utc>, &[&str]); 6] = [
        (
            since_ever(),
            &["t-01", "t-02", "t-03", "t-B", "t-a", "t-b", "t-0", "t-05"],
        ),
        (
            at(200),
            &["t-02", "t-03", "t-B", "t-a", "t-b", "t-0", "t-05"],
        ),
        (at(300), &["t-03", "t-B", "t-a", "t-b", "t-0", "t-05"]),
        (at_ns(300, 1), &["t-0", "t-05"]),
        (at_ns(300, 2), &["t-05"]),
        (at_ns(500, 1), &[]),
    ];
    for (since, want) in cases {
        let found = p.touches(&prog, &visitor, since).await;
        assert_eq!(
            ids_of_touches(&found),
            want,
            "{clause}: touches since {since} (inclusive), ascending by time then id \
             (ids compare bytewise, \"t-B\" < \"t-a\": check the id column's collation)"
        );
        for touch in &found {
            assert_eq!(
                touch.touch.actor, visitor,
                "{clause}: touches of {visitor:?} returned another actor's touch"
            );
            assert_eq!(
                touch.program, prog,
                "{clause}: touches returned another program's touch"
            );
        }
    }
    let all = p.touches(&prog, &visitor, since_ever()).await;
    let rebuilt: Vec<TouchRecord> = ["t-01", "t-02", "t-03", "t-B", "t-a", "t-b", "t-0", "t-05"]
        .iter()
        .filter_map(|id| all.iter().find(|x| x.touch.id.as_str() == *id).cloned())
        .collect();
    assert_eq!(all, rebuilt, "{clause}: touch records came back changed");
    let found = p.touches(&prog, &customer, since_ever()).await;
    assert_eq!(
        ids_of_touches(&found),
        ["t-c"],
        "{clause}: a customer and a visitor with the same id text are different actors"
    );
    let found = p.touches(&other_prog, &visitor, since_ever()).await;
    assert_eq!(
        ids_of_touches(&found),
        ["t-x"],
        "{clause}: touches of the other program"
    );
}

/// `ledger` lists one customer's entries in the program, ascending by time,
/// ties by id (bytewise, as for touches), whatever the insertion order.
pub async fn ledger_is_ordered_by_time_then_id<S: Store>(store: &S) {
    let p = Probe::new(store, "ledger_is_ordered_by_time_then_id");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let e = |id: &str, at: DateTime<Utc>, minor: i64| ledger_entry(&prog, id, "sara", at, minor);
    let inserts: Vec<Vec<LedgerEntry>> = vec![
        vec![e("le-9", at(900), -500)],
        vec![e("le-1", at(100), 1_500)],
        vec![
            e("le-b", at(500), -100),
            e("le-B", at(500), 200),
            e("le-a", at(500), -300),
        ],
        vec![e("le-0", at_ns(500, 1), 400)],
        vec![e("le-2", at(200), 1_000)],
        vec![ledger_entry(&prog, "le-n", "nada", at(500), 1_000)],
    ];
    let mut written = Vec::new();
    for entries in inserts {
        let what = format!("inserting {:?}", ids_of_entries(&entries));
        written.extend(
            entries
                .iter()
                .filter(|x| x.customer.as_str() == "sara")
                .cloned(),
        );
        p.commit_ok(
            &what,
            plan(entries.into_iter().map(Write::InsertLedgerEntry).collect()),
        )
        .await;
    }
    let order = ["le-1", "le-2", "le-B", "le-a", "le-b", "le-0", "le-9"];
    let found = p.ledger(&prog, "sara").await;
    assert_eq!(
        ids_of_entries(&found),
        order,
        "{clause}: ledger ascending by time then id (ids compare bytewise, \"le-B\" < \"le-a\")"
    );
    let want: Vec<LedgerEntry> = order
        .iter()
        .filter_map(|id| written.iter().find(|x| x.id.as_str() == *id).cloned())
        .collect();
    assert_eq!(found, want, "{clause}: ledger entries came back changed");
    let found = p.ledger(&prog, "nada").await;
    assert_eq!(
        ids_of_entries(&found),
        ["le-n"],
        "{clause}: another customer's ledger"
    );
}

/// The same keys in two programs are different records: neither commit
/// conflicts with the other, and no read in one program sees the other's.
pub async fn programs_are_isolated<S: Store>(store: &S) {
    let p = Probe::new(store, "programs_are_isolated");
    let clause = p.clause;
    let alpha = pid("alpha");
    let beta = pid("برنامج-بيتا");
    let empty = pid("gamma");
    let visitor = Actor::Visitor(vid("visitor"));
    // Per program: records under the same keys, with contents telling the
    // programs apart (and the program field itself).
    let records = |prog: &ProgramId, n: u32| {
        let mut customer = customer_record(prog, "customer");
        customer.rewarded_conversions = n;
        let mut conversion = conversion_record(prog, "order", "customer");
        conversion.conversion.amount = sar(i64::from(n));
        let mut touch = touch_record(prog, "touch", visitor.clone(), at(i64::from(n)));
        touch.referrer = cid(&format!("referrer-{n}"));
        let entry = ledger_entry(prog, "entry", "customer", at(1), i64::from(n));
        let idem = touch_idempotency(prog, "event", &format!("visitor-{n}"));
        (
            code_record(prog, "7K3MQ9XDP", "owner", CodeOrigin::Random),
            customer,
            conversion,
            touch,
            entry,
            idem,
        )
    };
    for (prog, n) in [(&alpha, 1), (&beta, 2)] {
        let (code, customer, conversion, touch, entry, idem) = records(prog, n);
        let all = one_of_each(code, customer, conversion, touch, entry, idem);
        p.commit_ok(&format!("records under shared keys in program {prog}"), all)
            .await;
    }
    // An update in one program leaves the other at version 1.
    let (code_a, ..) = records(&alpha, 1);
    let mut updated = code_a.clone();
    updated.max_uses = Some(5);
    p.commit_ok(
        "an update in alpha",
        plan(vec![put_code(updated.clone(), 1)]),
    )
    .await;

    for (prog, n) in [(&alpha, 1), (&beta, 2)] {
        let (code, customer, conversion, touch, entry, idem) = records(prog, n);
        let in_prog = format!("in program {prog}");
        let code = if n == 1 {
            Some(Versioned {
                version: 2,
                record: updated.clone(),
            })
        } else {
            v1(code)
        };
        let found = p.code(prog, &code_a.code).await;
        assert_eq!(found, code, "{clause}: the code {in_prog}");
        let found = p.primary_code(prog, "owner").await;
        assert_eq!(found, code, "{clause}: the primary code {in_prog}");
        let found = p.customer(prog, "customer").await;
        assert_eq!(found, v1(customer), "{clause}: the customer {in_prog}");
        let found = p.conversion(prog, "order").await;
        assert_eq!(found, v1(conversion), "{clause}: the conversion {in_prog}");
        let found = p.touches(prog, &visitor, since_ever()).await;
        assert_eq!(found, [touch], "{clause}: the touches {in_prog}");
        let found = p.ledger(prog, "customer").await;
        assert_eq!(found, [entry], "{clause}: the ledger {in_prog}");
        let found = p.idempotency(prog, &idem.key).await;
        assert_eq!(
            found,
            Some(idem),
            "{clause}: the idempotency record {in_prog}"
        );
    }

    // The ledger's records under the same keys: a reward (due in both
    // lists), the balances its entry left, and a program's counter (the
    // second program's add would pass the limit were the counters one).
    let reward = |prog: &ProgramId, n: i64| {
        reward_record(
            prog,
            "reward",
            "customer",
            Some(at(n)),
            Some(at(n)),
            &[(EntryKind::Held, 100), (EntryKind::Released, n)],
        )
    };
    let budget = |prog: &ProgramId| program_counter(prog, "budget");
    for (prog, n) in [(&alpha, 1), (&beta, 2)] {
        p.commit_ok(
            &format!("a reward and a counter add under shared keys in program {prog}"),
            plan(vec![
                put_reward(reward(prog, n), 0),
                add(&budget(prog), n, Some(n)),
            ]),
        )
        .await;
    }
    for (prog, n) in [(&alpha, 1), (&beta, 2)] {
        let in_prog = format!("in program {prog}");
        let (.., entry, _) = records(prog, n as u32);
        let found = p.reward(prog, "reward").await;
        assert_eq!(found, v1(reward(prog, n)), "{clause}: the reward {in_prog}");
        let found = p.balances(prog, "customer").await;
        let want = folded_balances(&[entry], prog, "customer");
        assert_eq!(found, want, "{clause}: the balances {in_prog}");
        for due in [Due::Release, Due::Expiry] {
            let found = p.due_rewards(prog, due, at(10), None, usize::MAX).await;
            assert_eq!(
                found,
                [v1(reward(prog, n)).expect("a reward")],
                "{clause}: the {due:?} due rewards {in_prog}"
            );
        }
        let found = p.counter(&budget(prog)).await;
        assert_eq!(found, n, "{clause}: the program's counter {in_prog}");
    }

    let nothing = "a program nobody wrote to";
    assert_eq!(
        p.reward(&empty, "reward").await,
        None,
        "{clause}: reward in {nothing}"
    );
    assert_eq!(
        p.balances(&empty, "customer").await,
        [],
        "{clause}: balances in {nothing}"
    );
    for due in [Due::Release, Due::Expiry] {
        let found = p.due_rewards(&empty, due, at(10), None, usize::MAX).await;
        assert_eq!(found, [], "{clause}: {due:?} due rewards in {nothing}");
    }
    assert_eq!(
        p.counter(&budget(&empty)).await,
        0,
        "{clause}: the counter of {nothing}"
    );
    let k = key(EventKind::Touch, "event");
    assert_eq!(
        p.idempotency(&empty, &k).await,
        None,
        "{clause}: idempotency in {nothing}"
    );
    assert_eq!(
        p.code(&empty, &code_a.code).await,
        None,
        "{clause}: code in {nothing}"
    );
    assert_eq!(
        p.primary_code(&empty, "owner").await,
        None,
        "{clause}: primary in {nothing}"
    );
    assert_eq!(
        p.customer(&empty, "customer").await,
        None,
        "{clause}: customer in {nothing}"
    );
    assert_eq!(
        p.conversion(&empty, "order").await,
        None,
        "{clause}: conversion in {nothing}"
    );
    let found = p.touches(&empty, &visitor, since_ever()).await;
    assert_eq!(found, [], "{clause}: touches in {nothing}");
    assert_eq!(
        p.ledger(&empty, "customer").await,
        [],
        "{clause}: ledger in {nothing}"
    );
}

/// Ids are compared exactly: `badr` and `Badr`, `order` and `Order`,
/// visitors `v` and `V`, events `event` and `Event` are different keys, for
/// every read. A SQL store whose id columns use a case-insensitive
/// collation (MySQL's default `_ci` ones, say) fails here, and would show
/// one customer another's rewards.
pub async fn ids_differing_only_in_case_are_different_keys<S: Store>(store: &S) {
    let p = Probe::new(store, "ids_differing_only_in_case_are_different_keys");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let side = |lower: bool, n: u32| {
        let name = move |s: &str| {
            if lower {
                s.to_owned()
            } else {
                let mut c = s.chars();
                c.next().map_or_else(String::new, |f| {
                    f.to_ascii_uppercase().to_string() + c.as_str()
                })
            }
        };
        let mut customer = customer_record(&prog, &name("badr"));
        customer.rewarded_conversions = n;
        let mut conversion = conversion_record(&prog, &name("order"), &name("badr"));
        conversion.conversion.amount = sar(i64::from(n));
        let actor = Actor::Visitor(vid(&name("v")));
        let touch = touch_record(
            &prog,
            &format!("touch-{n}"),
            actor.clone(),
            at(i64::from(n)),
        );
        let entry = ledger_entry(
            &prog,
            &format!("entry-{n}"),
            &name("badr"),
            at(1),
            i64::from(n),
        );
        let idem = touch_idempotency(&prog, &name("event"), &format!("visitor-{n}"));
        let code = code_record(
            &prog,
            if lower { "KEEP22" } else { "PRMY22" },
            &name("owner"),
            CodeOrigin::Random,
        );
        (name, customer, conversion, actor, touch, entry, idem, code)
    };
    for (lower, n) in [(true, 1), (false, 2)] {
        let (_, customer, conversion, _, touch, entry, idem, code) = side(lower, n);
        let all = one_of_each(code, customer, conversion, touch, entry, idem);
        let what = if lower {
            "lower-case ids"
        } else {
            "the same ids capitalised"
        };
        p.commit_ok(&format!("records under {what}"), all).await;
    }
    for (lower, n) in [(true, 1), (false, 2)] {
        let (name, customer, conversion, actor, touch, entry, idem, code) = side(lower, n);
        let under = |what: &str| format!("{clause}: the {what} under {:?}", name(what));
        assert_eq!(
            p.customer(&prog, &name("badr")).await,
            v1(customer),
            "{}",
            under("customer")
        );
        assert_eq!(
            p.conversion(&prog, &name("order")).await,
            v1(conversion),
            "{}",
            under("order")
        );
        assert_eq!(
            p.touches(&prog, &actor, since_ever()).await,
            [touch],
            "{}",
            under("visitor")
        );
        assert_eq!(
            p.ledger(&prog, &name("badr")).await,
            [entry],
            "{}",
            under("ledger")
        );
        assert_eq!(
            p.idempotency(&prog, &idem.key).await,
            Some(idem),
            "{}",
            under("event")
        );
        assert_eq!(
            p.primary_code(&prog, &name("owner")).await,
            v1(code),
            "{}",
            under("owner")
        );
    }
}

/// The idempotency record of every kind of event and outcome comes back
/// exactly as committed (the engine compares the stored request with a
/// retried one, and answers the stored outcome).
pub async fn idempotency_record_round_trips<S: Store>(store: &S) {
    let p = Probe::new(store, "idempotency_record_round_trips");
    let clause = p.clause;
    let prog = pid(PROGRAM);
    let sara = cid("سارة");
    let referral = Referral {
        referrer: sara.clone(),
        code: code("SARA2026"),
        channel: Channel::custom("podcast").expect("a valid custom channel"),
        touched_at: at_ns(1, 123_456_789),
    };
    let payouts = vec![
        Payout {
            reward: rwid("reward-referrer"),
            beneficiary: sara.clone(),
            role: Role::Referrer,
            kind: RewardKind::Credit { amount: kwd(1_500) },
            quantity: 1_500,
            clawed_back: 0,
        },
        Payout {
            reward: rwid("reward-referee"),
            beneficiary: cid("nada"),
            role: Role::Referee,
            kind: RewardKind::Credit { amount: kwd(750) },
            quantity: 750,
            clawed_back: 0,
        },
    ];
    let reward = LedgerEntry {
        id: lid("le_reward"),
        program: prog.clone(),
        customer: sara.clone(),
        role: Role::Referrer,
        reward: rwid("reward-1"),
        kind: EntryKind::Granted,
        unit: Unit::Money(Currency::KWD),
        quantity: 1_500,
        redemption: None,
        order: Some(oid("طلب-١")),
        refund: None,
        at: at_ns(3, 1),
    };
    let clawback = LedgerEntry {
        id: lid("le_clawback"),
        reward: rwid("reward-1"),
        kind: EntryKind::Reversed,
        unit: Unit::Money(Currency::KWD),
        quantity: 375,
        redemption: None,
        refund: Some(rid("refund-1")),
        at: at_ns(4, 999_999_999),
        ..reward.clone()
    };
    let touch = |id: &str, actor: Actor| Touch {
        id: eid(id),
        actor,
        code: code("SARA2026"),
        channel: Channel::WhatsApp,
        kind: TouchKind::Visit,
        at: at_ns(1, 123_456_789),
    };
    let signup = |id: &str, code: Option<Code>| Signup {
        id: eid(id),
        customer: cid("nada"),
        visitor: Some(vid("زائر-١")),
        code,
        channel: code.map(|_| Channel::Instagram),
        at: at_ns(2, 5),
    };
    let conversion = |order: &str| Conversion {
        order: oid(order),
        customer: cid("nada"),
        amount: kwd(12_345),
        at: at_ns(3, 1),
    };
    let pairs: Vec<(Request, Outcome)> = vec![
        (
            Request::Touch(touch("event-1", Actor::Visitor(vid("زائر-١")))),
            Outcome::Touch(TouchOutcome::Recorded {
                referrer: sara.clone(),
                rewards: Vec::new(),
            }),
        ),
        (
            Request::Touch(touch("event-2", Actor::Customer(sara.clone()))),
            Outcome::Touch(TouchOutcome::Ignored {
                reason: Reason::SelfReferral,
            }),
        ),
        (
            Request::Signup(signup("event-1", Some(code("SARA2026")))),
            Outcome::Signup(SignupOutcome::Referred {
                referral: referral.clone(),
                rewards: Vec::new(),
            }),
        ),
        (
            Request::Signup(signup("event-2", None)),
            Outcome::Signup(SignupOutcome::NotReferred {
                reason: Reason::OutsideLookback,
            }),
        ),
        (
            Request::Conversion(conversion("event-1")),
            Outcome::Conversion(ConversionOutcome::Rewarded {
                referrer: sara.clone(),
                credits: Vec::new(),
                payouts,
                withheld: Vec::new(),
                entries: vec![reward],
            }),
        ),
        (
            Request::Conversion(conversion("event-2")),
            Outcome::Conversion(ConversionOutcome::NotRewarded {
                referrer: Some(sara.clone()),
                reason: Reason::BelowMinimumOrder,
            }),
        ),
        (
            Request::Conversion(conversion("event-3")),
            Outcome::Conversion(ConversionOutcome::NotRewarded {
                referrer: None,
                reason: Reason::NotSignedUp,
            }),
        ),
        (
            Request::Refund(Refund {
                id: rid("event-1"),
                order: oid("طلب-١"),
                amount: RefundAmount::Partial(kwd(3_086)),
                at: at_ns(4, 999_999_999),
            }),
            Outcome::Refund(RefundOutcome {
                refunded: kwd(3_086),
                remaining: kwd(9_259),
                clawbacks: vec![clawback],
            }),
        ),
        (
            Request::Refund(Refund {
                id: rid("event-2"),
                order: oid("طلب-١"),
                amount: RefundAmount::Full,
                at: at(5),
            }),
            Outcome::Refund(RefundOutcome {
                refunded: kwd(9_259),
                remaining: kwd(0),
                clawbacks: Vec::new(),
            }),
        ),
    ];
    let mut records = Vec::new();
    for (request, outcome) in pairs {
        let record = IdempotencyRecord {
            program: prog.clone(),
            key: request.key(),
            request,
            outcome,
        };
        let what = format!("an outcome-only plan for {:?}", record.key);
        p.commit_ok(
            &what,
            CommitPlan {
                idempotency: Some(record.clone()),
                writes: Vec::new(),
            },
        )
        .await;
        records.push(record);
    }
    for record in records {
        let found = p.idempotency(&prog, &record.key).await;
        assert_eq!(
            found.as_ref(),
            Some(&record),
            "{clause}: idempotency record for {:?} came back changed",
            record.key
        );
    }
}

/// Every field of every record kind comes back exactly as written:
/// non-Latin and maximum-length ids, 1- and 32-symbol codes, 0- and
/// 3-decimal money, `None` and `Some` options, and timestamps to the
/// nanosecond; identity records (hashes of every kind under two key ids)
/// and referred customers also through the lists that return them
/// (`identity_matches`, `recent_referees`).
///
/// Nanoseconds matter: the engine tells a retried event from a different one
/// by comparing it with the stored request, so a store that truncates times
/// to microseconds turns every retry into an `IdempotencyMismatch`.
pub async fn records_round_trip_exactly<S: Store>(store: &S) {
    let p = Probe::new(store, "records_round_trip_exactly");
    let clause = p.clause;
    let prog = pid("برنامج-الإحالة");
    // 128 bytes (MAX_ID_LEN) of two-byte letters.
    let long_owner = "م".repeat(64);
    let y2k = DateTime::from_timestamp(946_684_799, 999_999_999)
        .unwrap_or_else(|| panic!("{clause}: fixture time out of range"));

    let codes = vec![
        CodeRecord {
            expires_at: Some(at_ns(86_400, 999_999_999)),
            max_uses: Some(3),
            active: false,
            created_at: y2k,
            ..code_record(
                &prog,
                "ABCDEFGHJKMNPQRSTVWXYZ0123456789",
                "مسوّقة-سارة",
                CodeOrigin::Vanity,
            )
        },
        code_record(&prog, "7", &long_owner, CodeOrigin::Random),
        CodeRecord {
            max_uses: Some(u32::MAX),
            ..code_record(&prog, "9N5PS3ZFR", "nada", CodeOrigin::Derived)
        },
    ];
    let customers = vec![
        CustomerRecord {
            signed_up_at: at_ns(60, 1),
            visitor: Some(vid("زائر-١")),
            qualifying_touches: vec![TouchPoint {
                id: "لمسة-١".into(),
                referrer: cid("مسوّقة-سارة"),
                channel: Channel::WhatsApp,
                kind: TouchKind::Visit,
                at: at_ns(59, 999_999_999),
            }],
            referral: Some(Referral {
                referrer: cid("مسوّقة-سارة"),
                code: code("ABCDEFGHJKMNPQRSTVWXYZ0123456789"),
                channel: Channel::custom("podcast").expect("a valid custom channel"),
                touched_at: at_ns(59, 999_999_999),
            }),
            rewarded_conversions: 7,
            ..customer_record(&prog, "عميل-٧")
        },
        customer_record(&prog, &long_owner),
    ];
    let conversions = vec![
        ConversionRecord {
            program: prog.clone(),
            conversion: Conversion {
                order: oid("طلب-٤٢"),
                customer: cid("عميل-٧"),
                amount: kwd(12_345),
                at: at_ns(120, 500),
            },
            referrer: Some(cid("مسوّقة-سارة")),
            credits: vec![
                Credit {
                    referrer: cid("مسوّقة-سارة"),
                    share: Share::from_ppb(666_666_667).expect("below one"),
                    touches: 2,
                    channel: Channel::custom("podcast").expect("a valid custom channel"),
                    last_touch_at: at_ns(119, 7),
                },
                Credit {
                    referrer: cid("nada"),
                    share: Share::from_ppb(333_333_333).expect("below one"),
                    touches: 1,
                    channel: Channel::Qr,
                    last_touch_at: at_ns(100, 0),
                },
            ],
            payouts: vec![
                Payout {
                    reward: rwid("reward-referrer"),
                    beneficiary: cid("مسوّقة-سارة"),
                    role: Role::Referrer,
                    kind: RewardKind::Credit { amount: kwd(1_500) },
                    quantity: 1_500,
                    clawed_back: 375,
                },
                Payout {
                    reward: rwid("reward-referee"),
                    beneficiary: cid("عميل-٧"),
                    role: Role::Referee,
                    kind: RewardKind::Credit { amount: kwd(750) },
                    quantity: 750,
                    clawed_back: 0,
                },
            ],
            withheld: Vec::new(),
            refund_count: 2,
            refunded: kwd(3_086),
            fully_refunded_at: Some(at_ns(200, 7)),
            screening: None,
        },
        ConversionRecord {
            conversion: Conversion {
                order: oid("order-jpy"),
                customer: cid(&long_owner),
                amount: Money::new(9_000, Currency::JPY),
                at: y2k,
            },
            refunded: Money::new(0, Currency::JPY),
            ..conversion_record(&prog, "order-jpy", &long_owner)
        },
    ];
    let visitor = Actor::Visitor(vid("زائر-١"));
    let customer = Actor::Customer(cid("عميل-٧"));
    let touches = [
        TouchRecord {
            program: prog.clone(),
            referrer: cid("مسوّقة-سارة"),
            touch: Touch {
                id: eid("لمسة-١"),
                actor: visitor.clone(),
                code: code("ABCDEFGHJKMNPQRSTVWXYZ0123456789"),
                channel: Channel::WhatsApp,
                kind: TouchKind::Click,
                at: at_ns(30, 1),
            },
        },
        TouchRecord {
            program: prog.clone(),
            referrer: cid("nada"),
            touch: Touch {
                id: eid("لمسة-٢"),
                actor: visitor.clone(),
                code: code("9N5PS3ZFR"),
                channel: Channel::custom("souq-flyer").expect("a valid custom channel"),
                kind: TouchKind::Visit,
                at: at_ns(30, 2),
            },
        },
        TouchRecord {
            program: prog.clone(),
            referrer: cid(&long_owner),
            touch: Touch {
                id: eid("touch-share"),
                actor: customer.clone(),
                code: code("7"),
                channel: Channel::InStore,
                kind: TouchKind::Share,
                at: y2k,
            },
        },
    ];
    let entries = vec![
        LedgerEntry {
            id: lid("قيد-١"),
            program: prog.clone(),
            customer: cid("مسوّقة-سارة"),
            role: Role::Referrer,
            reward: rwid("reward-1"),
            kind: EntryKind::Granted,
            unit: Unit::Money(Currency::KWD),
            quantity: 1_500,
            redemption: None,
            order: Some(oid("طلب-٤٢")),
            refund: None,
            at: at_ns(120, 500),
        },
        LedgerEntry {
            id: lid("قيد-٢"),
            program: prog.clone(),
            customer: cid("مسوّقة-سارة"),
            role: Role::Referee,
            reward: rwid("reward-1"),
            kind: EntryKind::Reversed,
            unit: Unit::Money(Currency::KWD),
            quantity: 375,
            redemption: None,
            order: Some(oid("طلب-٤٢")),
            refund: Some(rid("استرداد-١")),
            at: at_ns(180, 999_999_999),
        },
    ];

    let cap = shared_counter("حصة", "cap/referrer/مسوّقة-سارة/2026-03/value");
    let budget = program_counter(&prog, "ميزانية");
    let mut reviewed = Progress::default();
    for (kind, q) in [(EntryKind::Held, 1), (EntryKind::Released, 1)] {
        reviewed
            .apply("مكافأة-١", kind, q)
            .unwrap_or_else(|err| panic!("{clause}: fixture: {err}"));
    }
    let rewards = vec![
        Reward {
            id: rwid("مكافأة-١"),
            program: prog.clone(),
            customer: cid("مسوّقة-سارة"),
            role: Role::Referee,
            kind: RewardKind::Coupon {
                discount: Discount::Percent {
                    basis_points: 1_000,
                    max: Some(kwd(5_000)),
                },
            },
            unit: Unit::Coupons,
            order: Some(oid("طلب-٤٢")),
            rule: Some(label("قاعدة-رمضان")),
            rule_set_version: Some(u32::MAX),
            terms_version: 7,
            variant: Some((label("exp-1"), label("ب"))),
            once_key: Some("milestone:second:2:2026-03".to_owned()),
            earned_at: at_ns(120, 500),
            hold: Some(HoldReason::Review {
                note: "مراجعة: عنوان مشترك \u{2066}x\u{2069}".to_owned(),
                screening: None,
            }),
            release_at: None,
            expires_at: Some(at_ns(86_400, 999_999_999)),
            coupon: Some(code("ABCDEFGHJKMNPQRSTVWXYZ0123456789")),
            decision: Some(ReviewDecision {
                approved: true,
                by: opid("مشرف-١"),
                note: String::new(),
                at: at_ns(130, 1),
            }),
            reserved: vec![(budget.clone(), 1), (cap.clone(), 5_000)],
            progress: reviewed,
        },
        Reward {
            kind: RewardKind::Points {
                unit: label("نقاط"),
                amount: i64::MAX,
            },
            unit: Unit::Points(label("نقاط")),
            order: None,
            earned_at: y2k,
            ..reward_record(
                &prog,
                &long_owner,
                &long_owner,
                Some(y2k),
                None,
                &[(EntryKind::Held, i64::MAX)],
            )
        },
    ];
    let entry = |id: &str, kind: EntryKind, unit: Unit, q: i64, at: DateTime<Utc>| LedgerEntry {
        role: Role::Referee,
        order: None,
        ..entry_of(&prog, id, "عميل-٧", "مكافأة-١", kind, unit, q, at)
    };
    let points = || Unit::Points(label("نقاط"));
    let more_entries = vec![
        entry("قيد-٣", EntryKind::Held, points(), 500, at_ns(200, 1)),
        entry("قيد-٤", EntryKind::Released, points(), 500, at_ns(200, 2)),
        LedgerEntry {
            redemption: Some(rdid("استبدال-١")),
            ..entry("قيد-٥", EntryKind::Redeemed, points(), 200, at_ns(200, 3))
        },
        LedgerEntry {
            refund: Some(rid("استرداد-٢")),
            order: Some(oid("طلب-٤٢")),
            ..entry("قيد-٦", EntryKind::Owed, points(), 200, at_ns(200, 4))
        },
        entry("قيد-٧", EntryKind::Held, Unit::Days, 30, at_ns(200, 5)),
        entry(
            "قيد-٨",
            EntryKind::Granted,
            Unit::Perk(label("وصول-مبكر")),
            1,
            at_ns(200, 6),
        ),
        entry(
            "قيد-٩",
            EntryKind::Granted,
            Unit::Entries(label("سحب-رمضان")),
            3,
            at_ns(200, 7),
        ),
        entry("قيد-١٠", EntryKind::Granted, Unit::Coupons, 1, y2k),
    ];

    let mut writes: Vec<Write> = Vec::new();
    writes.extend(codes.iter().cloned().map(|r| put_code(r, 0)));
    writes.extend(customers.iter().cloned().map(|r| put_customer(r, 0)));
    writes.extend(conversions.iter().cloned().map(|r| put_conversion(r, 0)));
    writes.extend(touches.iter().cloned().map(Write::InsertTouch));
    writes.extend(entries.iter().cloned().map(Write::InsertLedgerEntry));
    writes.extend(more_entries.iter().cloned().map(Write::InsertLedgerEntry));
    writes.extend(rewards.iter().cloned().map(|r| put_reward(r, 0)));
    writes.push(add(&cap, 5_000, Some(5_000)));
    writes.push(add(&budget, i64::MAX, None));
    let identity = full_identity(&prog, "عميل-٧");
    writes.push(put_identity(identity.clone(), 0));
    p.commit_ok("one plan writing every kind of record", plan(writes))
        .await;
    let referee = customers[0].clone();

    let nanos = "(timestamps must keep nanoseconds: see this clause's docs)";
    for record in codes {
        let found = p.code(&prog, &record.code).await;
        assert_eq!(
            found,
            v1(record),
            "{clause}: a code record came back changed {nanos}"
        );
    }
    for record in customers {
        let found = p.customer(&prog, record.customer.as_str()).await;
        assert_eq!(
            found,
            v1(record),
            "{clause}: a customer record came back changed {nanos}"
        );
    }
    for record in conversions {
        let found = p.conversion(&prog, record.conversion.order.as_str()).await;
        assert_eq!(
            found,
            v1(record),
            "{clause}: a conversion record came back changed {nanos}"
        );
    }
    let found = p.touches(&prog, &visitor, since_ever()).await;
    assert_eq!(
        found,
        touches[..2],
        "{clause}: touch records came back changed {nanos}"
    );
    let found = p.touches(&prog, &customer, since_ever()).await;
    assert_eq!(
        found,
        touches[2..],
        "{clause}: a touch record came back changed {nanos}"
    );
    let found = p.ledger(&prog, "مسوّقة-سارة").await;
    assert_eq!(
        found, entries,
        "{clause}: ledger entries came back changed {nanos}"
    );
    let mut sorted = more_entries.clone();
    sorted.sort_by(|a, b| (a.at, a.id.as_str()).cmp(&(b.at, b.id.as_str())));
    let found = p.ledger(&prog, "عميل-٧").await;
    assert_eq!(
        found, sorted,
        "{clause}: ledger entries of every kind and unit came back changed {nanos}"
    );
    for reward in rewards {
        let found = p.reward(&prog, reward.id.as_str()).await;
        assert_eq!(
            found,
            v1(reward),
            "{clause}: a reward came back changed {nanos}"
        );
    }
    assert_eq!(
        (p.counter(&cap).await, p.counter(&budget).await),
        (5_000, i64::MAX),
        "{clause}: counters under non-Latin names, up to i64::MAX"
    );
    let found = p.identity(&prog, "عميل-٧").await;
    assert_eq!(
        found,
        v1(identity.clone()),
        "{clause}: an identity record came back changed {nanos}"
    );
    for signal in &identity.signals {
        let found = p.identity_matches(&prog, &signal.hash, usize::MAX).await;
        let want = IdentityMatch {
            customer: identity.customer.clone(),
            first_seen: signal.first_seen,
        };
        assert_eq!(
            found,
            [want],
            "{clause}: the identity matches of {:?} came back changed {nanos}",
            signal.hash
        );
    }
    let found = p.recent_referees(&prog, "مسوّقة-سارة", usize::MAX).await;
    assert_eq!(
        found,
        [referee],
        "{clause}: a customer listed as a referee came back changed {nanos}"
    );
}
