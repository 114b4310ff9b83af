//! Money from providers: top-ups credited once per payment, refunds and chargebacks taken back
//! (never below zero: a shortfall freezes the wallet and is reported), and disputes (frozen
//! while open, lifted when won, taken back when lost). Each runs on the caller's transaction.

use chrono::{DateTime, Utc};
use db::{AsyncPgConnection, schema::risk_cases};
use diesel::{dsl::exists, prelude::*, select};
use diesel_async::RunQueryDsl;
use enforcement::customer::top_ups;
use ledger::{
    Actor, Counterparty, CreditRequest, FreezeRequest, FreezeSource, Ledger, LedgerError, Reason,
    Reference, ReversalRequest, UnfreezeRequest, WalletBalance,
};
use notifications::{Notification, NotificationKind, facts};
use primitives::{Money, OrganizationId, ProviderName, WalletId};
use uuid::Uuid;

use crate::{
    IntakeError,
    decide::{self, CaseStatus, DisputePlan, DisputeStep, ReversalCause, ReversalPlan, TopUpPlan},
    event::StoredEvent,
    inbox::{self, EventOutcome, EventResult},
    locate::{self, KnownPayment, PaymentKind},
    metrics,
};

/// Who the ledger records as having moved the money.
const ACTOR: &str = "webhooks";

/// Everything a money step needs to know about where it comes from.
pub(crate) struct MoneyContext<'a> {
    pub ledger: &'a Ledger,
    pub provider: ProviderName,
    pub event: &'a StoredEvent,
    pub inbox_id: Uuid,
    pub organization: OrganizationId,
    pub now: DateTime<Utc>,
}

impl MoneyContext<'_> {
    fn outcome(&self, result: EventResult, detail: impl Into<String>) -> EventOutcome {
        EventOutcome::new(self.event, result, detail)
    }

    fn counterparty(&self) -> Result<Counterparty, IntakeError> {
        Ok(Counterparty::parse(format!("topup:{}", self.provider))?)
    }

    /// The organization's wallet, or an outcome saying why there is none to act on.
    async fn wallet(
        &self,
        conn: &mut AsyncPgConnection,
    ) -> Result<Result<WalletBalance, EventOutcome>, IntakeError> {
        match self
            .ledger
            .balance_of_organization(conn, self.organization)
            .await
        {
            Ok(wallet) => Ok(Ok(wallet)),
            Err(LedgerError::WalletNotFound) => Ok(Err(self.outcome(
                EventResult::Unmatched,
                format!("organization {} has no wallet yet", self.organization),
            ))),
            Err(error) => Err(error.into()),
        }
    }

    async fn freeze(
        &self,
        conn: &mut AsyncPgConnection,
        wallet_id: WalletId,
        why: &str,
    ) -> Result<bool, IntakeError> {
        let request = FreezeRequest {
            wallet_id,
            source: FreezeSource::Risk,
            reason: Reason::parse(format!(
                "{why} ({} {})",
                self.provider, self.event.provider_event_id
            ))?,
            actor: Actor::system(ACTOR),
        };
        Ok(self.ledger.freeze(conn, request).await?.changed)
    }

    /// What a money notice says: the provider, the amount and the payment (notifications::facts).
    fn facts(
        &self,
        amount: Money,
        payment: Option<&str>,
    ) -> serde_json::Map<String, serde_json::Value> {
        let mut facts = serde_json::Map::new();
        facts.insert(facts::PROVIDER.to_owned(), self.provider.as_str().into());
        facts.insert(facts::AMOUNT.to_owned(), amount.to_string().into());
        if let Some(payment) = payment {
            facts.insert(facts::PAYMENT_REFERENCE.to_owned(), payment.into());
        }
        facts
    }

    /// Tells the customer, once per `subject` (a payment's dispute, a refund's event): another
    /// delivery about the same thing does not tell them twice.
    async fn notify(
        &self,
        conn: &mut AsyncPgConnection,
        kind: NotificationKind,
        subject: &str,
        facts: serde_json::Value,
    ) -> Result<(), IntakeError> {
        let notification = Notification {
            kind,
            organization_id: self.organization,
            payload: facts,
        };
        let key = format!("{}:{subject}", kind.as_str());
        let key = decide::ledger_reference("notice", self.provider, &key);
        notifications::enqueue(conn, &notification, &key, self.now).await?;
        Ok(())
    }
}

/// A completed top-up: credited once per payment, in the wallet's currency only; the credit
/// marks the top-up row of its checkout completed (`top_ups`), when the event names one.
pub(crate) async fn top_up(
    conn: &mut AsyncPgConnection,
    context: &MoneyContext<'_>,
) -> Result<EventOutcome, IntakeError> {
    let wallet = match context.wallet(conn).await? {
        Ok(wallet) => wallet,
        Err(outcome) => return Ok(outcome),
    };
    match decide::top_up_plan(context.provider, context.event, wallet.currency) {
        TopUpPlan::Hold(reason) => Ok(context.outcome(EventResult::Held, reason)),
        TopUpPlan::Credit { amount, reference } => {
            let request = CreditRequest {
                wallet_id: wallet.wallet_id,
                amount,
                counterparty: context.counterparty()?,
                reference: Reference::parse(reference.clone())?,
                actor: Actor::system(ACTOR),
            };
            let credited = match context.ledger.credit(conn, request).await {
                Ok(credited) => credited,
                Err(LedgerError::IdempotencyConflict { .. }) => {
                    return Ok(context.outcome(
                        EventResult::Held,
                        format!(
                            "IDEMPOTENCY_CONFLICT: {reference} was already credited with another \
                             amount; an operator must compare the two events"
                        ),
                    ));
                }
                Err(error) => return Err(error.into()),
            };
            if let Some(payment) = context.event.payment_reference.as_deref() {
                // Only now is it a top-up that refunds and chargebacks may take back; those
                // that arrived first are looked at again at once.
                locate::remember_payment(
                    conn,
                    context.provider,
                    payment,
                    PaymentKind::TopUp,
                    context.organization,
                    context.inbox_id,
                    context.now,
                )
                .await?;
                inbox::wake_payment(conn, context.provider, payment, context.now).await?;
            }
            if credited.replayed {
                return Ok(context.outcome(
                    EventResult::Duplicate,
                    format!("{amount} was already credited for this payment ({reference})"),
                ));
            }
            complete_checkout(conn, context).await?;
            Ok(context.outcome(
                EventResult::Applied,
                format!("credited {amount} ({reference})"),
            ))
        }
    }
}

/// Marks the top-up row of the event's checkout completed, in the credit's transaction, so the
/// row says `completed` exactly when the wallet holds the money. Only after a new credit: a
/// replay's checkout was marked by the delivery that credited it.
async fn complete_checkout(
    conn: &mut AsyncPgConnection,
    context: &MoneyContext<'_>,
) -> Result<(), IntakeError> {
    let Some(checkout) = context.event.checkout_reference.as_deref() else {
        return Ok(());
    };
    let marked = top_ups::mark_completed(conn, context.provider, checkout, context.now).await?;
    if !marked {
        // Not an error: a top-up started outside our api (a payment link, the provider's
        // dashboard) has no row, and a row already completed stays as it is.
        tracing::debug!(
            provider = %context.provider,
            checkout,
            event_id = %context.event.provider_event_id,
            "no open top-up has this checkout; nothing to mark completed"
        );
    }
    Ok(())
}

/// A refund or a chargeback. Money is taken back only from a top-up that was credited: a
/// refund of a top-up not credited yet waits for it (delivered out of order, the refund would
/// otherwise take money the top-up had not brought), and a chargeback of a subscription payment
/// took nothing the wallet holds. A chargeback freezes the wallet (source `risk`) at once,
/// whatever is known of its payment.
pub(crate) async fn reversal(
    conn: &mut AsyncPgConnection,
    context: &MoneyContext<'_>,
    cause: ReversalCause,
) -> Result<EventOutcome, IntakeError> {
    let wallet = match context.wallet(conn).await? {
        Ok(wallet) => wallet,
        Err(outcome) => return Ok(outcome),
    };
    let (amount, reference, freeze) =
        match decide::reversal_plan(context.provider, context.event, cause, wallet.currency) {
            ReversalPlan::Hold(reason) => return Ok(context.outcome(EventResult::Held, reason)),
            ReversalPlan::Take {
                amount,
                reference,
                freeze,
            } => (amount, reference, freeze),
        };
    if freeze {
        context
            .freeze(conn, wallet.wallet_id, "the provider reversed a payment")
            .await?;
        let payment = context.event.payment_reference.as_deref();
        let case = Case {
            kind: "chargeback",
            reference: payment.unwrap_or(&context.event.provider_event_id),
            status: "recorded",
            amount,
            closed: false,
        };
        record_case(conn, context, &case).await?;
    }
    take_back_top_up(conn, context, &wallet, amount, &reference).await
}

/// Takes back what a credited top-up brought, or says why nothing is taken (yet).
async fn take_back_top_up(
    conn: &mut AsyncPgConnection,
    context: &MoneyContext<'_>,
    wallet: &WalletBalance,
    amount: Money,
    reference: &str,
) -> Result<EventOutcome, IntakeError> {
    let Some(payment) = context.event.payment_reference.as_deref() else {
        return Ok(context.outcome(EventResult::Held, "money taken back from no named payment"));
    };
    match locate::known_payment(conn, context.provider, payment).await? {
        Some(KnownPayment {
            kind: PaymentKind::TopUp,
            ..
        }) => take_back(conn, context, wallet, amount, reference).await,
        Some(KnownPayment {
            kind: PaymentKind::Subscription,
            ..
        }) => Ok(context.outcome(
            EventResult::Applied,
            format!(
                "{payment} paid a subscription, not the wallet: nothing is taken from the \
                 wallet"
            ),
        )),
        None => Ok(context.outcome(
            EventResult::Unmatched,
            format!("waiting for the top-up {payment} to be credited before taking {amount} back"),
        )),
    }
}

/// Takes `amount` back under `reference`; what the wallet cannot cover is a shortfall: the
/// wallet is frozen (source `risk`), the shortfall recorded and reported, never a negative
/// balance.
async fn take_back(
    conn: &mut AsyncPgConnection,
    context: &MoneyContext<'_>,
    wallet: &WalletBalance,
    amount: Money,
    reference: &str,
) -> Result<EventOutcome, IntakeError> {
    let request = ReversalRequest {
        wallet_id: wallet.wallet_id,
        amount,
        counterparty: context.counterparty()?,
        reference: Reference::parse(reference.to_owned())?,
        actor: Actor::system(ACTOR),
    };
    let (taken, replayed) = match context.ledger.reverse(conn, request).await {
        Ok(reversed) => (reversed.value.amount, reversed.replayed),
        Err(LedgerError::InsufficientFunds { .. }) => (Money::zero(amount.currency()), false),
        Err(LedgerError::IdempotencyConflict { .. }) => {
            return Ok(context.outcome(
                EventResult::Held,
                format!(
                    "IDEMPOTENCY_CONFLICT: {reference} was already used for another movement; an \
                     operator must compare the events"
                ),
            ));
        }
        Err(error) => return Err(error.into()),
    };
    let shortfall = amount.checked_sub(taken).unwrap_or(amount);
    if shortfall.is_positive() {
        context
            .freeze(
                conn,
                wallet.wallet_id,
                "money taken back exceeds what the wallet holds",
            )
            .await?;
        let case = Case {
            kind: "shortfall",
            reference: &context.event.provider_event_id,
            status: "recorded",
            amount: shortfall,
            closed: false,
        };
        record_case(conn, context, &case).await?;
        if !replayed {
            metrics::shortfall(context.provider);
            tracing::error!(
                event = "refund_shortfall",
                provider = %context.provider,
                organization = %context.organization,
                event_id = %context.event.provider_event_id,
                requested = %amount,
                taken = %taken,
                shortfall = %shortfall,
                "REFUND SHORTFALL: {} took back {amount} from organization {}, the wallet \
                 covered {taken}; it is frozen (risk) for an operator",
                context.provider,
                context.organization,
            );
        }
    }
    let mut facts = context.facts(amount, context.event.payment_reference.as_deref());
    if shortfall.is_positive() {
        facts.insert(facts::SHORTFALL.to_owned(), shortfall.to_string().into());
    }
    let facts = serde_json::Value::Object(facts);
    context
        .notify(conn, NotificationKind::PaymentReversed, reference, facts)
        .await?;
    let detail = if shortfall.is_positive() {
        format!("took back {taken} of {amount}; {shortfall} short: wallet frozen (risk)")
    } else {
        format!("took back {amount} ({reference})")
    };
    let result = if replayed {
        EventResult::Duplicate
    } else {
        EventResult::Applied
    };
    Ok(context.outcome(result, detail))
}

/// A dispute's step.
pub(crate) async fn dispute(
    conn: &mut AsyncPgConnection,
    context: &MoneyContext<'_>,
    step: DisputeStep,
) -> Result<EventOutcome, IntakeError> {
    let Some(payment) = context.event.payment_reference.clone() else {
        return Ok(context.outcome(EventResult::Held, "a dispute without a payment reference"));
    };
    let wallet = match context.wallet(conn).await? {
        Ok(wallet) => wallet,
        Err(outcome) => return Ok(outcome),
    };
    let amount = context
        .event
        .amount()
        .unwrap_or(Money::zero(wallet.currency));
    let case = dispute_case(conn, context.provider, &payment).await?;
    let facts = serde_json::Value::Object(context.facts(amount, Some(&payment)));
    match decide::dispute_plan(step, case) {
        DisputePlan::Ignore(reason) => Ok(context.outcome(EventResult::Ignored, reason)),
        DisputePlan::Hold(reason) => Ok(context.outcome(EventResult::Held, reason)),
        DisputePlan::Open => {
            let case = Case {
                kind: "dispute",
                reference: &payment,
                status: "open",
                amount,
                closed: false,
            };
            record_case(conn, context, &case).await?;
            context
                .freeze(conn, wallet.wallet_id, "a payment is disputed")
                .await?;
            context
                .notify(conn, NotificationKind::DisputeOpened, &payment, facts)
                .await?;
            Ok(context.outcome(
                EventResult::Applied,
                format!("dispute of {amount} opened on {payment}: wallet frozen (risk)"),
            ))
        }
        DisputePlan::Win => {
            close_dispute(conn, context, &payment, amount, CaseStatus::Won).await?;
            let lifted = lift_risk_freeze(conn, context, &wallet, &payment).await?;
            context
                .notify(conn, NotificationKind::DisputeWon, &payment, facts)
                .await?;
            let detail = if lifted {
                format!("dispute on {payment} won: risk freeze lifted")
            } else {
                format!("dispute on {payment} won; the wallet stays frozen for another risk case")
            };
            Ok(context.outcome(EventResult::Applied, detail))
        }
        DisputePlan::Lose => {
            close_dispute(conn, context, &payment, amount, CaseStatus::Lost).await?;
            context
                .freeze(conn, wallet.wallet_id, "a dispute was lost")
                .await?;
            context
                .notify(conn, NotificationKind::DisputeLost, &payment, facts)
                .await?;
            if !amount.is_positive() {
                return Ok(context.outcome(
                    EventResult::Applied,
                    format!("dispute on {payment} lost (no amount to take back)"),
                ));
            }
            let reference = decide::taken_back_reference(context.provider, &payment);
            let mut outcome = take_back_top_up(conn, context, &wallet, amount, &reference).await?;
            outcome.detail = format!("dispute on {payment} lost: {}", outcome.detail);
            Ok(outcome)
        }
    }
}

/// The dispute case of a payment, locked for this transaction.
async fn dispute_case(
    conn: &mut AsyncPgConnection,
    provider: ProviderName,
    payment: &str,
) -> Result<Option<CaseStatus>, IntakeError> {
    let status: Option<String> = risk_cases::table
        .filter(risk_cases::provider.eq(provider.as_str()))
        .filter(risk_cases::kind.eq("dispute"))
        .filter(risk_cases::reference.eq(payment))
        .select(risk_cases::status)
        .for_update()
        .first(conn)
        .await
        .optional()?;
    status
        .map(|status| match status.as_str() {
            "open" => Ok(CaseStatus::Open),
            "won" => Ok(CaseStatus::Won),
            "lost" => Ok(CaseStatus::Lost),
            other => Err(IntakeError::Corrupt(format!("dispute case status {other}"))),
        })
        .transpose()
}

/// A risk case to record.
struct Case<'a> {
    kind: &'static str,
    /// The payment (disputes, chargebacks) or the refund's event id (shortfalls).
    reference: &'a str,
    status: &'static str,
    amount: Money,
    closed: bool,
}

/// Records a risk case once; returns whether it was new (a repeated event finds it there).
async fn record_case(
    conn: &mut AsyncPgConnection,
    context: &MoneyContext<'_>,
    case: &Case<'_>,
) -> Result<bool, IntakeError> {
    let inserted = diesel::insert_into(risk_cases::table)
        .values((
            risk_cases::id.eq(Uuid::now_v7()),
            risk_cases::organization_id.eq(context.organization.as_uuid()),
            risk_cases::provider.eq(context.provider.as_str()),
            risk_cases::kind.eq(case.kind),
            risk_cases::reference.eq(case_reference(case.reference)),
            risk_cases::status.eq(case.status),
            risk_cases::amount.eq(case.amount.minor().max(0)),
            risk_cases::currency.eq(case.amount.currency().code()),
            risk_cases::inbox_id.eq(context.inbox_id),
            risk_cases::opened_at.eq(context.now),
            risk_cases::closed_at.eq(case.closed.then_some(context.now)),
        ))
        .on_conflict_do_nothing()
        .execute(conn)
        .await?;
    Ok(inserted == 1)
}

/// Closes the dispute case (or records it closed, when its opening never came).
async fn close_dispute(
    conn: &mut AsyncPgConnection,
    context: &MoneyContext<'_>,
    payment: &str,
    amount: Money,
    status: CaseStatus,
) -> Result<(), IntakeError> {
    let status = match status {
        CaseStatus::Won => "won",
        CaseStatus::Lost => "lost",
        CaseStatus::Open => "open",
    };
    let case = Case {
        kind: "dispute",
        reference: payment,
        status,
        amount,
        closed: true,
    };
    if !record_case(conn, context, &case).await? {
        diesel::update(risk_cases::table)
            .filter(risk_cases::provider.eq(context.provider.as_str()))
            .filter(risk_cases::kind.eq("dispute"))
            .filter(risk_cases::reference.eq(case_reference(payment)))
            .set((
                risk_cases::status.eq(status),
                risk_cases::closed_at.eq(Some(context.now)),
            ))
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Lifts the risk freeze after a dispute won, unless another case still needs it: an open
/// dispute, or a lost dispute, chargeback or shortfall recorded since the freeze was set
/// (those only a person resolves). Returns whether it was lifted.
async fn lift_risk_freeze(
    conn: &mut AsyncPgConnection,
    context: &MoneyContext<'_>,
    wallet: &WalletBalance,
    payment: &str,
) -> Result<bool, IntakeError> {
    let Some(freeze) = wallet
        .freezes
        .iter()
        .find(|freeze| freeze.source == FreezeSource::Risk)
    else {
        return Ok(false);
    };
    let this = case_reference(payment);
    let others_open = risk_cases::table
        .filter(risk_cases::organization_id.eq(context.organization.as_uuid()))
        .filter(
            risk_cases::provider
                .ne(context.provider.as_str())
                .or(risk_cases::kind.ne("dispute"))
                .or(risk_cases::reference.ne(&this)),
        )
        .filter(
            risk_cases::status
                .eq("open")
                .or(risk_cases::status.eq_any(["lost", "recorded"]).and(
                    risk_cases::closed_at
                        .ge(freeze.frozen_at)
                        .or(risk_cases::closed_at
                            .is_null()
                            .and(risk_cases::opened_at.ge(freeze.frozen_at))),
                )),
        );
    let needed: bool = select(exists(others_open)).get_result(conn).await?;
    if needed {
        return Ok(false);
    }
    let request = UnfreezeRequest {
        wallet_id: wallet.wallet_id,
        source: FreezeSource::Risk,
        reason: Reason::parse(format!(
            "dispute on {payment} won ({} {})",
            context.provider, context.event.provider_event_id
        ))?,
        actor: Actor::system(ACTOR),
    };
    Ok(context.ledger.unfreeze(conn, request).await?.changed)
}

/// Risk case references must fit their column.
fn case_reference(reference: &str) -> String {
    crate::event::storable_id(reference, 255)
}
