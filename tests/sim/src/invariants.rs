//! The guarantees, checked from the database and the fakes' records.
//!
//! **After every step** (cheap: one round trip, `snapshot`, with the ledger read incrementally;
//! the recipients' charges after the steps that touch them):
//! - the fake Twilio's findings at send time: no recipient possibly sent twice, no send while
//!   the organization may not send or for a campaign that was not running, none through a
//!   subaccount suspended at Twilio;
//! - no negative balance, held amount or available amount;
//! - each wallet's balance and held amount equal the running sums of its entries, every new
//!   entry's `*_after` figures follow from the previous one's, and the held amount equals what
//!   its open holds still reserve;
//! - no debit or hold on a wallet frozen throughout the step;
//! - each Stripe payment credited at most once, for its amount, to its organization's wallet;
//! - the billing freeze and the billing / customer access blocks are exactly what the
//!   subscription's status calls for; the operator's freeze is exactly the operator's;
//! - every campaign a person paused is still paused, `manual`;
//! - the outbox never loses a message (its row count never falls) and knows no other status;
//! - after a step that touches recipients: every sent or maybe-sent recipient is charged.
//!
//! **Every `SIM_FULL_EVERY` steps, at every quiesce and after the last step** (whole tables):
//! the ledger crate's own reconciliation and an independent one (sums and the whole chain);
//! every acknowledged reference present once, as acknowledged; every campaign's money
//! (recipients charged = captured + debited - given back + charges due; nothing reserved by a
//! campaign that is done); every message Twilio really has is a recipient charged for it;
//! every notification the outbox marked delivered reached the mail server; every effect a
//! subscription transition decided is in the outbox.
//!
//! **At every quiesce** (the outside world healthy, the outbox drained): campaigns paused for
//! a billing reason resumed wherever the cause cleared and the money is there (manual pauses
//! never); each brand's Twilio subaccount suspended exactly when the subscription calls for it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use diesel::{
    QueryableByName,
    sql_types::{BigInt, Nullable, Text, Uuid as SqlUuid},
};
use diesel_async::RunQueryDsl;
use subscriptions::{Effect, SubscriptionStatus, posture::Posture};
use uuid::Uuid;

use crate::{
    plan::Step,
    snapshot::{self, Snapshot},
    sql,
    world::World,
};

#[derive(Debug, Clone, Copy, Default)]
struct Sums {
    balance: i64,
    held: i64,
}

#[derive(QueryableByName)]
struct Keyed {
    #[diesel(sql_type = Text)]
    key: String,
}

/// Follows the database from step to step.
#[derive(Default)]
pub struct Checker {
    last_seq: i64,
    sums: HashMap<Uuid, Sums>,
    /// Each wallet's freeze sources after the previous step.
    frozen: HashMap<Uuid, String>,
    /// Freeze and unfreeze events per wallet so far.
    freeze_events: HashMap<Uuid, i64>,
    outbox_rows: i64,
    /// Stripe payments credited so far: payment intent -> wallet.
    credited: BTreeMap<String, Uuid>,
    pub full_checks: u64,
}

fn status_of(text: &str) -> Option<SubscriptionStatus> {
    use SubscriptionStatus as S;
    [
        S::Pending,
        S::Trialing,
        S::Active,
        S::PastDue,
        S::Paused,
        S::Suspended,
        S::Canceled,
        S::Expired,
    ]
    .into_iter()
    .find(|status| status.to_string() == text)
}

impl Checker {
    pub async fn new(world: &mut World) -> Self {
        let mut checker = Self::default();
        let snapshot = checker.look(world).await;
        for wallet in &snapshot.wallets {
            checker.frozen.insert(wallet.id, wallet.frozen.clone());
        }
        checker.freeze_events = snapshot.freeze_events.clone();
        // The opening entries.
        for entry in &snapshot.entries {
            let sums = checker.sums.entry(entry.wallet_id).or_default();
            sums.balance += entry.balance_change;
            sums.held += entry.held_change;
            checker.last_seq = entry.seq;
        }
        checker.outbox_rows = snapshot.outbox_rows;
        world.snapshot = snapshot;
        checker
    }

    async fn look(&self, world: &World) -> Snapshot {
        let paused: Vec<Uuid> = world
            .model
            .manual_pauses
            .iter()
            .filter_map(|slot| world.campaigns.get(slot).map(|c| c.id.as_uuid()))
            .collect();
        let mut conn = world.conn().await;
        snapshot::take(&mut conn, self.last_seq, &paused).await
    }

    /// The checks that run after every step. The snapshot they read becomes the world's
    /// picture of the state before the next step.
    pub async fn after_step(&mut self, world: &mut World, step: &Step) -> Result<(), String> {
        let violations = world.twilio.take_violations();
        if !violations.is_empty() {
            return Err(violations.join("\n"));
        }
        let snapshot = self.look(world).await;
        // Time in each state, in steps, for the figures.
        for standing in &snapshot.standings {
            world
                .stats
                .bump(format!("state.subscription.{}", standing.status));
            for source in standing.frozen.split(',').filter(|s| !s.is_empty()) {
                world.stats.bump(format!("state.wallet_frozen_by.{source}"));
            }
            if standing.frozen.is_empty() {
                world.stats.bump("state.wallet_unfrozen");
            }
        }
        world
            .stats
            .add("state.campaigns_running", snapshot.running.len() as u64);
        let result = self.check(world, &snapshot);
        world.snapshot = snapshot;
        result?;
        if matches!(
            step,
            Step::Dispatch { .. }
                | Step::Lookup { .. }
                | Step::CancelCampaign { .. }
                | Step::Quiesce
        ) {
            recipients_charged(world).await?;
        }
        Ok(())
    }

    fn check(&mut self, world: &World, snapshot: &Snapshot) -> Result<(), String> {
        let frozen_before = std::mem::take(&mut self.frozen);
        for wallet in &snapshot.wallets {
            self.frozen.insert(wallet.id, wallet.frozen.clone());
        }
        for entry in &snapshot.entries {
            let sums = self.sums.entry(entry.wallet_id).or_default();
            if entry.balance_after - entry.balance_change != sums.balance
                || entry.held_after - entry.held_change != sums.held
            {
                return Err(format!(
                    "entry {} of wallet {} ({} {}) does not follow the previous one: before it \
                     the entries sum to balance {} held {}, it says {} {}",
                    entry.seq,
                    entry.wallet_id,
                    entry.kind,
                    entry.reference,
                    sums.balance,
                    sums.held,
                    entry.balance_after - entry.balance_change,
                    entry.held_after - entry.held_change
                ));
            }
            sums.balance += entry.balance_change;
            sums.held += entry.held_change;
            self.last_seq = entry.seq;
            let frozen_throughout = frozen_before
                .get(&entry.wallet_id)
                .is_some_and(|f| !f.is_empty())
                && self
                    .frozen
                    .get(&entry.wallet_id)
                    .is_some_and(|f| !f.is_empty())
                && snapshot.freeze_events.get(&entry.wallet_id)
                    == self.freeze_events.get(&entry.wallet_id);
            if frozen_throughout && matches!(entry.kind.as_str(), "debit" | "hold") {
                return Err(format!(
                    "a {} ({}) was written on wallet {} while it was frozen ({})",
                    entry.kind, entry.reference, entry.wallet_id, self.frozen[&entry.wallet_id]
                ));
            }
            if entry.kind == "credit"
                && let Some(payment) = entry
                    .reference
                    .split(':')
                    .find(|part| part.starts_with("pi_sim"))
            {
                self.top_up_credited(world, payment, &sql::EntryRow::from(entry))?;
            }
        }
        self.freeze_events = snapshot.freeze_events.clone();
        for wallet in &snapshot.wallets {
            if wallet.balance < 0 || wallet.held < 0 || wallet.held > wallet.balance {
                return Err(format!(
                    "wallet {} has negative figures: {wallet:?}",
                    wallet.id
                ));
            }
            let sums = self.sums.get(&wallet.id).copied().unwrap_or_default();
            if sums.balance != wallet.balance || sums.held != wallet.held {
                return Err(format!(
                    "wallet {} stores balance {} held {}, its entries sum to {} {}",
                    wallet.id, wallet.balance, wallet.held, sums.balance, sums.held
                ));
            }
            let open = snapshot.reserved.get(&wallet.id).copied().unwrap_or(0);
            if open != wallet.held {
                return Err(format!(
                    "wallet {} holds {} but its open holds reserve {open}",
                    wallet.id, wallet.held
                ));
            }
        }
        self.standings(world, snapshot)?;
        for row in &snapshot.paused {
            if row.status != "paused" || row.pause_reason.as_deref() != Some("manual") {
                let slot = world.campaign_slots.get(&row.id);
                return Err(format!(
                    "campaign slot {slot:?} was paused by a person and is now {} ({:?}) \
                     without a person resuming it",
                    row.status, row.pause_reason
                ));
            }
        }
        if snapshot.outbox_rows < self.outbox_rows {
            return Err(format!(
                "the outbox lost messages: {} before this step, {} now",
                self.outbox_rows, snapshot.outbox_rows
            ));
        }
        if snapshot.outbox_odd > 0 {
            return Err(format!(
                "{} outbox messages in an unknown status",
                snapshot.outbox_odd
            ));
        }
        self.outbox_rows = snapshot.outbox_rows;
        Ok(())
    }

    fn top_up_credited(
        &mut self,
        world: &World,
        payment: &str,
        entry: &sql::EntryRow,
    ) -> Result<(), String> {
        if let Some(earlier) = self.credited.insert(payment.to_owned(), entry.wallet_id) {
            return Err(format!(
                "Stripe payment {payment} was credited twice (wallets {earlier} and {}), the \
                 second time as {}",
                entry.wallet_id, entry.reference
            ));
        }
        let number: Option<u32> = payment.trim_start_matches("pi_sim").parse().ok();
        let Some((org, amount)) = number.and_then(|n| world.model.top_ups.get(&n).copied()) else {
            return Err(format!("a credit for {payment}, which Stripe never made"));
        };
        if world.orgs[org].wallet.as_uuid() != entry.wallet_id || amount != entry.amount {
            return Err(format!(
                "Stripe payment {payment} of {amount} for org {org} was credited {} to wallet {}",
                entry.amount, entry.wallet_id
            ));
        }
        Ok(())
    }

    /// Billing freeze and access blocks follow the subscription's status; the operator's
    /// freeze is the operator's.
    fn standings(&self, world: &World, snapshot: &Snapshot) -> Result<(), String> {
        for standing in &snapshot.standings {
            let Some(org) = world.org_index(standing.organization_id) else {
                continue;
            };
            let status = status_of(&standing.status)
                .ok_or_else(|| format!("org {org}: unknown status {}", standing.status))?;
            let posture = Posture::of(status);
            let billing_frozen = standing.frozen.split(',').any(|s| s == "billing");
            let admin_frozen = standing.frozen.split(',').any(|s| s == "admin");
            if billing_frozen != posture.wallet_frozen
                || standing.billing_block != posture.billing_block
                || standing.customer_block != posture.customer_block
            {
                return Err(format!(
                    "org {org} is {status}, yet its wallet's billing freeze is {billing_frozen} \
                     and its billing / customer access blocks {} / {} (the status calls for \
                     {posture:?})",
                    standing.billing_block, standing.customer_block
                ));
            }
            if admin_frozen != world.model.admin_frozen[org] {
                return Err(format!(
                    "org {org}'s operator freeze is {admin_frozen}, the operator left it {}",
                    world.model.admin_frozen[org]
                ));
            }
        }
        Ok(())
    }

    /// The whole-table checks.
    pub async fn full(&mut self, world: &World) -> Result<(), String> {
        self.full_checks += 1;
        reconcile(world).await?;
        acknowledged(world).await?;
        campaign_money(world).await?;
        twilio_truth(world).await?;
        recipients_charged(world).await?;
        notifications_reached(world).await?;
        effects_enqueued(world).await?;
        Ok(())
    }

    /// After a quiesce: liveness.
    pub async fn quiesced(&mut self, world: &World) -> Result<(), String> {
        billing_pauses_resumed(world).await?;
        subaccounts_follow_subscriptions(world).await?;
        self.full(world).await
    }
}

/// Every sent or maybe-sent recipient is charged its message's cost (or its batch's charge was
/// recorded uncharged, the designed and alarmed last resort, which the figures count).
async fn recipients_charged(world: &World) -> Result<(), String> {
    let mut conn = world.conn().await;
    let unpaid = sql::number(
        &mut conn,
        "SELECT count(*)::bigint AS n FROM campaign_recipients r \
         JOIN campaigns c ON c.id = r.campaign_id \
         LEFT JOIN campaign_batches b ON b.id = r.batch_id \
         WHERE r.status IN ('sent', 'unconfirmed') AND r.charged <> c.cost_per_message \
           AND b.charge_state IS DISTINCT FROM 'uncharged'",
    )
    .await;
    if unpaid > 0 {
        return Err(format!(
            "{unpaid} sent or maybe-sent recipients are not charged their message's cost"
        ));
    }
    Ok(())
}

/// The ledger crate's reconciliation, and the sim's own over every entry.
async fn reconcile(world: &World) -> Result<(), String> {
    let mut conn = world.conn().await;
    let drifts = world
        .services
        .ledger
        .reconcile_all(&mut conn)
        .await
        .map_err(|e| format!("reconcile_all: {e}"))?;
    if !drifts.is_empty() {
        return Err(format!(
            "the ledger's reconciliation reports drift: {drifts:?}"
        ));
    }
    let off = sql::number(
        &mut conn,
        "SELECT count(*)::bigint AS n FROM wallets w LEFT JOIN ( \
           SELECT wallet_id, sum(balance_change) AS balance, sum(held_change) AS held \
           FROM ledger_entries GROUP BY wallet_id) e ON e.wallet_id = w.id \
         WHERE coalesce(e.balance, 0) <> w.balance OR coalesce(e.held, 0) <> w.held",
    )
    .await;
    let breaks = sql::number(
        &mut conn,
        "SELECT count(*)::bigint AS n FROM ( \
           SELECT balance_after - balance_change AS before, held_after - held_change AS held_before, \
             coalesce(lag(balance_after) OVER w, 0) AS previous, \
             coalesce(lag(held_after) OVER w, 0) AS previous_held \
           FROM ledger_entries WINDOW w AS (PARTITION BY wallet_id ORDER BY seq)) chain \
         WHERE before <> previous OR held_before <> previous_held",
    )
    .await;
    if off > 0 || breaks > 0 {
        return Err(format!(
            "{off} wallets differ from the sum of their entries; {breaks} entries break the chain"
        ));
    }
    Ok(())
}

/// Every reference the ledger acknowledged is there exactly once, as acknowledged.
async fn acknowledged(world: &World) -> Result<(), String> {
    let references: Vec<String> = world.model.acknowledged.keys().cloned().collect();
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = SqlUuid)]
        wallet_id: Uuid,
        #[diesel(sql_type = Text)]
        reference: String,
        #[diesel(sql_type = Text)]
        kind: String,
        #[diesel(sql_type = BigInt)]
        amount: i64,
    }
    let mut conn = world.conn().await;
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT wallet_id, reference, kind, amount FROM ledger_entries WHERE reference = ANY($1)",
    )
    .bind::<diesel::sql_types::Array<Text>, _>(&references)
    .load(&mut conn)
    .await
    .map_err(|e| format!("acknowledged entries: {e}"))?;
    let mut found: BTreeMap<&str, Vec<&Row>> = BTreeMap::new();
    for row in &rows {
        found.entry(row.reference.as_str()).or_default().push(row);
    }
    for (reference, expected) in &world.model.acknowledged {
        let matching: Vec<&&Row> = found
            .get(reference.as_str())
            .map(|rows| {
                rows.iter()
                    .filter(|r| r.wallet_id == expected.wallet)
                    .collect()
            })
            .unwrap_or_default();
        let [row] = matching.as_slice() else {
            return Err(format!(
                "acknowledged reference {reference} has {} entries",
                matching.len()
            ));
        };
        if row.kind != expected.kind || expected.amount.is_some_and(|a| a != row.amount) {
            return Err(format!(
                "acknowledged reference {reference} ({} {:?}) is recorded as {} {}",
                expected.kind, expected.amount, row.kind, row.amount
            ));
        }
    }
    Ok(())
}

/// Each campaign's recipients are charged exactly what its references took (captured or
/// debited, less what was given back) plus what is still due; a campaign that is done reserves
/// nothing.
async fn campaign_money(world: &World) -> Result<(), String> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        key: String,
        #[diesel(sql_type = BigInt)]
        charged: i64,
        #[diesel(sql_type = BigInt)]
        taken: i64,
        #[diesel(sql_type = BigInt)]
        due: i64,
    }
    let mut conn = world.conn().await;
    let rows: Vec<Row> = diesel::sql_query(
        "WITH charged AS ( \
           SELECT campaign_id, sum(charged)::bigint AS charged FROM campaign_recipients \
           GROUP BY campaign_id), \
         taken AS ( \
           SELECT split_part(reference, ':', 2)::uuid AS campaign_id, \
             sum(CASE WHEN kind IN ('capture', 'debit') THEN amount \
                      WHEN kind = 'credit' THEN -amount ELSE 0 END)::bigint AS taken \
           FROM ledger_entries WHERE reference LIKE 'campaign:%' GROUP BY 1), \
         due AS ( \
           SELECT campaign_id, sum(charge_due)::bigint AS due FROM campaign_batches \
           WHERE charge_state = 'due' GROUP BY campaign_id) \
         SELECT c.id::text AS key, coalesce(ch.charged, 0) AS charged, \
           coalesce(t.taken, 0) AS taken, coalesce(d.due, 0) AS due \
         FROM campaigns c LEFT JOIN charged ch ON ch.campaign_id = c.id \
         LEFT JOIN taken t ON t.campaign_id = c.id LEFT JOIN due d ON d.campaign_id = c.id \
         WHERE coalesce(ch.charged, 0) <> coalesce(t.taken, 0) + coalesce(d.due, 0)",
    )
    .load(&mut conn)
    .await
    .map_err(|e| format!("campaign money: {e}"))?;
    if let Some(row) = rows.as_slice().first() {
        let id: Option<Uuid> = row.key.parse().ok();
        let slot = id.and_then(|id| world.campaign_slots.get(&id));
        return Err(format!(
            "campaign {} (slot {slot:?}): recipients charged {}, the ledger took {} and {} is \
             due",
            row.key, row.charged, row.taken, row.due
        ));
    }
    let idle_reserving: Vec<Keyed> = diesel::sql_query(
        "SELECT c.id::text AS key FROM campaigns c \
         JOIN campaign_holds ch ON ch.campaign_id = c.id \
         JOIN holds h ON h.id = ch.hold_id AND h.status = 'open' \
         WHERE c.status IN ('completed', 'canceled', 'paused', 'draft') \
           AND NOT EXISTS (SELECT 1 FROM campaign_recipients r \
                           WHERE r.campaign_id = c.id AND r.status = 'sending') \
           AND NOT EXISTS (SELECT 1 FROM campaign_batches b \
                           WHERE b.campaign_id = c.id AND b.charge_state = 'due')",
    )
    .load(&mut conn)
    .await
    .map_err(|e| format!("campaign holds: {e}"))?;
    if let Some(row) = idle_reserving.as_slice().first() {
        return Err(format!(
            "campaign {} is not running, has nothing in flight and no charge due, yet one of \
             its holds is still open",
            row.key
        ));
    }
    Ok(())
}

/// What Twilio really has was paid for: its recipient is sent, maybe-sent or still in flight,
/// and charged (never refunded as "not sent").
async fn twilio_truth(world: &World) -> Result<(), String> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        phone: String,
        #[diesel(sql_type = Text)]
        status: String,
        #[diesel(sql_type = BigInt)]
        charged: i64,
        #[diesel(sql_type = BigInt)]
        cost: i64,
        #[diesel(sql_type = Nullable<Text>)]
        charge_state: Option<String>,
    }
    let mut conn = world.conn().await;
    let rows: Vec<Row> = diesel::sql_query(
        "SELECT r.phone, r.status, r.charged, c.cost_per_message AS cost, b.charge_state \
         FROM campaign_recipients r JOIN campaigns c ON c.id = r.campaign_id \
         LEFT JOIN campaign_batches b ON b.id = r.batch_id",
    )
    .load(&mut conn)
    .await
    .map_err(|e| format!("recipients: {e}"))?;
    let recipients: HashMap<&str, &Row> = rows.iter().map(|r| (r.phone.as_str(), r)).collect();
    let mut seen = BTreeSet::new();
    for held in world.twilio.held() {
        if !seen.insert(held.to.clone()) {
            return Err(format!("Twilio holds two messages to {}", held.to));
        }
        let Some(row) = recipients.get(held.to.as_str()) else {
            return Err(format!("Twilio sent {} a message of no campaign", held.to));
        };
        let paid = match row.status.as_str() {
            "sending" => true,
            "sent" | "unconfirmed" => {
                row.charged == row.cost || row.charge_state.as_deref() == Some("uncharged")
            }
            _ => false,
        };
        if !paid {
            return Err(format!(
                "Twilio sent {} (message {}), but the recipient is {} and charged {} of {}",
                held.to, held.sid, row.status, row.charged, row.cost
            ));
        }
    }
    Ok(())
}

/// Every notification the outbox marked delivered reached the mail server (by its
/// `Message-ID`, the outbox id).
async fn notifications_reached(world: &World) -> Result<(), String> {
    let mut conn = world.conn().await;
    let delivered: Vec<Keyed> = diesel::sql_query(
        "SELECT id::text AS key FROM outbox_messages \
         WHERE topic = 'notification' AND status = 'delivered'",
    )
    .load(&mut conn)
    .await
    .map_err(|e| format!("notifications: {e}"))?;
    let received: BTreeSet<String> = world
        .mail
        .sink
        .messages()
        .iter()
        .filter_map(|mail| mail.header("Message-ID"))
        .collect();
    for message in delivered {
        let id = format!("<{}@sim.example>", message.key);
        if !received.contains(&id) {
            let row: Vec<Keyed> = diesel::sql_query(format!(
                "SELECT concat_ws(' | ', attempts, max_attempts, last_error, created_at, \
                 delivered_at, dedupe_key, payload::text) AS key FROM outbox_messages WHERE id = '{}'",
                message.key
            ))
            .load(&mut conn)
            .await
            .map_err(|e| format!("outbox row: {e}"))?;
            let row = row.into_iter().map(|r| r.key).collect::<Vec<_>>();
            return Err(format!(
                "notification {} is marked delivered but never reached the mail server \
                 (attempts: {:?}; the server has {} mails; row {row:?})",
                message.key,
                world.mail.notifier.attempts_of(&message.key),
                received.len()
            ));
        }
    }
    Ok(())
}

/// Every campaign, messaging and notification effect a subscription transition decided is a
/// message in the outbox.
async fn effects_enqueued(world: &World) -> Result<(), String> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = Text)]
        event_row_id: String,
        #[diesel(sql_type = Text)]
        effects: String,
    }
    let mut conn = world.conn().await;
    let transitions: Vec<Row> = diesel::sql_query(
        "SELECT event_row_id::text AS event_row_id, effects::text AS effects \
         FROM subscription_transitions",
    )
    .load(&mut conn)
    .await
    .map_err(|e| format!("transitions: {e}"))?;
    let keys: BTreeSet<String> = diesel::sql_query(
        "SELECT dedupe_key AS key FROM outbox_messages WHERE dedupe_key LIKE 'subscription-event:%'",
    )
    .load::<Keyed>(&mut conn)
    .await
    .map_err(|e| format!("outbox keys: {e}"))?
    .into_iter()
    .map(|row| row.key)
    .collect();
    for transition in transitions {
        let effects: Vec<Effect> = serde_json::from_str(&transition.effects)
            .map_err(|e| format!("transition effects {}: {e}", transition.effects))?;
        for effect in effects {
            let what = match effect {
                Effect::PauseCampaigns => "pause".to_owned(),
                Effect::ResumeCampaigns => "resume".to_owned(),
                Effect::SuspendMessaging => "suspend".to_owned(),
                Effect::ReactivateMessaging => "reactivate".to_owned(),
                Effect::Notify { notice } => notice.as_str().to_owned(),
                _ => continue,
            };
            let key = format!("subscription-event:{}:{what}", transition.event_row_id);
            if !keys.contains(&key) {
                return Err(format!(
                    "a transition decided {} but the outbox has no {key}",
                    effect.name()
                ));
            }
        }
    }
    Ok(())
}

/// After a quiesce: a campaign paused for a billing reason whose organization may send again,
/// with nothing in flight and the money available, was resumed.
async fn billing_pauses_resumed(world: &World) -> Result<(), String> {
    let mut conn = world.conn().await;
    let standings = sql::standings(&mut conn).await;
    let campaigns = sql::campaigns(&mut conn).await;
    let reusable_holds: BTreeSet<String> = diesel::sql_query(
        "SELECT c.id::text AS key FROM campaigns c JOIN holds h ON h.id = c.hold_id \
         WHERE h.status = 'open' \
         UNION SELECT campaign_id::text FROM campaign_batches WHERE charge_state = 'due'",
    )
    .load::<Keyed>(&mut conn)
    .await
    .map_err(|e| format!("holds: {e}"))?
    .into_iter()
    .map(|row| row.key)
    .collect();
    drop(conn);
    for campaign in campaigns {
        let Some(reason) = campaign.pause_reason.as_deref() else {
            continue;
        };
        if campaign.status != "paused" || reason == "manual" || campaign.sending > 0 {
            continue;
        }
        if reusable_holds.contains(&campaign.id.to_string()) {
            continue;
        }
        let Some(standing) = standings
            .iter()
            .find(|s| s.organization_id == campaign.organization_id)
        else {
            continue;
        };
        let required = campaign.pending * campaign.cost_per_message;
        if standing.may_send() && standing.available >= required {
            let slot = world.campaign_slots.get(&campaign.id);
            return Err(format!(
                "campaign slot {slot:?} is still paused ({reason}) although its organization may \
                 send again and {} of the {required} it needs is available",
                standing.available
            ));
        }
    }
    Ok(())
}

/// After a quiesce: each brand's subaccount at Twilio is suspended exactly when the
/// subscription says messaging must be, unless its calls are still queued or went to a person.
async fn subaccounts_follow_subscriptions(world: &World) -> Result<(), String> {
    let mut conn = world.conn().await;
    let standings = sql::standings(&mut conn).await;
    let waiting: BTreeSet<String> = diesel::sql_query(
        "SELECT DISTINCT organization_id::text AS key FROM outbox_messages \
         WHERE topic IN ('messaging.control', 'twilio.subaccount') \
           AND status IN ('pending', 'dead') AND organization_id IS NOT NULL",
    )
    .load::<Keyed>(&mut conn)
    .await
    .map_err(|e| format!("outbox: {e}"))?
    .into_iter()
    .map(|row| row.key)
    .collect();
    drop(conn);
    for standing in standings {
        let Some(org) = world.org_index(standing.organization_id) else {
            continue;
        };
        if waiting.contains(&standing.organization_id.to_string()) {
            continue;
        }
        let status = status_of(&standing.status)
            .ok_or_else(|| format!("org {org}: unknown status {}", standing.status))?;
        let suspend = Posture::of(status).messaging_suspended;
        let at_twilio = world.twilio.account_status(&world.orgs[org].sid);
        let suspended = at_twilio == Some(twilio::AccountStatus::Suspended);
        let brand = if suspend { "suspended" } else { "active" };
        if suspended != suspend || standing.brand_status != brand {
            return Err(format!(
                "org {org} is {status}: its subaccount should be {brand}, Twilio has it \
                 {at_twilio:?} and the brand says {}",
                standing.brand_status
            ));
        }
    }
    Ok(())
}
