//! Manual payments: the way out of `suspended` for a customer who paid outside the provider.

use super::*;

/// Records a payment received outside the provider (bank transfer, invoice) on the
/// organization's live subscription, as event `manual_payment_received` from source `admin`
/// whose id is the `Idempotency-Key`. From any unpaid state (past due, suspended ...) it
/// restores access at once, with every effect in the same transaction (G8): status active,
/// retries cleared, billing's wallet freeze and access block lifted, campaigns and messaging
/// resumed, the customer notified, the period extended to `period_end`.
///
/// A status that takes no payment (canceled, expired) records it as `ignored`, with the reason.
/// Repeating the key answers 200 `duplicate` and changes nothing.
#[utoipa::path(
    post,
    path = "/v1/admin/organizations/{organization_id}/subscription/manual-payment",
    tag = "admin",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 200,
            pattern = "^[!-~]+$",
            description = "Required: identifies this payment, so a retry with the same key \
            is answered with the original result. 1 to 200 visible ASCII characters."),
    ),
    request_body = ManualPaymentRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Recorded: `applied`, `ignored` (with `reason`) or \
            `stale`.", body = ManualPaymentResponse),
        (status = 200, description = "`duplicate`: this key was applied before; nothing changed \
            (header `Idempotent-Replayed: true`).", body = ManualPaymentResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 403, response = AdminRequired),
        (status = 404, description = "`ORGANIZATION_NOT_FOUND` or `SUBSCRIPTION_NOT_FOUND`.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`IDEMPOTENCY_CONFLICT`: the key was used for another \
            event.",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (`INVALID_AMOUNT`, `INVALID_CURRENCY`, \
            `INVALID_PERIOD_END`, `VALIDATION_FAILED`, `IDEMPOTENCY_KEY_REQUIRED`, \
            `INVALID_IDEMPOTENCY_KEY`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`SUBSCRIPTION_BUSY` or `WALLET_BUSY` (with \
            `Retry-After`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn record_manual_payment(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
    key: IdempotencyKey,
    ApiJson(request): ApiJson<ManualPaymentRequest>,
) -> Result<Response, AppError> {
    let organization_id = admin.organization_id;
    let amount = positive_amount(&request.amount, &request.currency)?;
    let now = state.subscriptions.now();
    let period_end = request.period_end;
    if period_end <= now || period_end > now + MAX_PREPAID_PERIOD {
        return Err(ApiError::validation(
            "INVALID_PERIOD_END",
            "period_end must be in the future, at most five years ahead",
        )
        .with_member("field", "period_end")
        .into());
    }
    let envelope = admin_event(
        key.as_str(),
        now,
        SubscriptionEvent::ManualPaymentReceived { amount, period_end },
    )?;

    let mut conn = state.conn().await?;
    require_organization(&mut conn, organization_id).await?;
    let subscription = current_subscription(&mut conn, organization_id).await?;
    let applied = state
        .enforcer
        .apply(&mut conn, subscription.id, &envelope)
        .await?;
    if applied.outcome == Outcome::Duplicate {
        // Event ids are unique per source across every subscription, so the key may have named
        // another event (another organization's payment, a creation) or this payment with other
        // figures; answering `duplicate` would tell the operator this payment was recorded.
        let known =
            subscriptions::lookup::event(&mut conn, &envelope.source, &envelope.event_id).await?;
        let same = known.is_some_and(|known| {
            known.subscription_id == subscription.id && known.is(&envelope.event)
        });
        if !same {
            return Err(idempotency_conflict(
                "this Idempotency-Key was used for another admin event or other figures; use a \
                 new key for this payment",
            )
            .into());
        }
    }
    let response = ManualPaymentResponse::new(applied);
    metrics::counter!("billing_manual_payments_total", "outcome" => response.outcome.clone())
        .increment(1);
    tracing::info!(
        %organization_id,
        subscription_id = %subscription.id,
        amount = %amount.to_decimal_string(),
        currency = amount.currency().code(),
        outcome = %response.outcome,
        "manual payment"
    );
    Ok(receipt(response.replayed, response))
}
