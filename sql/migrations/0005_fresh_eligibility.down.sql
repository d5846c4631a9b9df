-- purpose: undo 0005. The revision's downgrade then re-runs 0004_available_shifts.sql to restore the
-- functions as 0004 made them.
DROP TRIGGER carepg_eligibility_insert ON public."DocumentWorker";
DROP TRIGGER carepg_eligibility_update ON public."DocumentWorker";
DROP TRIGGER carepg_eligibility_delete ON public."DocumentWorker";
DROP TRIGGER carepg_eligibility_truncate ON public."DocumentWorker";
DROP TRIGGER carepg_eligibility_insert ON public."FacilityRequirement";
DROP TRIGGER carepg_eligibility_update ON public."FacilityRequirement";
DROP TRIGGER carepg_eligibility_delete ON public."FacilityRequirement";
DROP TRIGGER carepg_eligibility_truncate ON public."FacilityRequirement";
DROP TRIGGER carepg_eligibility_insert ON public."Worker";
DROP TRIGGER carepg_eligibility_update ON public."Worker";
DROP TRIGGER carepg_eligibility_truncate ON public."Worker";
DROP TRIGGER carepg_eligibility_insert ON public."Facility";
DROP TRIGGER carepg_eligibility_update ON public."Facility";
DROP TRIGGER carepg_eligibility_truncate ON public."Facility";

DROP FUNCTION shifts.available_shifts(integer, timestamp, timestamp, timestamp, integer, integer);
DROP FUNCTION shifts.count_available_shifts(integer, timestamp, timestamp);
DROP FUNCTION shifts.refresh_eligibility(boolean);
DROP FUNCTION shifts._on_truncate();
DROP FUNCTION shifts._on_facility_change();
DROP FUNCTION shifts._on_worker_change();
DROP FUNCTION shifts._on_facility_requirement_change();
DROP FUNCTION shifts._on_document_worker_change();
DROP FUNCTION shifts._patch(integer[], integer[]);
DROP FUNCTION shifts._begin_eligibility_write();
DROP FUNCTION shifts.eligible_facility_ids(integer);
DROP FUNCTION shifts.docs_ok(integer, integer);
DROP TABLE shifts.eligibility_state;
DROP TABLE shifts.eligibility_patch;

DROP INDEX public.carepg_facility_requirement_document_idx;
DROP INDEX public.carepg_shift_claimed_range_idx;
-- Ours only if it sits in our schema; a btree_gist the database had before stays.
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_extension WHERE extname = 'btree_gist'
               AND extnamespace = 'carepg_ext'::regnamespace) THEN
        DROP EXTENSION btree_gist;
    END IF;
END
$$;
DROP SCHEMA carepg_ext;
