-- purpose: what carepg_owner may do with the application's own tables: read the five that decide
-- eligibility and availability. Nothing else of the host's is granted, and no role loses anything.
GRANT SELECT ON public."Worker", public."Facility", public."FacilityRequirement", public."DocumentWorker",
    public."Shift" TO carepg_owner;
