-- purpose: what carepg_owner may do with the application's own tables: read the five that decide
-- eligibility and availability, and write one column, "Shift".worker_id (shifts.claim_shift() and
-- release_shift(); it is also what lets them lock a shift's row FOR UPDATE). Nothing else of the host's is granted,
-- and no role loses anything.
GRANT SELECT ON public."Worker", public."Facility", public."FacilityRequirement", public."DocumentWorker",
    public."Shift" TO carepg_owner;
GRANT UPDATE (worker_id) ON public."Shift" TO carepg_owner;
