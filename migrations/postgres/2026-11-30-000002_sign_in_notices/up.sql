-- Servers keep the daemons' sign-ins they have looked up. Whatever could make one wrong tells
-- every server to forget them, whoever writes it: this release, an earlier one still running
-- beside it, or someone at a psql prompt. The notice is sent only if the change commits.

CREATE FUNCTION api_provisioner_sign_in_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('api_provisioner_sign_in', '');
    RETURN NULL;
END;
$$;

-- A key deleted or altered (the application never alters one).
CREATE TRIGGER provisioner_keys_sign_in
    AFTER UPDATE OR DELETE OR TRUNCATE ON provisioner_keys
    FOR EACH STATEMENT EXECUTE FUNCTION api_provisioner_sign_in_changed();

-- A daemon registered again with another key, or removed.
CREATE TRIGGER provisioner_daemons_key_moved
    AFTER UPDATE OF key_id ON provisioner_daemons
    FOR EACH ROW WHEN (OLD.key_id IS DISTINCT FROM NEW.key_id)
    EXECUTE FUNCTION api_provisioner_sign_in_changed();
CREATE TRIGGER provisioner_daemons_removed
    AFTER DELETE OR TRUNCATE ON provisioner_daemons
    FOR EACH STATEMENT EXECUTE FUNCTION api_provisioner_sign_in_changed();

-- An organization deleted: its keys no longer sign in. The application deletes only
-- organizations without keys; this covers any other writer.
CREATE TRIGGER organizations_deleted_sign_in
    AFTER UPDATE OF deleted_at ON organizations
    FOR EACH STATEMENT EXECUTE FUNCTION api_provisioner_sign_in_changed();
