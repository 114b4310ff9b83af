-- The subscription clock: a period that ends without payment goes past due after the renewal
-- grace, and the trial-ending notice is sent by our schedule once (or by the provider's).

ALTER TABLE subscriptions
    ADD COLUMN trial_ending_notified boolean NOT NULL DEFAULT false,
    -- Only a trial is ever told that it ends (a trial always has its end).
    ADD CONSTRAINT subscriptions_notified_trial_has_end
        CHECK (NOT trial_ending_notified OR trial_end IS NOT NULL);

-- Trials already told by the provider's notice are not told again.
UPDATE subscriptions AS s
   SET trial_ending_notified = true
 WHERE s.trial_end IS NOT NULL
   AND EXISTS (SELECT 1 FROM subscription_events AS e
                WHERE e.subscription_id = s.id
                  AND e.kind = 'trial_ending_soon'
                  AND e.outcome = 'applied');

-- Subscriptions that now wait for a renewal or a trial notice are looked at by the next runner
-- pass, which derives their real next action from the state and the configured policy (a
-- stored time earlier than the real one is corrected there; see `subscriptions::due`).
UPDATE subscriptions
   SET next_action_at = now()
 WHERE (next_action_at IS NULL OR next_action_at > now())
   AND NOT cancel_at_period_end
   AND ((status = 'active' AND dunning_started_at IS NULL AND current_period_end IS NOT NULL)
        OR (status = 'trialing' AND trial_end IS NOT NULL AND NOT trial_ending_notified));
