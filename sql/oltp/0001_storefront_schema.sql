-- Reference schema of the storefront's OLTP database: users, products, inventory, orders and
-- their lines. Prisma maps its models onto these tables (@@map); the schema is owned here,
-- applied by the oltp Ansible role, and the app's login role gets data privileges only.

CREATE TABLE IF NOT EXISTS users (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  cognito_sub   text UNIQUE,                       -- the Cognito user pool's subject
  email         text NOT NULL UNIQUE,
  display_name  text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS products (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sku             text NOT NULL UNIQUE,            -- the id the tracker sends as product.id
  name            text NOT NULL,
  description     text,
  category        text NOT NULL,
  brand           text,
  price           numeric(12, 2) NOT NULL CHECK (price >= 0),
  discount_price  numeric(12, 2) CHECK (discount_price >= 0 AND discount_price <= price),
  currency        char(3) NOT NULL DEFAULT 'EUR',
  url_path        text UNIQUE,
  active          boolean NOT NULL DEFAULT true,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS products_category_idx ON products (category);

CREATE TABLE IF NOT EXISTS inventory (
  product_id         bigint PRIMARY KEY REFERENCES products (id) ON DELETE CASCADE,
  quantity_on_hand   integer NOT NULL CHECK (quantity_on_hand >= 0),
  quantity_reserved  integer NOT NULL DEFAULT 0 CHECK (quantity_reserved >= 0),
  updated_at         timestamptz NOT NULL DEFAULT now(),
  CHECK (quantity_reserved <= quantity_on_hand)
);

CREATE TABLE IF NOT EXISTS orders (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id       bigint REFERENCES users (id) ON DELETE SET NULL,
  status        text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')),
  currency      char(3) NOT NULL DEFAULT 'EUR',
  total_amount  numeric(12, 2) NOT NULL CHECK (total_amount >= 0),
  -- The clickstream session that placed the order: joins purchases to journeys in the warehouse.
  session_id    text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS orders_user_id_idx ON orders (user_id);
CREATE INDEX IF NOT EXISTS orders_created_at_idx ON orders (created_at);

CREATE TABLE IF NOT EXISTS order_items (
  order_id    bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
  line_no     integer NOT NULL CHECK (line_no > 0),
  product_id  bigint NOT NULL REFERENCES products (id),
  quantity    integer NOT NULL CHECK (quantity > 0),
  unit_price  numeric(12, 2) NOT NULL CHECK (unit_price >= 0),
  PRIMARY KEY (order_id, line_no)
);
CREATE INDEX IF NOT EXISTS order_items_product_id_idx ON order_items (product_id);
