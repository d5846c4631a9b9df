-- purpose: the triggers that keep eligibility exact, on the four application tables that decide it.
--
-- Statement-level, with transition tables: one call per statement, however many rows it touches. The functions
-- (shifts_private/eligibility_triggers.sql) run as carepg_owner, so whoever may write these tables still may.
-- "Shift" has none: claims and releases change no eligibility, and readers read claims live.

CREATE TRIGGER carepg_eligibility_insert AFTER INSERT ON public."DocumentWorker"
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION shifts_private.on_document_worker_change();
CREATE TRIGGER carepg_eligibility_update AFTER UPDATE ON public."DocumentWorker"
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shifts_private.on_document_worker_change();
CREATE TRIGGER carepg_eligibility_delete AFTER DELETE ON public."DocumentWorker"
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION shifts_private.on_document_worker_change();
CREATE TRIGGER carepg_eligibility_truncate AFTER TRUNCATE ON public."DocumentWorker"
    FOR EACH STATEMENT EXECUTE FUNCTION shifts_private.on_truncate();

CREATE TRIGGER carepg_eligibility_insert AFTER INSERT ON public."FacilityRequirement"
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION shifts_private.on_facility_requirement_change();
CREATE TRIGGER carepg_eligibility_update AFTER UPDATE ON public."FacilityRequirement"
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shifts_private.on_facility_requirement_change();
CREATE TRIGGER carepg_eligibility_delete AFTER DELETE ON public."FacilityRequirement"
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION shifts_private.on_facility_requirement_change();
CREATE TRIGGER carepg_eligibility_truncate AFTER TRUNCATE ON public."FacilityRequirement"
    FOR EACH STATEMENT EXECUTE FUNCTION shifts_private.on_truncate();

CREATE TRIGGER carepg_eligibility_insert AFTER INSERT ON public."Worker"
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION shifts_private.on_worker_change();
CREATE TRIGGER carepg_eligibility_update AFTER UPDATE ON public."Worker"
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shifts_private.on_worker_change();
CREATE TRIGGER carepg_eligibility_truncate AFTER TRUNCATE ON public."Worker"
    FOR EACH STATEMENT EXECUTE FUNCTION shifts_private.on_truncate();

CREATE TRIGGER carepg_eligibility_insert AFTER INSERT ON public."Facility"
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION shifts_private.on_facility_change();
CREATE TRIGGER carepg_eligibility_update AFTER UPDATE ON public."Facility"
    REFERENCING NEW TABLE AS new_rows OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION shifts_private.on_facility_change();
CREATE TRIGGER carepg_eligibility_truncate AFTER TRUNCATE ON public."Facility"
    FOR EACH STATEMENT EXECUTE FUNCTION shifts_private.on_truncate();

COMMENT ON TRIGGER carepg_eligibility_insert ON public."DocumentWorker" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_update ON public."DocumentWorker" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_delete ON public."DocumentWorker" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_truncate ON public."DocumentWorker" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_insert ON public."FacilityRequirement" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_update ON public."FacilityRequirement" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_delete ON public."FacilityRequirement" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_truncate ON public."FacilityRequirement" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_insert ON public."Worker" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_update ON public."Worker" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_truncate ON public."Worker" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_insert ON public."Facility" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_update ON public."Facility" IS 'carepg: keep eligibility fresh.';
COMMENT ON TRIGGER carepg_eligibility_truncate ON public."Facility" IS 'carepg: keep eligibility fresh.';
