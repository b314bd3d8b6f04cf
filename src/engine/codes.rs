//! Codes through the engine: issuing a customer's primary code, vanity
//! codes, turning a code off, and checking a typed code (screened for
//! guessing or not).

use super::*;

/// A code issued to a customer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct IssuedCode {
    /// The code record as stored.
    pub record: CodeRecord,
    /// The code grouped with dashes for people (`7K3-MQ9-XDP`).
    pub display: String,
    /// `false` when the customer already had this code.
    pub created: bool,
}

/// What [`Engine::check_code`] found for a typed code.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct CodeCheck {
    /// The code, canonical.
    pub code: Code,
    /// Its owner, if the code exists.
    pub owner: Option<CustomerId>,
    /// `None` if it can refer someone now; otherwise why not.
    pub unusable: Option<CodeUnusable>,
    /// How many referrals it made.
    pub uses: i64,
}

/// Options for a vanity code.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VanityOptions {
    /// When it stops referring; `None`: the program's code validity, if any.
    pub expires_at: Option<DateTime<Utc>>,
    /// How many referrals it may make; `None`: the program's limit, if any.
    pub max_uses: Option<u32>,
}

impl<S: Store> Engine<S> {
    /// Issues `customer` their primary code, or returns the one they have.
    ///
    /// Idempotent by customer: the same customer always gets the same code
    /// back, even when two calls race.
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`] for a derived-code program without a
    /// secret; [`ErrorKind::LimitReached`] if no free code was found;
    /// [`ErrorKind::Store`] when the store fails.
    pub async fn issue_code(
        &self,
        customer: &CustomerId,
        at: DateTime<Utc>,
    ) -> Result<IssuedCode, Error> {
        let program = &self.program;
        let format = program.code_format();
        for _ in 0..self.max_attempts {
            if let Some(v) = self.store.primary_code(program.id(), customer).await? {
                return Ok(IssuedCode {
                    display: format.display(&v.record.code),
                    record: v.record,
                    created: false,
                });
            }
            let mut candidate = None;
            for attempt in 0..CODE_ATTEMPTS {
                let code = match program.code_generation() {
                    CodeGeneration::Random => {
                        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
                        format.random(&mut **rng)
                    }
                    CodeGeneration::Derived => {
                        let Some(secret) = &self.secret else {
                            return Err(Error::new(
                                ErrorKind::Unsupported,
                                format!(
                                    "program {} derives codes from a secret, and this engine has none (Engine::with_code_secret)",
                                    program.id()
                                ),
                            ));
                        };
                        format.derive(secret, program.id(), customer, attempt)
                    }
                };
                if program.blocklist().contains_in(&code).is_some() {
                    continue;
                }
                if self.store.code(program.id(), &code).await?.is_none() {
                    candidate = Some(code);
                    break;
                }
            }
            let Some(code) = candidate else {
                return Err(Error::new(
                    ErrorKind::LimitReached,
                    format!("no free code found for {customer} after {CODE_ATTEMPTS} tries"),
                ));
            };
            let record = CodeRecord {
                program: program.id().clone(),
                code,
                owner: customer.clone(),
                origin: match program.code_generation() {
                    CodeGeneration::Derived => CodeOrigin::Derived,
                    _ => CodeOrigin::Random,
                },
                created_at: at,
                expires_at: program.code_valid_for().map(|d| expiry(at, d)),
                max_uses: program.code_max_uses(),
                reward: None,
                active: true,
            };
            let plan = CommitPlan {
                idempotency: None,
                writes: vec![Write::PutCode {
                    record: record.clone(),
                    expected: 0,
                }],
            };
            let decision = Decision {
                outcome: IssuedCode {
                    display: format.display(&code),
                    record,
                    created: true,
                },
                plan,
            };
            if let Some(issued) = self.commit(decision).await? {
                return Ok(issued);
            }
        }
        Err(self.exhausted("issue_code"))
    }

    /// Registers a vanity code (an influencer's `SARA2026`) for `owner`.
    ///
    /// Idempotent: registering the same code for the same owner again
    /// returns the stored record.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] if the text breaks the vanity rules or
    /// the blocklist; [`ErrorKind::Duplicate`] if another customer holds
    /// the code.
    pub async fn create_vanity_code(
        &self,
        owner: &CustomerId,
        text: &str,
        options: VanityOptions,
        at: DateTime<Utc>,
    ) -> Result<CodeRecord, Error> {
        let program = &self.program;
        let code = program.code_format().vanity(text, program.blocklist())?;
        if options.max_uses == Some(0) {
            return Err(Error::invalid(
                "options.max_uses",
                "must be at least 1 (or unset for the program's limit)",
            ));
        }
        if let Some(expires) = options.expires_at.filter(|e| *e <= at) {
            return Err(Error::invalid(
                "options.expires_at",
                format!("{expires} is not after the creation time {at}"),
            ));
        }
        for _ in 0..self.max_attempts {
            if let Some(v) = self.store.code(program.id(), &code).await? {
                if v.record.owner == *owner {
                    return Ok(v.record);
                }
                return Err(Error::new(
                    ErrorKind::Duplicate,
                    format!("vanity code {code} is taken in program {}", program.id()),
                ));
            }
            let record = CodeRecord {
                program: program.id().clone(),
                code,
                owner: owner.clone(),
                origin: CodeOrigin::Vanity,
                created_at: at,
                expires_at: options
                    .expires_at
                    .or_else(|| program.code_valid_for().map(|d| expiry(at, d))),
                max_uses: options.max_uses.or(program.code_max_uses()),
                reward: None,
                active: true,
            };
            let decision = Decision {
                outcome: record.clone(),
                plan: CommitPlan {
                    idempotency: None,
                    writes: vec![Write::PutCode {
                        record,
                        expected: 0,
                    }],
                },
            };
            if let Some(r) = self.commit(decision).await? {
                return Ok(r);
            }
        }
        Err(self.exhausted("create_vanity_code"))
    }

    /// Turns a code on or off. A deactivated code refers nobody from then
    /// on; referrals it already made stand.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] for an unknown code.
    pub async fn set_code_active(&self, code: &Code, active: bool) -> Result<CodeRecord, Error> {
        let program = &self.program;
        for _ in 0..self.max_attempts {
            let Some(v) = self.store.code(program.id(), code).await? else {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("code {code} does not exist in program {}", program.id()),
                ));
            };
            if v.record.active == active {
                return Ok(v.record);
            }
            let mut record = v.record;
            record.active = active;
            let decision = Decision {
                outcome: record.clone(),
                plan: CommitPlan {
                    idempotency: None,
                    writes: vec![Write::PutCode {
                        record,
                        expected: v.version,
                    }],
                },
            };
            if let Some(r) = self.commit(decision).await? {
                return Ok(r);
            }
        }
        Err(self.exhausted("set_code_active"))
    }

    /// Reads what a person typed as a code and says whether it can refer
    /// someone at `at`: for signup forms, before the signup is recorded.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] if the text is not a code. Its source is
    /// the [`CodeParseError`](crate::code::CodeParseError), which names the
    /// character and position, or for a typo offers the corrections:
    /// `err.source().and_then(|s| s.downcast_ref::<CodeParseError>())`,
    /// then `.suggestions()` (every code one substitution or one adjacent
    /// swap away), to show as "did you mean …?".
    pub async fn check_code(&self, input: &str, at: DateTime<Utc>) -> Result<CodeCheck, Error> {
        let code = self.program.code_format().parse(input)?;
        let found = self.store.code(self.program.id(), &code).await?;
        Ok(match found {
            None => CodeCheck {
                code,
                owner: None,
                unusable: Some(CodeUnusable::Unknown),
                uses: 0,
            },
            Some(v) => {
                let key = CounterKey::code_uses(self.program.id(), &code);
                let uses = self.store.counter(&key).await?;
                CodeCheck {
                    code,
                    unusable: decide::code_usable(&v.record, uses, at).err(),
                    owner: Some(v.record.owner),
                    uses,
                }
            }
        })
    }

    /// Reads a typed code like [`check_code`](Self::check_code), and
    /// defends against guessing: in a program that screens for fraud, an
    /// invalid or unknown code typed from `identity.ip` counts against that
    /// address (by its keyed hash, per clock hour), and past
    /// [`Limits::invalid_codes_per_hour`](crate::fraud::checks::Limits) in
    /// this hour and the one before, the address is refused until its
    /// attempts age out (every refused attempt still counts).
    /// A later signup from the address carries a code-guessing signal.
    ///
    /// # Errors
    /// As [`check_code`](Self::check_code); [`ErrorKind::LimitReached`]
    /// while the address is refused (nothing is checked then);
    /// identity errors as in
    /// [`record_signup_screened`](Self::record_signup_screened).
    pub async fn check_code_screened(
        &self,
        input: &str,
        at: DateTime<Utc>,
        identity: &IdentityInput,
    ) -> Result<CodeCheck, Error> {
        let hashed = self.hash_identity(identity)?;
        let (Some(settings), Some(h)) = (self.fraud_settings(), &hashed) else {
            return self.check_code(input, at).await;
        };
        let guesses = self.guesses(h, at).await?;
        let limit = settings.policy.limits.invalid_codes_per_hour;
        // Past the limit every attempt is refused unread, and still
        // counted: an address that keeps trying goes on to a strong
        // signal.
        let checked = if guesses.count > limit {
            Err(Error::new(
                ErrorKind::LimitReached,
                format!(
                    "{} invalid codes from this address within the hour (limit {limit}): try again later",
                    guesses.count
                ),
            ))
        } else {
            self.check_code(input, at).await
        };
        let invalid = match &checked {
            Err(e) => matches!(e.kind(), ErrorKind::InvalidInput | ErrorKind::LimitReached),
            Ok(c) => c.unusable == Some(CodeUnusable::Unknown),
        };
        if let (true, Some(key)) = (invalid, guesses.key) {
            let decision = Decision {
                outcome: (),
                plan: CommitPlan {
                    idempotency: None,
                    writes: vec![Write::AddToCounter {
                        key,
                        delta: 1,
                        limit: None,
                    }],
                },
            };
            // A counter add conflicts only on overflow: nothing to retry.
            self.commit(decision).await?;
        }
        checked
    }

    /// How many referrals each of `codes` made, for those with a use limit
    /// (read from their use counters).
    pub(super) async fn code_uses(
        &self,
        codes: &[Code],
        records: &HashMap<Code, Versioned<CodeRecord>>,
    ) -> Result<decide::CodeUses, Error> {
        let mut out = decide::CodeUses::new();
        for code in codes {
            let limited = records
                .get(code)
                .is_some_and(|v| v.record.max_uses.is_some());
            if limited && !out.contains_key(code) {
                let key = CounterKey::code_uses(self.program.id(), code);
                out.insert(*code, self.store.counter(&key).await?);
            }
        }
        Ok(out)
    }
}
