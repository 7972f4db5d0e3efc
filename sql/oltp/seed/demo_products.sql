-- Upsert the demo catalog (sql/oltp/demo_catalog.json, passed whole as one JSON parameter).
-- Only rows that differ are touched, so a second run reports no change.
INSERT INTO products AS p (sku, name, description, category, brand, price, discount_price, url_path)
SELECT c.id, c.name, c.description, c.category, c.brand, c.price, c.discount_price, c.url_path
FROM jsonb_to_recordset(CAST(%(products)s AS jsonb)) AS c (
  id text, name text, description text, category text, brand text,
  price numeric, discount_price numeric, url_path text
)
ON CONFLICT (sku) DO UPDATE SET
  name = EXCLUDED.name,
  description = EXCLUDED.description,
  category = EXCLUDED.category,
  brand = EXCLUDED.brand,
  price = EXCLUDED.price,
  discount_price = EXCLUDED.discount_price,
  url_path = EXCLUDED.url_path,
  updated_at = now()
WHERE (p.name, p.description, p.category, p.brand, p.price, p.discount_price, p.url_path)
  IS DISTINCT FROM
  (EXCLUDED.name, EXCLUDED.description, EXCLUDED.category, EXCLUDED.brand, EXCLUDED.price,
   EXCLUDED.discount_price, EXCLUDED.url_path)
