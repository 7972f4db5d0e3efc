-- Opening stock of the demo catalog, for products that have no inventory row yet: real stock
-- movements are never overwritten by a later run.
INSERT INTO inventory (product_id, quantity_on_hand)
SELECT p.id, c.stock
FROM jsonb_to_recordset(CAST(%(products)s AS jsonb)) AS c (id text, stock integer)
JOIN products p ON p.sku = c.id
ON CONFLICT (product_id) DO NOTHING
