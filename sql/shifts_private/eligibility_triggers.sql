-- purpose: the functions behind the eligibility triggers on the application's tables (public/eligibility_triggers.sql).
--
-- Each statement that may change who is eligible where takes the locks of the workers or facilities it changes
-- (locks.sql: only claims of those workers, or at those facilities, and other changes of the same keys wait for
-- it) and logs one row per worker or facility in shifts_private.change_log. Nothing is recomputed here: readers
-- recheck what the log names from the live tables, in their own snapshot (change_log.sql says why that is exact).
--
-- Where the cost of a write goes (challenge data, 8 concurrent writers each toggling a document of its own
-- worker, PERFORMANCE.md has the figures and the command): the bare insert or delete, the statement-level
-- trigger's transition table, one upsert of the worker's lock row and one insert into the log. Recomputing each
-- changed pair at write time, as an earlier design did, needed every writer to agree with every other on the
-- pairs they shared (a document gained at the moment a facility starts requiring it), hence one lock for the whole
-- marketplace: 0.11x the bare application's write throughput, and a slow application transaction stalled every
-- other writer and claim. This design: 0.45-0.47x with 8 writers, 2.6-2.7x what one writer does, and a change held
-- open stalls only its own worker or facility.
--
-- SECURITY DEFINER: they run as carepg_owner, whoever writes the table, so an application role with nothing but
-- its own DML rights keeps writing as before and never needs a privilege on carepg's schemas. That is safe
-- because nothing in them is up to the caller: search_path is fixed to pg_catalog (pg_temp last, and never
-- searched for functions or operators), every other name is schema-qualified, there is no dynamic SQL, and the
-- only inputs are the statement's transition tables. Nobody may call them directly (EXECUTE is not granted,
-- and the schema is private); a trigger does not need EXECUTE to fire.
--
-- SET carepg.eligibility_maintenance = 'deferred' (a bulk load, such as carepg seed) logs one 'everything' row per
-- statement and takes no per-key locks: readers then compute every worker's eligibility live until a refresh.
-- Such a load is not ordered with claims in flight; it is meant for loading, not for a live marketplace.

SET LOCAL ROLE carepg_owner;

-- A bulk load: one row that tells every reader to compute live until the next refresh.
CREATE OR REPLACE FUNCTION shifts_private.log_everything()
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO shifts_private.change_log (kind) VALUES ('everything');
END;
COMMENT ON FUNCTION shifts_private.log_everything() IS
    'carepg internal: log a change that may concern every pair (readers compute live until the next refresh).';

-- Workers gained or lost documents: lock each worker, log which documents.
CREATE OR REPLACE FUNCTION shifts_private.on_document_worker_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    changed_w integer[];
    changed_d integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.worker_id), array_agg(n.document_id) INTO changed_w, changed_d FROM new_rows AS n;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(o.worker_id), array_agg(o.document_id) INTO changed_w, changed_d FROM old_rows AS o;
    ELSE
        SELECT array_agg(c.w), array_agg(c.d) INTO changed_w, changed_d
        FROM (SELECT n.worker_id, n.document_id FROM new_rows AS n
              UNION ALL
              SELECT o.worker_id, o.document_id FROM old_rows AS o) AS c (w, d);
    END IF;
    IF changed_w IS NULL THEN
        RETURN NULL;
    END IF;
    IF current_setting('carepg.eligibility_maintenance', true) = 'deferred' THEN
        PERFORM shifts_private.log_everything();
        RETURN NULL;
    END IF;
    PERFORM shifts_private.lock_workers(changed_w);
    INSERT INTO shifts_private.change_log (kind, worker_id, document_ids)
    SELECT 'documents', c.w, array_agg(DISTINCT c.d ORDER BY c.d)
    FROM unnest(changed_w, changed_d) AS c (w, d)
    WHERE c.w IS NOT NULL AND c.d IS NOT NULL
    GROUP BY c.w
    ORDER BY c.w;
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_document_worker_change() IS
    'carepg internal: after DocumentWorker changes, lock each changed worker and log the documents it gained or lost.';

-- Facilities' requirements changed: lock each facility, log what it requires now and what it required before the
-- statement (the push feed tells a subscriber to refetch only when its worker's answer there flips).
CREATE OR REPLACE FUNCTION shifts_private.on_facility_requirement_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    -- (facility, document, how many of its rows this statement removed: -1 per inserted row, +1 per deleted one)
    changed_f integer[];
    changed_d integer[];
    undone integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.facility_id), array_agg(n.document_id), array_agg(-1) INTO changed_f, changed_d, undone
        FROM new_rows AS n;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(o.facility_id), array_agg(o.document_id), array_agg(1) INTO changed_f, changed_d, undone
        FROM old_rows AS o;
    ELSE
        SELECT array_agg(c.f), array_agg(c.d), array_agg(c.n) INTO changed_f, changed_d, undone
        FROM (SELECT n.facility_id, n.document_id, -1 FROM new_rows AS n
              UNION ALL
              SELECT o.facility_id, o.document_id, 1 FROM old_rows AS o) AS c (f, d, n);
    END IF;
    IF changed_f IS NULL THEN
        RETURN NULL;
    END IF;
    IF current_setting('carepg.eligibility_maintenance', true) = 'deferred' THEN
        PERFORM shifts_private.log_everything();
        RETURN NULL;
    END IF;
    PERFORM shifts_private.lock_facilities(changed_f);
    -- After the lock, a fresh snapshot: what the facility requires now includes every change committed before ours.
    -- Before this statement: now, with its inserted rows taken away and its deleted rows put back (as counts, so
    -- a duplicate requirement row changes nothing).
    INSERT INTO shifts_private.change_log (kind, facility_id, document_ids, previous_document_ids)
    SELECT 'requirements', f.id,
           (SELECT coalesce(array_agg(DISTINCT r.document_id ORDER BY r.document_id), '{}')
            FROM public."FacilityRequirement" AS r WHERE r.facility_id = f.id),
           (SELECT coalesce(array_agg(x.d ORDER BY x.d), '{}')
            FROM (SELECT c.d
                  FROM (SELECT r.document_id, 1 FROM public."FacilityRequirement" AS r WHERE r.facility_id = f.id
                        UNION ALL
                        SELECT u.d, u.n FROM unnest(changed_f, changed_d, undone) AS u (f, d, n) WHERE u.f = f.id)
                       AS c (d, n)
                  GROUP BY c.d
                  HAVING sum(c.n) > 0) AS x)
    FROM (SELECT DISTINCT u.f FROM unnest(changed_f) AS u (f) WHERE u.f IS NOT NULL) AS f (id)
    ORDER BY f.id;
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_facility_requirement_change() IS
    'carepg internal: after FacilityRequirement changes, lock each changed facility and log what it requires now and required before.';

-- Workers appeared, changed activation, profession or id.
--  * new, activated, or under a new id: the view may not know the worker, or know it from before a deactivation
--    during which its documents or facilities changed: log 'worker' (readers recheck it everywhere);
--  * deactivated or another profession: readers read those live; log 'worker_state' all the same, and lock the
--    worker, so that a claim in flight (shifts.claim_shift) is ordered entirely before or after the change.
-- Other columns (a name) change nothing and take nothing.
CREATE OR REPLACE FUNCTION shifts_private.on_worker_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    changed integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.id) INTO changed FROM new_rows AS n WHERE n.is_active;
        IF changed IS NULL THEN
            RETURN NULL;
        END IF;
        IF current_setting('carepg.eligibility_maintenance', true) = 'deferred' THEN
            PERFORM shifts_private.log_everything();
            RETURN NULL;
        END IF;
        INSERT INTO shifts_private.change_log (kind, worker_id)
        SELECT DISTINCT 'worker', w.id FROM unnest(changed) AS w (id) ORDER BY 2;
        RETURN NULL;
    END IF;
    -- UPDATE. Transition tables do not pair old and new rows; an id is a key, so pair them by id, and count a
    -- row whose id changed as its old id gone and its new id new.
    SELECT array_agg(c.id ORDER BY c.id) INTO changed
    FROM (SELECT n.id FROM new_rows AS n
          LEFT JOIN old_rows AS o ON o.id = n.id
          WHERE o.id IS NULL OR n.is_active IS DISTINCT FROM o.is_active OR n.profession IS DISTINCT FROM o.profession
          UNION
          SELECT o.id FROM old_rows AS o
          WHERE NOT EXISTS (SELECT FROM new_rows AS n WHERE n.id = o.id)) AS c;
    IF changed IS NULL THEN
        RETURN NULL;
    END IF;
    IF current_setting('carepg.eligibility_maintenance', true) = 'deferred' THEN
        PERFORM shifts_private.log_everything();
        RETURN NULL;
    END IF;
    PERFORM shifts_private.lock_workers(changed);
    INSERT INTO shifts_private.change_log (kind, worker_id)
    SELECT CASE WHEN n.is_active AND NOT coalesce(o.is_active, false) THEN 'worker' ELSE 'worker_state' END, c.id
    FROM unnest(changed) AS c (id)
    LEFT JOIN new_rows AS n ON n.id = c.id
    LEFT JOIN old_rows AS o ON o.id = c.id
    ORDER BY c.id;
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_worker_change() IS
    'carepg internal: when workers appear, change activation, profession or id, lock them (updates) and log them.';

-- Facilities appeared, changed activation or id.
CREATE OR REPLACE FUNCTION shifts_private.on_facility_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    changed integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.id) INTO changed FROM new_rows AS n;
    ELSE
        SELECT array_agg(c.id ORDER BY c.id) INTO changed
        FROM (SELECT n.id FROM new_rows AS n
              LEFT JOIN old_rows AS o ON o.id = n.id
              WHERE o.id IS NULL OR n.is_active IS DISTINCT FROM o.is_active
              UNION
              SELECT o.id FROM old_rows AS o
              WHERE NOT EXISTS (SELECT FROM new_rows AS n WHERE n.id = o.id)) AS c;
    END IF;
    IF changed IS NULL THEN
        RETURN NULL;
    END IF;
    IF current_setting('carepg.eligibility_maintenance', true) = 'deferred' THEN
        PERFORM shifts_private.log_everything();
        RETURN NULL;
    END IF;
    -- Every facility gets its lock row as it appears (claims share it, and under REPEATABLE READ a row a claim
    -- cannot see would order nothing); an update locks it.
    PERFORM shifts_private.lock_facilities(changed);
    INSERT INTO shifts_private.change_log (kind, facility_id)
    SELECT CASE WHEN n.is_active THEN 'facility' ELSE 'facility_state' END, c.id  -- active now: new, activated or renumbered
    FROM unnest(changed) AS c (id)
    LEFT JOIN new_rows AS n ON n.id = c.id
    ORDER BY c.id;
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_facility_change() IS
    'carepg internal: when facilities appear, change activation or id, lock them and log them.';

-- TRUNCATE has no transition tables: every reader computes live until the next refresh.
CREATE OR REPLACE FUNCTION shifts_private.on_truncate()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    PERFORM shifts_private.log_everything();
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_truncate() IS
    'carepg internal: after TRUNCATE of an eligibility table, answer from the live tables until the next refresh.';

RESET ROLE;
