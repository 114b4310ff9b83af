-- Before this migration an active subscription without a dunning episode or a scheduled
-- cancellation waited for nothing, and a trial without one for its end. Other stored times
-- (a trial in its grace after a failure) stay: the older runner skips an early one until due.
UPDATE subscriptions
   SET next_action_at = NULL
 WHERE status = 'active' AND dunning_started_at IS NULL AND NOT cancel_at_period_end;
UPDATE subscriptions
   SET next_action_at = trial_end
 WHERE status = 'trialing' AND dunning_started_at IS NULL AND NOT cancel_at_period_end;

ALTER TABLE subscriptions DROP COLUMN trial_ending_notified;
