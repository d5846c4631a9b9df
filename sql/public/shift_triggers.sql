-- purpose: the triggers that tell the push feed about shifts: inserted, claimed, released, deleted, moved.
--
-- Statement-level, with transition tables, like the eligibility triggers: one call per statement, however many
-- rows it touches. The function (shifts_private/shift_triggers.sql) runs as carepg_owner and locks nothing.

CREATE TRIGGER carepg_shift_insert AFTER INSERT ON public."Shift"
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION shifts_private.on_shift_change();
CREATE TRIGGER carepg_shift_update AFTER UPDATE ON public."Shift"
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shifts_private.on_shift_change();
CREATE TRIGGER carepg_shift_delete AFTER DELETE ON public."Shift"
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION shifts_private.on_shift_change();
CREATE TRIGGER carepg_shift_truncate AFTER TRUNCATE ON public."Shift"
    FOR EACH STATEMENT EXECUTE FUNCTION shifts_private.on_shift_change();

COMMENT ON TRIGGER carepg_shift_insert ON public."Shift" IS 'carepg: tell subscribers of new shifts.';
COMMENT ON TRIGGER carepg_shift_update ON public."Shift" IS 'carepg: tell subscribers of claimed, released, deleted or moved shifts.';
COMMENT ON TRIGGER carepg_shift_delete ON public."Shift" IS 'carepg: tell subscribers of deleted shifts.';
COMMENT ON TRIGGER carepg_shift_truncate ON public."Shift" IS 'carepg: tell subscribers to refetch.';
