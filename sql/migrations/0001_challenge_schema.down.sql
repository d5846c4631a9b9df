-- purpose: undo 0001: drop the challenge tables only if carepg created them (their comment says so).
-- A database that came with the challenge's own tables keeps them and their data.

DO $migration$
BEGIN
    IF obj_description(to_regclass('public."Shift"'), 'pg_class') LIKE 'carepg:%' THEN
        DROP TABLE public."Shift", public."DocumentWorker", public."FacilityRequirement",
                   public."Document", public."Facility", public."Worker";
    END IF;
    IF obj_description(to_regtype('public."Profession"'), 'pg_type') LIKE 'carepg:%' THEN
        DROP TYPE public."Profession";
    END IF;
END
$migration$;
