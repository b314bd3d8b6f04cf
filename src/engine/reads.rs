//! What the engine answers about a customer and their rewards: their
//! signup, primary code, orders, ledger and balances.

use super::*;

impl<S: Store> Engine<S> {
    /// The customer's signup record in this program: when they signed up,
    /// who referred them, and the touches that qualified. `None` if they
    /// never signed up through the engine.
    ///
    /// # Errors
    /// [`ErrorKind::Store`].
    pub async fn customer(&self, customer: &CustomerId) -> Result<Option<CustomerRecord>, Error> {
        Ok(self
            .store
            .customer(self.program.id(), customer)
            .await?
            .map(|v| v.record))
    }

    /// The customer's primary code, if one was issued (without issuing one).
    ///
    /// # Errors
    /// [`ErrorKind::Store`].
    pub async fn primary_code(&self, customer: &CustomerId) -> Result<Option<CodeRecord>, Error> {
        Ok(self
            .store
            .primary_code(self.program.id(), customer)
            .await?
            .map(|v| v.record))
    }

    /// A recorded order: who was credited, what was paid and refunded.
    ///
    /// # Errors
    /// [`ErrorKind::Store`].
    pub async fn conversion(&self, order: &OrderId) -> Result<Option<ConversionRecord>, Error> {
        Ok(self
            .store
            .conversion(self.program.id(), order)
            .await?
            .map(|v| v.record))
    }

    /// The customer's ledger entries, oldest first (every page; use
    /// [`ledger_page`](Self::ledger_page) for a long ledger).
    ///
    /// # Errors
    /// [`ErrorKind::Store`].
    pub async fn ledger(&self, customer: &CustomerId) -> Result<Vec<LedgerEntry>, Error> {
        let mut all = Vec::new();
        let mut after = None;
        loop {
            let page = self
                .ledger_page(customer, after.as_ref(), LEDGER_PAGE)
                .await?;
            let done = page.len() < LEDGER_PAGE;
            after = page.last().map(LedgerCursor::after);
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// A page of the customer's ledger entries: at most `limit` after
    /// `after` (from the first when `None`), oldest first. Pass
    /// [`LedgerCursor::after`] of the last entry to read the next page.
    ///
    /// # Errors
    /// [`ErrorKind::Store`].
    pub async fn ledger_page(
        &self,
        customer: &CustomerId,
        after: Option<&LedgerCursor>,
        limit: usize,
    ) -> Result<Vec<LedgerEntry>, Error> {
        Ok(self
            .store
            .ledger(self.program.id(), customer, after, limit)
            .await?)
    }

    /// The customer's balances, one per unit (money per currency, points
    /// per unit, days, perks, contest entries, coupons), by state:
    /// pending, available, redeemed and owed. Kept by the store as entries
    /// are booked, so reading them costs one read however long the ledger.
    ///
    /// # Errors
    /// [`ErrorKind::Store`].
    pub async fn balances(&self, customer: &CustomerId) -> Result<Vec<Balance>, Error> {
        Ok(self.store.balances(self.program.id(), customer).await?)
    }

    /// The customer's spendable money balance in the program's currency:
    /// what is available less what they owe (negative while in debt).
    /// Pending rewards are not included; see [`balances`](Self::balances).
    ///
    /// # Errors
    /// [`ErrorKind::Store`].
    pub async fn balance(&self, customer: &CustomerId) -> Result<Money, Error> {
        let unit = Unit::Money(self.program.currency());
        let net = self
            .balances(customer)
            .await?
            .into_iter()
            .find(|b| b.unit == unit)
            .map_or(0, |b| b.net());
        Ok(Money::new(net, self.program.currency()))
    }

    /// A reward, by id.
    ///
    /// # Errors
    /// [`ErrorKind::Store`].
    pub async fn reward(&self, reward: &RewardId) -> Result<Option<Reward>, Error> {
        Ok(self
            .store
            .reward(self.program.id(), reward)
            .await?
            .map(|v| v.record))
    }
}
