-- The audit log becomes append-only (triggers refuse UPDATE, DELETE and TRUNCATE), with indexes for the audit page's filters (PostgreSQL dialect).
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- The page pages by id (newest first) within an action, an action prefix, or an actor.
CREATE INDEX audit_log_action_id ON audit_log (action text_pattern_ops, id);
CREATE INDEX audit_log_actor_id ON audit_log (actor, id);
