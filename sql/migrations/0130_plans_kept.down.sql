-- purpose: undo 0130_plans_kept, written by `make migration`: the same objects as revision 0121 built them.

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts_private.on_document_worker_change()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
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
    IF shifts_private.maintenance_deferred() THEN
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

CREATE OR REPLACE FUNCTION shifts_private.on_facility_requirement_change()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
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
    IF shifts_private.maintenance_deferred() THEN
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

CREATE OR REPLACE FUNCTION shifts_private.on_worker_change()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    changed integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.id) INTO changed FROM new_rows AS n WHERE n.is_active;
        IF changed IS NULL THEN
            RETURN NULL;
        END IF;
        IF shifts_private.maintenance_deferred() THEN
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
    IF shifts_private.maintenance_deferred() THEN
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

CREATE OR REPLACE FUNCTION shifts_private.on_facility_change()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
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
    IF shifts_private.maintenance_deferred() THEN
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

CREATE OR REPLACE FUNCTION shifts_private.lock_workers(worker_ids integer[])
 RETURNS void
 LANGUAGE sql
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 INSERT INTO shifts_private.worker_lock AS l (worker_id)  SELECT DISTINCT w.id
            FROM unnest(lock_workers.worker_ids) w(id)
           WHERE (w.id IS NOT NULL)
           ORDER BY w.id ON CONFLICT(worker_id) DO UPDATE SET writes = (l.writes + 1);
END;

CREATE OR REPLACE FUNCTION shifts_private.lock_facility_shared(facility_id integer)
 RETURNS void
 LANGUAGE plpgsql
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
BEGIN
    PERFORM pg_advisory_lock_shared(1667653987, lock_facility_shared.facility_id);
    BEGIN
        PERFORM FROM shifts_private.facility_lock AS l WHERE l.facility_id = lock_facility_shared.facility_id
        FOR SHARE;
        IF NOT FOUND THEN  -- a facility made while the triggers were off: give it its row
            INSERT INTO shifts_private.facility_lock (facility_id) VALUES (lock_facility_shared.facility_id)
            ON CONFLICT DO NOTHING;
            PERFORM FROM shifts_private.facility_lock AS l WHERE l.facility_id = lock_facility_shared.facility_id
            FOR SHARE;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM pg_advisory_unlock_shared(1667653987, lock_facility_shared.facility_id);
        RAISE;
    END;
    PERFORM pg_advisory_unlock_shared(1667653987, lock_facility_shared.facility_id);
END
$function$;

CREATE OR REPLACE FUNCTION shifts_private.facilities_with_documents(worker_id integer, facility_ids integer[])
 RETURNS integer[]
 LANGUAGE sql
 STABLE PARALLEL SAFE
 SET search_path TO 'pg_catalog', 'pg_temp'
BEGIN ATOMIC
 WITH held AS (
          SELECT COALESCE(array_agg(d.document_id), '{}'::integer[]) AS docs
            FROM public."DocumentWorker" d
           WHERE (d.worker_id = facilities_with_documents.worker_id)
         )
  SELECT COALESCE(array_agg(f.id ORDER BY f.id), '{}'::integer[]) AS "coalesce"
    FROM ( SELECT DISTINCT u.id
            FROM unnest(facilities_with_documents.facility_ids) u(id)) f,
     held h
   WHERE (NOT (EXISTS ( SELECT
            FROM public."FacilityRequirement" r
           WHERE ((r.facility_id = f.id) AND (r.document_id <> ALL (h.docs))))));
END;

CREATE OR REPLACE FUNCTION shifts_private.maintenance_deferred()
 RETURNS boolean
 LANGUAGE sql
 STABLE
 SET search_path TO 'pg_catalog', 'pg_temp'
RETURN (COALESCE(current_setting('carepg.eligibility_maintenance'::text, true), ''::text) = 'deferred'::text);

CREATE OR REPLACE FUNCTION shifts_private.on_shift_change()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'pg_catalog', 'pg_temp'
AS $function$
DECLARE
    -- More rows than a subscriber would want listed: they refetch instead.
    listed_at_most constant integer := 1000;
    changed bigint;
BEGIN
    IF TG_OP = 'TRUNCATE' OR shifts_private.maintenance_deferred() THEN
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
        -- Pair images by id (a key); an id that changed counts as one shift gone and another new.
        SELECT count(*) INTO changed
        FROM new_rows AS n FULL JOIN old_rows AS o ON o.id = n.id
        WHERE n IS DISTINCT FROM o;
        IF changed > listed_at_most THEN
            INSERT INTO shifts_private.change_log (kind) VALUES ('many_shifts');
        ELSIF changed > 0 THEN
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

COMMENT ON FUNCTION shifts_private.lock_facility_shared(facility_id integer) IS $comment$carepg internal: share the facility's row of shifts_private.facility_lock until the transaction ends (behind advisory lock ('cfac', id) while it waits), as a claim at that facility does.$comment$;

COMMENT ON FUNCTION shifts_private.maintenance_deferred() IS $comment$carepg internal: true when this transaction set carepg.eligibility_maintenance = 'deferred' (a bulk load).$comment$;

RESET ROLE;
