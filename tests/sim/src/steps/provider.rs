//! Stripe's side: events happen, and their deliveries arrive signed, repeated, out of order,
//! late, sometimes while the receiver's database connection is killed.

use crate::{
    faults::VICTIM,
    plan::{EventKind, Kill},
    provider,
    world::{BuiltEvent, World},
};

impl World {
    pub fn provider_event(&mut self, event: u32, org: usize, kind: EventKind) -> String {
        let body = provider::build(kind, event, self.orgs[org].id, org, self.now());
        if let EventKind::TopUp { payment, amount } = kind {
            self.model.top_ups.insert(payment, (org, amount));
        }
        self.events.insert(event, BuiltEvent { org, kind, body });
        self.stats
            .bump(format!("provider.event.{}", event_name(kind)));
        format!("event {event} for org {org}: {kind:?}")
    }

    pub async fn deliver(&mut self, event: u32, fault: Option<Kill>) -> Result<String, String> {
        let Some(built) = self.events.get(&event).cloned() else {
            return Ok("no such event".into());
        };
        let now = self.now();
        let (status, answer, text) = match fault {
            None => provider::deliver(&self.receiver, &built.body, now).await,
            Some(kill) => {
                let victim = provider::receiver(self.victim_pool(), self.services.intake.clone());
                let body = built.body.clone();
                let operation = async move { provider::deliver(&victim, &body, now).await };
                let faulted = match kill {
                    Kill::WhileLocked => {
                        let org = self.orgs[built.org].id;
                        // The subscription row for subscription events, the wallet row for
                        // money: whichever the delivery's application reaches first.
                        let lock = format!(
                            "SELECT 1 FROM subscriptions WHERE organization_id = '{org}' FOR UPDATE; \
                             SELECT 1 FROM wallets WHERE organization_id = '{org}' FOR UPDATE"
                        );
                        self.control
                            .kill_while_locked(VICTIM, &lock, operation)
                            .await
                    }
                    Kill::Random { after } => {
                        self.control.kill_randomly(VICTIM, after, operation).await
                    }
                };
                self.control.wait_gone(VICTIM).await;
                let name = match kill {
                    Kill::WhileLocked => "while_locked",
                    Kill::Random { .. } => "random",
                };
                let hit = if faulted.killed { "injected" } else { "missed" };
                self.stats.bump(format!("fault.kill_{name}.receiver.{hit}"));
                faulted.result
            }
        };
        let outcome = match (&answer, status.as_u16()) {
            (Some(answer), _) => format!(
                "{}{}",
                answer.status.as_str(),
                if answer.duplicate { ".duplicate" } else { "" }
            ),
            // Not stored: the provider sends it again (a fault only).
            (None, 503) if fault.is_some() => "not_stored".to_owned(),
            (None, _) => {
                return Err(format!(
                    "delivery of event {event} ({:?}) answered {status}: {text}",
                    built.kind
                ));
            }
        };
        self.stats.bump(format!("provider.delivery.{outcome}"));
        Ok(format!(
            "event {event} ({:?}): {status} {outcome}",
            built.kind
        ))
    }
}

fn event_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::PaymentFailed => "payment_failed",
        EventKind::PaymentSucceeded => "payment_succeeded",
        EventKind::TopUp { .. } => "top_up",
        EventKind::Refund { .. } => "refund",
        EventKind::DisputeOpened { .. } => "dispute_opened",
        EventKind::DisputeClosed { won: true, .. } => "dispute_won",
        EventKind::DisputeClosed { won: false, .. } => "dispute_lost",
    }
}
