//! The `billing.provider` handler: tells a billing provider what our state already says (a
//! customer's cancel, pause or resume; a top-up to capture), retried from the outbox until the
//! provider has it or a person is alerted (G10).
//!
//! Each call carries the message's `idempotency_key` as the provider's own, so a redelivered
//! message never acts twice there. A transient failure (no answer, 5xx, 429) is retried with
//! the outbox's backoff; a refusal is permanent and dead-letters the message with the
//! provider's answer (`OUTBOX DEAD LETTER` in the logs), unless the provider's subscription
//! already is where the command leads (a second cancel refused because the first went
//! through), which counts as delivered.
//!
//! A pause or a resume is sent only while our subscription still is where it leads (paused;
//! active or trialing): a customer who pauses and resumes quickly queues both, and whichever
//! no longer matches our state is superseded rather than sent, so the provider never ends up
//! paused under an active subscription because two messages were delivered out of order.

use billing::{BillingProvider, ProviderError, Providers};
use db::DbPool;
use outbox::{ClaimedMessage, Handler, HandlerError};
use subscriptions::{SubscriptionStatus, lookup};

use crate::{ProviderAction, ProviderCommand, customer::decide::already_done};

/// Delivers [`ProviderCommand`]s through the configured adapters.
#[derive(Clone)]
pub struct ProviderCommandHandler {
    pool: DbPool,
    providers: Providers,
}

impl std::fmt::Debug for ProviderCommandHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderCommandHandler")
            .field("providers", &self.providers)
            .finish_non_exhaustive()
    }
}

impl ProviderCommandHandler {
    pub fn new(pool: DbPool, providers: Providers) -> Self {
        Self { pool, providers }
    }

    /// Whether our state still calls for `command` (see the module documentation); an error
    /// reading it is retryable.
    async fn still_wanted(&self, command: &ProviderCommand) -> Result<bool, HandlerError> {
        let (ProviderAction::Pause | ProviderAction::Resume, Some(id)) =
            (command.action, command.subscription_id)
        else {
            return Ok(true);
        };
        let unavailable = |error: &dyn std::fmt::Display| {
            HandlerError::retryable(format!("reading subscription {id}: {error}"))
        };
        let mut conn = self.pool.get().await.map_err(|error| unavailable(&error))?;
        let status = lookup::get(&mut conn, id)
            .await
            .map_err(|error| unavailable(&error))?
            .state
            .status;
        Ok(match command.action {
            ProviderAction::Pause => status == SubscriptionStatus::Paused,
            _ => matches!(
                status,
                SubscriptionStatus::Active | SubscriptionStatus::Trialing
            ),
        })
    }
}

impl Handler for ProviderCommandHandler {
    type Message = ProviderCommand;

    async fn handle(
        &self,
        message: &ClaimedMessage,
        command: ProviderCommand,
    ) -> Result<(), HandlerError> {
        let adapter = self.providers.provider(command.provider).map_err(|error| {
            record(&command, "dead");
            HandlerError::permanent(describe(&command, &error))
        })?;
        if !self.still_wanted(&command).await? {
            record(&command, "superseded");
            tracing::info!(
                event = "provider_command_superseded",
                message = %message.id,
                organization = %command.organization_id,
                provider = command.provider.as_str(),
                action = command.action.as_str(),
                target = command.target.as_str(),
                "not sent: the subscription changed again since"
            );
            return Ok(());
        }
        let outcome = match call(adapter.as_ref(), &command).await {
            Ok(()) => Ok("delivered"),
            Err(error) if error.is_transient() => {
                record(&command, "retried");
                return Err(HandlerError::retryable(describe(&command, &error)));
            }
            Err(error) => match done_already(adapter.as_ref(), &command, &error).await {
                true => Ok("already_done"),
                false => Err(error),
            },
        };
        match outcome {
            Ok(outcome) => {
                record(&command, outcome);
                tracing::info!(
                    event = "provider_command_delivered",
                    message = %message.id,
                    organization = %command.organization_id,
                    provider = command.provider.as_str(),
                    action = command.action.as_str(),
                    target = command.target.as_str(),
                    outcome,
                    "{} told to {} {}",
                    command.provider,
                    command.action.as_str(),
                    command.target
                );
                Ok(())
            }
            Err(error) => {
                record(&command, "dead");
                Err(HandlerError::permanent(describe(&command, &error)))
            }
        }
    }
}

async fn call(
    adapter: &dyn BillingProvider,
    command: &ProviderCommand,
) -> Result<(), ProviderError> {
    let (target, reason, key) = (
        command.target.as_str(),
        command.reason.as_str(),
        command.idempotency_key.as_str(),
    );
    match command.action {
        ProviderAction::Cancel => adapter.cancel(target, reason, key).await,
        ProviderAction::CancelAtPeriodEnd => {
            adapter.cancel_at_period_end(target, reason, key).await
        }
        ProviderAction::Pause => adapter.pause(target, reason, key).await,
        ProviderAction::Resume => adapter.reactivate(target, reason, key).await,
        ProviderAction::CaptureTopUp => adapter.capture_top_up(target, key).await,
    }
}

/// After a refusal: whether the provider's subscription already is where the command leads.
/// Any failure to find out is "no": the refusal stands.
async fn done_already(
    adapter: &dyn BillingProvider,
    command: &ProviderCommand,
    refusal: &ProviderError,
) -> bool {
    if !matches!(refusal, ProviderError::Api { .. })
        || command.action == ProviderAction::CaptureTopUp
    {
        return false;
    }
    match adapter.subscription(&command.target).await {
        Ok(view) => already_done(command.action, view.status),
        Err(_) => false,
    }
}

/// What is stored as the attempt's error and logged: never a secret (provider errors carry the
/// provider's code and message, not our request).
fn describe(command: &ProviderCommand, error: &ProviderError) -> String {
    let subscription = command
        .subscription_id
        .map(|id| format!(" (subscription {id})"))
        .unwrap_or_default();
    format!(
        "{} {} of organization {}{subscription}: {error}",
        command.action.as_str(),
        command.target,
        command.organization_id
    )
}

fn record(command: &ProviderCommand, outcome: &'static str) {
    metrics::counter!(
        "billing_provider_commands_total",
        "provider" => command.provider.as_str(),
        "action" => command.action.as_str(),
        "outcome" => outcome
    )
    .increment(1);
}
