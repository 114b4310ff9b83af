//! Creating a subscription for an organization.

use super::*;

/// Creates the organization's subscription (`pending` until paid, or `trialing` with
/// `trial_end`). The `Idempotency-Key` is the creation event's id (source `admin`): a retry
/// answers 200 with the subscription it created and writes nothing.
#[utoipa::path(
    post,
    path = "/v1/admin/organizations/{organization_id}/subscriptions",
    tag = "admin",
    params(
        ("organization_id" = uuid::Uuid, Path, description = "The organization's id."),
        ("Idempotency-Key" = String, Header, min_length = 1, max_length = 200,
            pattern = "^[!-~]+$",
            description = "Required: identifies this creation, so a retry with the same key \
            is answered with the original result. 1 to 200 visible ASCII characters."),
    ),
    request_body = CreateSubscriptionRequest,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created.", body = SubscriptionCreatedResponse),
        (status = 200, description = "A replay: the subscription this key created (header \
            `Idempotent-Replayed: true`).", body = SubscriptionCreatedResponse,
            headers(("Idempotent-Replayed" = String, description = "`true`: nothing was written."))),
        (status = 403, response = AdminRequired),
        (status = 404, description = "No such organization (`ORGANIZATION_NOT_FOUND`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 409, description = "`SUBSCRIPTION_EXISTS` (a live one exists; with \
            `subscription_id`), `PROVIDER_SUBSCRIPTION_TAKEN`, or `IDEMPOTENCY_CONFLICT` (the \
            key created something else).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 422, description = "Invalid input (`VALIDATION_FAILED` with `field`, \
            `INVALID_TRIAL_END`, `IDEMPOTENCY_KEY_REQUIRED`, `INVALID_IDEMPOTENCY_KEY`).",
            body = ProblemBody, content_type = "application/problem+json"),
        (status = 503, description = "`SUBSCRIPTION_BUSY` (with `Retry-After`).",
            body = ProblemBody, content_type = "application/problem+json"),
    )
)]
pub async fn create_subscription(
    State(state): State<AppState>,
    admin: OrganizationAdmin,
    key: IdempotencyKey,
    ApiJson(request): ApiJson<CreateSubscriptionRequest>,
) -> Result<Response, AppError> {
    // Everything is validated before a connection is taken, so refused input writes nothing.
    let organization_id = admin.organization_id;
    let plan = PlanCode::parse(&request.plan)?;
    let provider = match (&request.provider, &request.provider_subscription_id) {
        (Some(provider), Some(id)) => Some(ProviderRef::parse(provider, id)?),
        (None, None) => None,
        _ => {
            return Err(ApiError::validation_failed(
                "provider and provider_subscription_id go together: send both or neither",
            )
            .with_member("field", "provider")
            .into());
        }
    };
    let now = state.subscriptions.now();
    if let Some(trial_end) = request.trial_end
        && (trial_end <= now || trial_end > now + MAX_TRIAL)
    {
        return Err(ApiError::validation(
            "INVALID_TRIAL_END",
            "trial_end must be in the future, at most 366 days ahead",
        )
        .with_member("field", "trial_end")
        .into());
    }
    let created = admin_event(key.as_str(), now, SubscriptionEvent::Created)?;
    let trial = request
        .trial_end
        .map(|trial_end| {
            admin_event(
                &trial_event_id(key.as_str()),
                now,
                SubscriptionEvent::TrialStarted { trial_end },
            )
        })
        .transpose()?;
    let new = NewSubscription {
        organization_id,
        plan,
        provider,
    };

    let enforcer = state.enforcer.clone();
    let mut conn = state.conn().await?;
    let (subscription, replayed) = conn
        .transaction(async move |conn| {
            let before = subscriptions::lookup::all_for_organization(conn, organization_id).await?;
            let subscription = enforcer
                .subscriptions()
                .create(conn, new.clone(), &created)
                .await?;
            // A new subscription always has a new id; one the organization already had means
            // this key created it before.
            let replayed = before.iter().any(|earlier| earlier.id == subscription.id);
            if subscription.organization_id != organization_id {
                return Err(idempotency_conflict(
                    "this Idempotency-Key created a subscription of another organization",
                )
                .into());
            }
            if replayed {
                if !same_creation(&subscription, &new, request.trial_end) {
                    return Err(idempotency_conflict(
                        "this Idempotency-Key created this organization's subscription with \
                         other parameters",
                    )
                    .into());
                }
                return Ok((subscription, true));
            }
            if let Some(provider) = &subscription.provider {
                // Deliveries that arrived before the subscription (a provider is often faster
                // than the request binding it) are looked at again by the next inbox pass.
                intake::inbox::wake_unmatched(conn, provider.provider, now)
                    .await
                    .map_err(AppError::from)?;
            }
            let subscription = match trial {
                // In this transaction: the subscription never exists without its trial.
                Some(trial) => {
                    enforcer
                        .apply(conn, subscription.id, &trial)
                        .await?
                        .subscription
                }
                None => subscription,
            };
            Ok::<_, AppError>((subscription, false))
        })
        .await?;
    if !replayed {
        tracing::info!(
            %organization_id,
            subscription_id = %subscription.id,
            plan = subscription.plan.as_str(),
            status = subscription.state.status.as_str(),
            "subscription created"
        );
    }
    Ok(receipt(
        replayed,
        SubscriptionCreatedResponse {
            subscription: subscription.into(),
            replayed,
        },
    ))
}

/// Whether a replayed creation asked for what the first one did.
fn same_creation(
    subscription: &Subscription,
    new: &NewSubscription,
    trial_end: Option<DateTime<Utc>>,
) -> bool {
    subscription.plan == new.plan
        && subscription.provider == new.provider
        && (trial_end.is_none() || subscription.state.trial_end == trial_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trial_event_ids_are_stable_distinct_and_short_enough() {
        let long = "k".repeat(200);
        assert_eq!(trial_event_id("a"), trial_event_id("a"));
        assert_ne!(trial_event_id("a"), trial_event_id("b"));
        assert!(EventId::parse(&trial_event_id(&long)).is_ok());
        assert!(admin_event(&long, Utc::now(), SubscriptionEvent::Created).is_ok());
    }
}
