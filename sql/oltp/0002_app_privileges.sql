-- The storefront app reads and writes rows and nothing else: no DDL, no other schema. Its
-- login role (created by the oltp role with a generated password) is a member of this group.
-- Checked first: CREATE ROLE is refused to a role without CREATEROLE even when the role exists.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'storefront_app_rw') THEN
    CREATE ROLE storefront_app_rw NOLOGIN;
  END IF;
END $$;

REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO storefront_app_rw;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, products, inventory, orders, order_items TO storefront_app_rw;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO storefront_app_rw;
-- Default privileges cover tables the role running this file creates later; the oltp Ansible
-- role sets the same for the schema owner's login (FOR ROLE), whose name is configurable.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO storefront_app_rw;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO storefront_app_rw;
