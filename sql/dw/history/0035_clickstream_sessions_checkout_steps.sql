-- Checkout steps and carts per session, and per day in the funnel.
--
-- checkout_step: how far a session went through the contract's checkout steps
-- (x-checkout-steps: begin_checkout, add_shipping_info, add_payment_info, purchase), as the
-- number of leading steps it sent; a step sent without the ones before it does not count.
-- cart_removals: its remove_from_cart events. cart_value: what it put in the cart less what
-- it took out (value, else unit price times quantity), so an abandoned cart has a value.
-- Sessions derived before are handed to the next ETL run, which derives them again.
ALTER TABLE etl_work_sessions
  ADD COLUMN checkout_step smallint,
  ADD COLUMN cart_removals bigint,
  ADD COLUMN cart_value    numeric;
ALTER TABLE clickstream_sessions
  ADD COLUMN checkout_step smallint NOT NULL DEFAULT 0,
  ADD COLUMN cart_removals integer NOT NULL DEFAULT 0,
  ADD COLUMN cart_value    numeric(18, 4) NOT NULL DEFAULT 0;
ALTER TABLE agg_daily_funnel
  ADD COLUMN shipping_sessions    bigint NOT NULL DEFAULT 0,          -- checkout_step >= 2
  ADD COLUMN payment_sessions     bigint NOT NULL DEFAULT 0,          -- checkout_step >= 3
  ADD COLUMN cart_removals        bigint NOT NULL DEFAULT 0,
  ADD COLUMN abandoned_cart_value numeric(18, 4) NOT NULL DEFAULT 0;  -- cart_value of abandoned carts

INSERT INTO etl_pending_groups SELECT DISTINCT session_group FROM clickstream_sessions ON CONFLICT DO NOTHING;
