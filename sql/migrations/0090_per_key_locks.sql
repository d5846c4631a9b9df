-- purpose: a change waits only for what it can change. Eligibility changes no longer serialise on one lock for
-- the whole marketplace (advisory lock ('care', 2) and the eligibility_state row, shared by every claim): a
-- worker's change takes that worker's row, a facility's change that facility's row (locks.sql), and instead of
-- recomputing pairs at write time, which needed that one lock, the triggers log the changed worker or facility in
-- shifts_private.change_log and readers recheck those pairs live until a refresh folds them into the view.
-- The old patches are dropped; one 'everything' row makes readers compute live until the next refresh.

SET LOCAL ROLE carepg_owner;

-- The change log, and the view's position in it.
CREATE TABLE shifts_private.change_log (
    xid xid8 NOT NULL DEFAULT pg_current_xact_id(),
    kind text NOT NULL,
    worker_id integer,
    facility_id integer,
    document_ids integer[],
    logged_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    CONSTRAINT change_log_kind_check CHECK (
        CASE kind
            WHEN 'documents' THEN worker_id IS NOT NULL AND document_ids IS NOT NULL AND facility_id IS NULL
            WHEN 'worker' THEN worker_id IS NOT NULL AND facility_id IS NULL
            WHEN 'worker_state' THEN worker_id IS NOT NULL AND facility_id IS NULL
            WHEN 'requirements' THEN facility_id IS NOT NULL AND worker_id IS NULL
            WHEN 'facility' THEN facility_id IS NOT NULL AND worker_id IS NULL
            WHEN 'facility_state' THEN facility_id IS NOT NULL AND worker_id IS NULL
            WHEN 'everything' THEN worker_id IS NULL AND facility_id IS NULL
            ELSE false
        END)
);
COMMENT ON TABLE shifts_private.change_log IS
    'carepg: one row per worker or facility whose eligibility a statement may have changed, with the writing transaction; readers recheck those live until the view includes them.';
COMMENT ON COLUMN shifts_private.change_log.xid IS 'the transaction that made the change (visible exactly when its change is).';
COMMENT ON COLUMN shifts_private.change_log.kind IS
    'documents, worker, worker_state (a worker''s), requirements, facility, facility_state (a facility''s), or everything.';
COMMENT ON COLUMN shifts_private.change_log.document_ids IS 'kind documents: the documents gained or lost.';
COMMENT ON COLUMN shifts_private.change_log.logged_at IS 'when the statement ran; a refresh deletes folded rows older than the retention.';

-- A worker's rows since a snapshot: what a reader of that worker rechecks.
CREATE INDEX change_log_worker_xid_idx ON shifts_private.change_log (worker_id, xid) WHERE worker_id IS NOT NULL;
COMMENT ON INDEX shifts_private.change_log_worker_xid_idx IS 'carepg: a worker''s changes since a snapshot.';
-- Rows every reader must look at (facility-wide and bulk changes), since a snapshot.
CREATE INDEX change_log_broad_xid_idx ON shifts_private.change_log (xid)
    WHERE kind IN ('requirements', 'facility', 'everything');
COMMENT ON INDEX shifts_private.change_log_broad_xid_idx IS 'carepg: changes that concern every worker, since a snapshot.';
-- Retention: the oldest rows go first.
CREATE INDEX change_log_xid_idx ON shifts_private.change_log (xid);
COMMENT ON INDEX shifts_private.change_log_xid_idx IS 'carepg: every change since a snapshot; pruning by age.';

-- Where patches corrected the view, or a bulk change made it stale, readers compute live until the next refresh.
INSERT INTO shifts_private.change_log (kind)
SELECT 'everything'
WHERE EXISTS (SELECT FROM shifts_private.eligibility_patch)
   OR (SELECT s.stale_by IS NOT NULL FROM shifts_private.eligibility_state AS s);

DROP FUNCTION shifts_private.patch_changed_pairs(integer[], integer[]);
DROP FUNCTION shifts_private.patch_pairs(integer[], integer[]);
DROP FUNCTION shifts_private.begin_eligibility_write();
DROP TABLE shifts_private.eligibility_patch;

ALTER TABLE shifts_private.eligibility_state DROP COLUMN writes, DROP COLUMN stale_by,
    ADD COLUMN view_snapshot pg_snapshot NOT NULL DEFAULT '1:1:',
    ADD COLUMN refreshed_at timestamptz,
    ADD COLUMN pruned_below xid8 NOT NULL DEFAULT '0';
COMMENT ON TABLE shifts_private.eligibility_state IS
    'carepg: one row: the snapshot shifts_private.eligible_pair was computed from (changes it does not include are rechecked live).';
COMMENT ON COLUMN shifts_private.eligibility_state.view_snapshot IS
    'the snapshot the last refresh noted before recomputing the view; change_log rows invisible to it are unseen.';
COMMENT ON COLUMN shifts_private.eligibility_state.refreshed_at IS 'when the last refresh ran (NULL: never since carepg was installed).';
COMMENT ON COLUMN shifts_private.eligibility_state.pruned_below IS
    'change_log rows of transactions below this xid may have been deleted (all were folded into the view and past the retention).';
-- The current snapshot, with this transaction's own xid counted as in progress. A snapshot never lists its own
-- transaction, so pg_visible_in_snapshot() would call this transaction's later changes visible: a refresh (or a
-- migration) that writes changes after noting its snapshot must still see them as unseen.
CREATE OR REPLACE FUNCTION shifts_private.snapshot_excluding_self()
RETURNS pg_snapshot
LANGUAGE plpgsql
STABLE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    now_seen constant pg_snapshot := pg_current_snapshot();
    me constant xid8 := pg_current_xact_id_if_assigned();
BEGIN
    IF me IS NULL OR me >= pg_snapshot_xmax(now_seen) THEN
        RETURN now_seen;  -- no xid yet, or one the snapshot already counts as not yet visible
    END IF;
    RETURN format('%s:%s:%s', pg_snapshot_xmin(now_seen), pg_snapshot_xmax(now_seen),
                  (SELECT string_agg(x::text, ',' ORDER BY x)
                   FROM (SELECT pg_snapshot_xip(now_seen) UNION SELECT me) AS u (x)))::pg_snapshot;
END
$function$;
COMMENT ON FUNCTION shifts_private.snapshot_excluding_self() IS
    'carepg internal: pg_current_snapshot() with the current transaction (if it has an xid) counted as in progress.';

-- Lock rows: the worker's (the claims' row, renamed: eligibility changes of the worker take it too) and the
-- facility's.
ALTER TABLE shifts_private.worker_claim_lock RENAME TO worker_lock;
ALTER TABLE shifts_private.worker_lock RENAME CONSTRAINT worker_claim_lock_pkey TO worker_lock_pkey;
COMMENT ON TABLE shifts_private.worker_lock IS
    'carepg: one row per worker that claimed, released or had its eligibility changed; updating it orders that worker''s claims, releases and eligibility changes.';
COMMENT ON COLUMN shifts_private.worker_lock.writes IS 'locks taken on this row after the first (claims, releases, eligibility changes).';
CREATE TABLE shifts_private.facility_lock (
    facility_id integer PRIMARY KEY,
    writes bigint NOT NULL DEFAULT 0
);
COMMENT ON TABLE shifts_private.facility_lock IS
    'carepg: one row per facility; claims at the facility share it, changes to its requirements or activation update it.';
COMMENT ON COLUMN shifts_private.facility_lock.writes IS 'changes to this facility''s requirements or activation after the first.';
INSERT INTO shifts_private.facility_lock (facility_id) SELECT f.id FROM public."Facility" AS f;

-- The workers' rows, exclusively, in id order (upserted: a worker's first change creates its row).
CREATE OR REPLACE FUNCTION shifts_private.lock_workers(worker_ids integer[])
RETURNS void
LANGUAGE sql
VOLATILE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    INSERT INTO shifts_private.worker_lock AS l (worker_id)
    SELECT DISTINCT w.id FROM unnest(worker_ids) AS w (id) WHERE w.id IS NOT NULL ORDER BY w.id
    ON CONFLICT (worker_id) DO UPDATE SET writes = l.writes + 1;
END;
COMMENT ON FUNCTION shifts_private.lock_workers(integer[]) IS
    'carepg internal: lock the workers'' rows of shifts_private.worker_lock exclusively, in id order, until the transaction ends.';

-- The facilities' rows, exclusively, in id order, each behind its advisory queue. A row this transaction already
-- holds (or nobody holds) is taken at once, without the queue: a claim may be waiting in the queue's shared mode
-- for exactly that row, so queueing again for it would wait on that claim, which waits on us.
CREATE OR REPLACE FUNCTION shifts_private.lock_facilities(facility_ids integer[])
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    id integer;
    taken boolean;
BEGIN
    FOR id IN SELECT DISTINCT f.id FROM unnest(facility_ids) AS f (id) WHERE f.id IS NOT NULL ORDER BY f.id LOOP
        BEGIN
            PERFORM FROM shifts_private.facility_lock AS l WHERE l.facility_id = id FOR NO KEY UPDATE NOWAIT;
            taken := FOUND;
        EXCEPTION WHEN lock_not_available THEN
            taken := false;
        END;
        IF taken THEN
            UPDATE shifts_private.facility_lock AS l SET writes = l.writes + 1 WHERE l.facility_id = id;
            CONTINUE;
        END IF;
        PERFORM pg_advisory_lock(1667653987, id);  -- ('cfac', id): hold the queue while we wait for the row
        BEGIN
            INSERT INTO shifts_private.facility_lock AS l (facility_id) VALUES (id)
            ON CONFLICT (facility_id) DO UPDATE SET writes = l.writes + 1;
        EXCEPTION WHEN OTHERS THEN
            PERFORM pg_advisory_unlock(1667653987, id);
            RAISE;
        END;
        PERFORM pg_advisory_unlock(1667653987, id);
    END LOOP;
END
$function$;
COMMENT ON FUNCTION shifts_private.lock_facilities(integer[]) IS
    'carepg internal: lock the facilities'' rows of shifts_private.facility_lock exclusively, in id order, until the transaction ends (behind advisory lock (''cfac'', id) while it has to wait).';

-- A claim's share of one facility's row.
CREATE OR REPLACE FUNCTION shifts_private.lock_facility_shared(facility_id integer)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
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
COMMENT ON FUNCTION shifts_private.lock_facility_shared(integer) IS
    'carepg internal: share the facility''s row of shifts_private.facility_lock until the transaction ends (behind advisory lock (''cfac'', id) while it waits), as a claim at that facility does.';

-- The document rule, for a set of facilities.
CREATE OR REPLACE FUNCTION shifts_private.facilities_with_documents(worker_id integer, facility_ids integer[])
RETURNS integer[]
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    -- The worker's documents once, as an array: each requirement row is then checked in memory.
    WITH held AS (
        SELECT coalesce(array_agg(d.document_id), '{}') AS docs
        FROM public."DocumentWorker" AS d
        WHERE d.worker_id = facilities_with_documents.worker_id
    )
    SELECT coalesce(array_agg(f.id ORDER BY f.id), '{}')
    FROM (SELECT DISTINCT u.id FROM unnest(facilities_with_documents.facility_ids) AS u (id)) AS f, held AS h
    WHERE NOT EXISTS (SELECT FROM public."FacilityRequirement" AS r
                      WHERE r.facility_id = f.id AND r.document_id <> ALL (h.docs));
END;
COMMENT ON FUNCTION shifts_private.facilities_with_documents(integer, integer[]) IS
    'carepg: of the given facilities, those whose every required document the worker holds, from the live tables (the document rule).';

CREATE OR REPLACE FUNCTION shifts.docs_ok(worker_id integer, facility_id integer)
RETURNS boolean
LANGUAGE sql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
RETURN cardinality(shifts_private.facilities_with_documents(docs_ok.worker_id, ARRAY[docs_ok.facility_id])) = 1;
COMMENT ON FUNCTION shifts.docs_ok(integer, integer) IS
    'Does the worker hold every document the facility requires? Set logic: duplicates don''t matter, no requirements means yes.';

-- The triggers' functions.
CREATE OR REPLACE FUNCTION shifts_private.maintenance_deferred()
RETURNS boolean
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
RETURN coalesce(current_setting('carepg.eligibility_maintenance', true), '') = 'deferred';
COMMENT ON FUNCTION shifts_private.maintenance_deferred() IS
    'carepg internal: true when this transaction set carepg.eligibility_maintenance = ''deferred'' (a bulk load).';

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
COMMENT ON FUNCTION shifts_private.on_document_worker_change() IS
    'carepg internal: after DocumentWorker changes, lock each changed worker and log the documents it gained or lost.';

-- Facilities' requirements changed: lock each facility, log it.
CREATE OR REPLACE FUNCTION shifts_private.on_facility_requirement_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    changed_f integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.facility_id) INTO changed_f FROM new_rows AS n;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(o.facility_id) INTO changed_f FROM old_rows AS o;
    ELSE
        SELECT array_agg(c.f) INTO changed_f
        FROM (SELECT n.facility_id FROM new_rows AS n UNION ALL SELECT o.facility_id FROM old_rows AS o) AS c (f);
    END IF;
    IF changed_f IS NULL THEN
        RETURN NULL;
    END IF;
    IF shifts_private.maintenance_deferred() THEN
        PERFORM shifts_private.log_everything();
        RETURN NULL;
    END IF;
    PERFORM shifts_private.lock_facilities(changed_f);
    INSERT INTO shifts_private.change_log (kind, facility_id)
    SELECT DISTINCT 'requirements', f.id FROM unnest(changed_f) AS f (id) WHERE f.id IS NOT NULL ORDER BY 2;
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_facility_requirement_change() IS
    'carepg internal: after FacilityRequirement changes, lock each changed facility and log that its requirements changed.';

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

CREATE OR REPLACE FUNCTION shifts.eligible_facility_ids(worker_id integer)
RETURNS integer[]
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    seen pg_snapshot;
    everywhere boolean;
    changed_facilities integer[];
    changed_documents integer[];
    recheck integer[];
    ids integer[];
BEGIN
    SELECT s.view_snapshot INTO seen FROM shifts_private.eligibility_state AS s;
    SELECT bool_or(u.kind IN ('everything', 'worker')),
           array_agg(u.facility_id) FILTER (WHERE u.facility_id IS NOT NULL),
           array_agg(d.id) FILTER (WHERE d.id IS NOT NULL)
    INTO everywhere, changed_facilities, changed_documents
    FROM (SELECT c.kind, c.facility_id, c.document_ids
          FROM shifts_private.change_log AS c
          WHERE c.kind IN ('requirements', 'facility', 'everything')
            AND c.xid >= pg_snapshot_xmin(seen) AND NOT pg_visible_in_snapshot(c.xid, seen)
          UNION ALL
          SELECT c.kind, c.facility_id, c.document_ids
          FROM shifts_private.change_log AS c
          WHERE c.worker_id = eligible_facility_ids.worker_id AND c.kind IN ('documents', 'worker')
            AND c.xid >= pg_snapshot_xmin(seen) AND NOT pg_visible_in_snapshot(c.xid, seen)) AS u
    LEFT JOIN LATERAL unnest(u.document_ids) AS d (id) ON true;

    IF everywhere THEN
        SELECT array_agg(f.id) INTO recheck FROM public."Facility" AS f WHERE f.is_active;
        RETURN shifts_private.facilities_with_documents(eligible_facility_ids.worker_id, coalesce(recheck, '{}'));
    END IF;
    IF changed_documents IS NOT NULL THEN
        SELECT array_agg(DISTINCT r.facility_id) INTO recheck
        FROM public."FacilityRequirement" AS r
        WHERE r.document_id = ANY (changed_documents);
    END IF;
    recheck := coalesce(recheck, '{}') || coalesce(changed_facilities, '{}');

    SELECT array_agg(e.facility_id) INTO ids
    FROM shifts_private.eligible_pair AS e
    WHERE e.worker_id = eligible_facility_ids.worker_id
      AND e.facility_id <> ALL (recheck);
    IF cardinality(recheck) > 0 THEN
        ids := coalesce(ids, '{}') || shifts_private.facilities_with_documents(eligible_facility_ids.worker_id, recheck);
    END IF;
    RETURN coalesce(ids, '{}');
END
$function$;
COMMENT ON FUNCTION shifts.eligible_facility_ids(integer) IS
$comment$Facilities where the worker holds every required document, as of now: shifts_private.eligible_pair, with the pairs that unseen changes (shifts_private.change_log) may have changed computed from the live tables.
May include facilities that are inactive now; callers check Facility.is_active and Worker.is_active live.$comment$;

CREATE OR REPLACE FUNCTION shifts.refresh_eligibility(concurrent boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    -- Everything this snapshot sees, the recomputed view will see too (it takes a later snapshot). This
    -- transaction's own changes count as unseen: those made after this point are not in the view.
    seen constant pg_snapshot := shifts_private.snapshot_excluding_self();
    -- The change log keeps rows this long after the view includes them (for subscribers catching up).
    retention constant interval := '15 minutes';
    prune_below xid8;
BEGIN
    IF concurrent THEN
        REFRESH MATERIALIZED VIEW CONCURRENTLY shifts_private.eligible_pair;  -- readers keep reading meanwhile
    ELSE
        REFRESH MATERIALIZED VIEW shifts_private.eligible_pair;
    END IF;
    -- Rows below both the view's horizon (all folded) and the oldest row still within the retention may go.
    -- (The oldest rows come first in xid order, so the scan reads about as many rows as it lets go.)
    SELECT c.xid INTO prune_below
    FROM shifts_private.change_log AS c
    WHERE c.logged_at > statement_timestamp() - retention
    ORDER BY c.xid
    LIMIT 1;
    prune_below := least(prune_below, pg_snapshot_xmin(seen));
    UPDATE shifts_private.eligibility_state AS s
    SET view_snapshot = seen, refreshed_at = clock_timestamp(), pruned_below = greatest(s.pruned_below, prune_below);
    DELETE FROM shifts_private.change_log AS c WHERE c.xid < prune_below;
END
$function$;
COMMENT ON FUNCTION shifts.refresh_eligibility(boolean) IS
$comment$Recompute shifts_private.eligible_pair from the live tables, so readers stop rechecking the changes it now includes, and delete change-log rows it includes that are older than 15 minutes.
Answers are exact with or without refreshes; refreshing keeps reads at one index scan of the view. CONCURRENTLY (the default) never blocks readers; pass false for a faster refresh that locks readers out while it runs.$comment$;

CREATE OR REPLACE FUNCTION shifts.eligibility_status(
    OUT refreshed_at timestamptz,
    OUT unseen_changes bigint,
    OUT live_everywhere boolean
)
LANGUAGE sql
STABLE
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT s.refreshed_at, count(c.xid), coalesce(bool_or(c.kind = 'everything'), false)
    FROM shifts_private.eligibility_state AS s
    LEFT JOIN shifts_private.change_log AS c
        ON c.xid >= pg_snapshot_xmin(s.view_snapshot) AND NOT pg_visible_in_snapshot(c.xid, s.view_snapshot)
    GROUP BY s.refreshed_at;
END;
COMMENT ON FUNCTION shifts.eligibility_status() IS
$comment$How far shifts_private.eligible_pair is behind: when it was last refreshed, how many logged changes it does not include (readers recheck those live), and whether a bulk change (TRUNCATE, deferred maintenance) makes every reader compute live until the next refresh.$comment$;

CREATE OR REPLACE FUNCTION shifts.release_shift(worker_id integer, shift_id integer)
RETURNS void
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    holder integer;
    shift_exists boolean;
BEGIN
    IF release_shift.worker_id IS NULL THEN
        RAISE EXCEPTION 'worker NULL does not exist' USING ERRCODE = 'CP404';
    END IF;
    PERFORM shifts_private.lock_workers(ARRAY[release_shift.worker_id]);

    SELECT s.worker_id INTO holder
    FROM public."Shift" AS s
    WHERE s.id = release_shift.shift_id
    FOR UPDATE;
    shift_exists := FOUND;
    IF shift_exists AND holder = release_shift.worker_id THEN
        UPDATE public."Shift" AS s SET worker_id = NULL WHERE s.id = release_shift.shift_id;
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT FROM public."Worker" AS w WHERE w.id = release_shift.worker_id) THEN
        RAISE EXCEPTION 'worker % does not exist', release_shift.worker_id USING ERRCODE = 'CP404';
    END IF;
    IF NOT shift_exists THEN
        RAISE EXCEPTION 'shift % does not exist', coalesce(release_shift.shift_id::text, 'NULL') USING ERRCODE = 'CP404';
    END IF;
    RAISE EXCEPTION 'worker % does not hold shift %', release_shift.worker_id, release_shift.shift_id
        USING ERRCODE = 'CP404',
              HINT = format('SELECT * FROM shifts.claimed_shifts(%s) lists the shifts worker %s holds',
                            release_shift.worker_id, release_shift.worker_id);
END
$function$;

COMMENT ON FUNCTION shifts.release_shift(integer, integer) IS
$comment$Give back a shift the worker holds: it is offered again at once to every worker shifts.available_shifts() would offer it to.
Errors: CP404 unknown worker, unknown shift, or a shift the worker does not hold. Locks the worker's row of shifts_private.worker_lock, then the shift FOR UPDATE.$comment$;
GRANT EXECUTE ON FUNCTION shifts.release_shift(integer, integer) TO carepg_api;

CREATE OR REPLACE FUNCTION shifts.claim_shift(worker_id integer, shift_id integer)
RETURNS shifts.claimed_shift
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    worker record;
    shift record;
    facility record;
    missing integer[];
    clash integer;
    locked_facility integer;
BEGIN
    IF claim_shift.worker_id IS NULL THEN
        RAISE EXCEPTION 'worker NULL does not exist' USING ERRCODE = 'CP404';
    END IF;
    -- 1. This worker's turn.
    PERFORM shifts_private.lock_workers(ARRAY[claim_shift.worker_id]);

    SELECT w.is_active, w.profession INTO worker
    FROM public."Worker" AS w
    WHERE w.id = claim_shift.worker_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'worker % does not exist', claim_shift.worker_id USING ERRCODE = 'CP404';
    END IF;
    -- 2. The facility's share, then 3. the shift. After a wait, FOR UPDATE returns the row as the other
    -- transaction left it; should that have moved the shift to another facility, share that one too.
    SELECT s.facility_id INTO locked_facility FROM public."Shift" AS s WHERE s.id = claim_shift.shift_id;
    LOOP
        IF locked_facility IS NOT NULL THEN
            PERFORM shifts_private.lock_facility_shared(locked_facility);
        END IF;
        SELECT s.id, s.start, s."end", s.profession, s.is_deleted, s.facility_id, s.worker_id INTO shift
        FROM public."Shift" AS s
        WHERE s.id = claim_shift.shift_id
        FOR UPDATE;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'shift % does not exist', coalesce(claim_shift.shift_id::text, 'NULL') USING ERRCODE = 'CP404';
        END IF;
        EXIT WHEN shift.facility_id IS NOT DISTINCT FROM locked_facility;
        locked_facility := shift.facility_id;
    END LOOP;
    SELECT f.name, f.is_active INTO facility FROM public."Facility" AS f WHERE f.id = shift.facility_id;

    IF shift.is_deleted THEN
        RAISE EXCEPTION 'shift % is deleted', shift.id
            USING ERRCODE = 'CP403', DETAIL = 'shift_deleted';
    END IF;
    IF shift.worker_id = claim_shift.worker_id THEN
        RETURN ROW(shift.id, shift.facility_id, facility.name, shift.start, shift."end", shift.profession, false);
    END IF;
    IF shift.worker_id IS NOT NULL THEN
        RAISE EXCEPTION 'shift % is taken by another worker', shift.id
            USING ERRCODE = 'CP409', DETAIL = 'taken',
                  HINT = format('SELECT * FROM shifts.available_shifts(%s) lists the shifts worker %s may take',
                                claim_shift.worker_id, claim_shift.worker_id);
    END IF;
    IF NOT worker.is_active THEN
        RAISE EXCEPTION 'worker % is not active', claim_shift.worker_id
            USING ERRCODE = 'CP403', DETAIL = 'worker_inactive';
    END IF;
    IF NOT facility.is_active THEN
        RAISE EXCEPTION 'facility % of shift % is not active', shift.facility_id, shift.id
            USING ERRCODE = 'CP403', DETAIL = 'facility_inactive';
    END IF;
    IF shift.profession <> worker.profession THEN
        RAISE EXCEPTION 'shift % is for a %, and worker % is a %', shift.id, shift.profession, claim_shift.worker_id,
            worker.profession
            USING ERRCODE = 'CP403', DETAIL = 'profession';
    END IF;
    -- The document rule from the live tables, as shifts.docs_ok() states it (set logic: duplicates don't count).
    SELECT array_agg(DISTINCT r.document_id ORDER BY r.document_id) INTO missing
    FROM public."FacilityRequirement" AS r
    WHERE r.facility_id = shift.facility_id
      AND NOT EXISTS (SELECT FROM public."DocumentWorker" AS d
                      WHERE d.worker_id = claim_shift.worker_id AND d.document_id = r.document_id);
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'worker % lacks documents facility % requires: %', claim_shift.worker_id, shift.facility_id,
            array_to_string(missing, ', ')
            USING ERRCODE = 'CP403', DETAIL = 'documents',
                  HINT = 'the worker needs a "DocumentWorker" row for each of these documents';
    END IF;
    -- The overlap rule, against the worker's claims as they are now (one probe of carepg_shift_claimed_range_idx).
    SELECT c.id INTO clash
    FROM public."Shift" AS c
    WHERE c.worker_id = claim_shift.worker_id
      AND NOT c.is_deleted
      AND tsrange(c.start, greatest(c.start, c."end")) && tsrange(shift.start, greatest(shift.start, shift."end"))
    ORDER BY c.start, c.id
    LIMIT 1;
    IF clash IS NOT NULL THEN
        RAISE EXCEPTION 'shift % overlaps shift %, which worker % holds', shift.id, clash, claim_shift.worker_id
            USING ERRCODE = 'CP409', DETAIL = 'overlap',
                  HINT = format('release that one first: SELECT shifts.release_shift(%s, %s)', claim_shift.worker_id, clash);
    END IF;

    BEGIN
        UPDATE public."Shift" AS s SET worker_id = claim_shift.worker_id WHERE s.id = shift.id;
    EXCEPTION WHEN foreign_key_violation THEN
        -- The worker was deleted (no trigger orders that) between our read and the update's key check.
        RAISE EXCEPTION 'worker % does not exist', claim_shift.worker_id USING ERRCODE = 'CP404';
    END;
    RETURN ROW(shift.id, shift.facility_id, facility.name, shift.start, shift."end", shift.profession, true);
END
$function$;

COMMENT ON FUNCTION shifts.claim_shift(integer, integer) IS
$comment$Claim a shift for a worker, atomically, if and only if shifts.available_shifts() would offer it to them now; returns it (the columns of available_shifts and newly_claimed). Claiming a shift the worker already holds returns it with newly_claimed = false and changes nothing.
Errors: CP404 unknown worker or shift; CP409 taken by another worker (DETAIL taken) or overlapping a shift the worker holds (overlap); CP403 the worker may not take it (DETAIL shift_deleted, worker_inactive, facility_inactive, profession, documents).
Locks, in order: the worker's row of shifts_private.worker_lock; the shift's facility's row of shifts_private.facility_lock, shared; the shift FOR UPDATE. It waits only for changes of that worker or that facility. Under REPEATABLE READ or SERIALIZABLE a race is a serialization failure (40001): retry.$comment$;
GRANT EXECUTE ON FUNCTION shifts.claim_shift(integer, integer) TO carepg_api;

COMMENT ON SCHEMA shifts_private IS
    'carepg: private objects of open shifts (eligibility view, change log, locks, maintenance); call the functions in schema shifts instead.';
COMMENT ON SCHEMA shifts IS
    'carepg: open shifts. API: available_shifts(), available_shifts_json(), count_available_shifts(), available_shifts_by_day(), claim_shift(), release_shift(), claimed_shifts(), refresh_eligibility(), eligibility_status(), schedule_refresh(), unschedule_refresh(), eligible_facility_ids(), docs_ok().';

RESET ROLE;
