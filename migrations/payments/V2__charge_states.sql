-- What the payment component needs beyond V1: the claim and tombstone states, and when a
-- charge was refunded.
--
--   pending  → charged | declined       the claim a charge holds while the provider answers;
--                                       it is written and settled in one transaction, so it is
--                                       never committed unless a host abandons that transaction
--   charged  → refunded                 once, in full
--   (none)   → voided                   a refund before any charge: a tombstone (amount 0, no
--                                       method), so a late charge is refused
--   pending  → voided                   a refund of an abandoned claim
-- declined, refunded and voided are final.
ALTER TABLE payments DROP CONSTRAINT payments_state_check;
ALTER TABLE payments ADD CONSTRAINT payments_state_check
    CHECK (state IN ('pending', 'charged', 'declined', 'refunded', 'voided'));

-- A tombstone names no payment method.
ALTER TABLE payments ALTER COLUMN method DROP NOT NULL;
ALTER TABLE payments ADD CONSTRAINT payments_method_check CHECK (method IS NOT NULL OR state = 'voided');

-- Only a tombstone is for nothing; every charge is for a positive amount.
ALTER TABLE payments ADD CONSTRAINT payments_voided_amount_check
    CHECK (CASE WHEN state = 'voided' THEN amount = 0 ELSE amount > 0 END);

-- When the charge was given back; set exactly when the state is 'refunded'.
ALTER TABLE payments ADD COLUMN refunded_at timestamp;
ALTER TABLE payments ADD CONSTRAINT payments_refunded_at_check CHECK ((state = 'refunded') = (refunded_at IS NOT NULL));
