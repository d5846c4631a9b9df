-- purpose: the function behind the triggers on "Shift" (public/shift_triggers.sql): log each changed shift in
-- shifts_private.change_log, for the push feed (shifts.available_shift_changes). A shift changes no eligibility,
-- so nothing is locked and no eligibility reader looks at these rows.
--
-- One row per image that matters: the shift as the statement left it (inserted, updated), and as it was before
-- when that image was somebody's claim (a release: that worker's overlaps changed) or the shift moved (another
-- facility, profession or time: subscribers of the old one must hear of it too). A statement that changes more
-- than 1,000 shifts, TRUNCATE, or a bulk load with carepg.eligibility_maintenance = 'deferred' logs one
-- 'many_shifts' row instead: subscribers refetch. Runs as carepg_owner, like the eligibility triggers' functions
-- (eligibility_triggers.sql says why that is safe).

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts_private.on_shift_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    -- More rows than a subscriber would want listed: they refetch instead.
    listed_at_most constant integer := 1000;
    changed bigint;
BEGIN
    IF TG_OP = 'TRUNCATE' OR current_setting('carepg.eligibility_maintenance', true) = 'deferred' THEN
        INSERT INTO shifts_private.change_log (kind) VALUES ('many_shifts');
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        SELECT count(*) INTO changed FROM new_rows;
        IF changed > listed_at_most THEN
            INSERT INTO shifts_private.change_log (kind) VALUES ('many_shifts');
        ELSIF changed > 0 THEN
            INSERT INTO shifts_private.change_log (kind, shift_id, facility_id, profession, start, "end", worker_id)
            SELECT 'shift', n.id, n.facility_id, n.profession, n.start, n."end", n.worker_id FROM new_rows AS n;
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT count(*) INTO changed FROM old_rows;
        IF changed > listed_at_most THEN
            INSERT INTO shifts_private.change_log (kind) VALUES ('many_shifts');
        ELSIF changed > 0 THEN
            INSERT INTO shifts_private.change_log (kind, shift_id, facility_id, profession, start, "end", worker_id)
            SELECT 'shift', o.id, o.facility_id, o.profession, o.start, o."end", o.worker_id FROM old_rows AS o;
        END IF;
    ELSE
        SELECT count(*) INTO changed FROM new_rows;
        IF changed > listed_at_most THEN
            INSERT INTO shifts_private.change_log (kind) VALUES ('many_shifts');
        ELSIF changed > 0 THEN
            -- Pair images by id (a key); an id that changed counts as one shift gone and another new.
            INSERT INTO shifts_private.change_log (kind, shift_id, facility_id, profession, start, "end", worker_id)
            SELECT 'shift', i.id, i.facility_id, i.profession, i.start, i."end", i.worker_id
            FROM new_rows AS n
            FULL JOIN old_rows AS o ON o.id = n.id
            CROSS JOIN LATERAL (
                SELECT n.id, n.facility_id, n.profession, n.start, n."end", n.worker_id
                WHERE n.id IS NOT NULL
                UNION ALL
                SELECT o.id, o.facility_id, o.profession, o.start, o."end", o.worker_id
                WHERE o.id IS NOT NULL
                  AND (n.id IS NULL
                       OR (o.worker_id IS NOT NULL AND o.worker_id IS DISTINCT FROM n.worker_id)
                       OR (o.facility_id, o.profession, o.start, o."end")
                          IS DISTINCT FROM (n.facility_id, n.profession, n.start, n."end"))
            ) AS i (id, facility_id, profession, start, "end", worker_id)
            WHERE n IS DISTINCT FROM o;
        END IF;
    END IF;
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_shift_change() IS
    'carepg internal: after "Shift" changes, log each changed shift (its images that matter) for the push feed, or one many_shifts row for a bulk change.';

RESET ROLE;
