-- purpose: the functions behind the eligibility triggers on the application's tables (public/eligibility_triggers.sql).
--
-- SECURITY DEFINER: they run as carepg_owner, whoever writes the table, so an application role with nothing but
-- its own DML rights keeps writing as before and never needs a privilege on carepg's schemas. That is safe
-- because nothing in them is up to the caller: search_path is fixed to pg_catalog (pg_temp last, and never
-- searched for functions or operators), every other name is schema-qualified, there is no dynamic SQL, and the
-- only inputs are the statement's transition tables. Nobody may call them directly (EXECUTE is not granted,
-- and the schema is private); a trigger does not need EXECUTE to fire.

SET LOCAL ROLE carepg_owner;

-- A worker gained or lost documents: only the facilities requiring those documents can change.
CREATE OR REPLACE FUNCTION shifts_private.on_document_worker_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    changed_w integer[] := '{}';
    changed_d integer[] := '{}';
    pair_w integer[];
    pair_f integer[];
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT changed_w || array_agg(n.worker_id), changed_d || array_agg(n.document_id)
        INTO changed_w, changed_d FROM new_rows AS n;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        SELECT changed_w || array_agg(o.worker_id), changed_d || array_agg(o.document_id)
        INTO changed_w, changed_d FROM old_rows AS o;
    END IF;
    IF cardinality(changed_w) = 0 OR NOT shifts_private.begin_eligibility_write() THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(c.w), array_agg(c.f) INTO pair_w, pair_f
    FROM (SELECT DISTINCT ch.w, r.facility_id AS f
          FROM unnest(changed_w, changed_d) AS ch (w, d)
          JOIN public."FacilityRequirement" AS r ON r.document_id = ch.d) AS c;
    PERFORM shifts_private.patch_changed_pairs(pair_w, pair_f);
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_document_worker_change() IS
    'carepg internal: after DocumentWorker changes, re-check each changed worker at the facilities requiring the changed documents.';

-- A facility's requirements changed: every worker with a stake in that facility can change.
CREATE OR REPLACE FUNCTION shifts_private.on_facility_requirement_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    changed_f integer[] := '{}';
    pair_w integer[];
    pair_f integer[];
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        SELECT changed_f || array_agg(n.facility_id) INTO changed_f FROM new_rows AS n;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        SELECT changed_f || array_agg(o.facility_id) INTO changed_f FROM old_rows AS o;
    END IF;
    IF cardinality(changed_f) = 0 OR NOT shifts_private.begin_eligibility_write() THEN
        RETURN NULL;
    END IF;
    -- Active workers, plus any worker that already has a patch there (it must stay true).
    SELECT array_agg(c.w), array_agg(c.f) INTO pair_w, pair_f
    FROM (SELECT w.id AS w, f.f
          FROM (SELECT DISTINCT unnest(changed_f) AS f) AS f
          CROSS JOIN public."Worker" AS w
          WHERE w.is_active
          UNION
          SELECT p.worker_id, p.facility_id
          FROM shifts_private.eligibility_patch AS p
          WHERE p.facility_id = ANY (changed_f)) AS c;
    PERFORM shifts_private.patch_changed_pairs(pair_w, pair_f);
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_facility_requirement_change() IS
    'carepg internal: after FacilityRequirement changes, re-check the changed facilities for every active worker.';

-- A worker appeared or became active (or changed id): the view may not know it, or know it from before a
-- deactivation during which its facilities' requirements changed. A deactivation or a change of profession needs
-- no patch (readers check Worker.is_active and profession live), but it takes the serialisation point all the
-- same, so that a claim in flight (shifts.claim_shift, which shares that row) is ordered entirely before or after
-- it.
CREATE OR REPLACE FUNCTION shifts_private.on_worker_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    activated integer[];
    pair_w integer[];
    pair_f integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.id) INTO activated FROM new_rows AS n WHERE n.is_active;
    ELSE  -- UPDATE: newly active, or an active worker under a new id
        SELECT array_agg(n.id) INTO activated
        FROM new_rows AS n
        WHERE n.is_active
          AND NOT EXISTS (SELECT FROM old_rows AS o WHERE o.id = n.id AND o.is_active);
        IF activated IS NULL
           AND EXISTS (SELECT FROM old_rows AS o
                       WHERE o.is_active
                         AND NOT EXISTS (SELECT FROM new_rows AS n
                                         WHERE n.id = o.id AND n.is_active AND n.profession = o.profession)) THEN
            PERFORM shifts_private.begin_eligibility_write();  -- deactivated or changed profession
            RETURN NULL;
        END IF;
    END IF;
    IF activated IS NULL OR NOT shifts_private.begin_eligibility_write() THEN
        RETURN NULL;
    END IF;
    -- Every facility, eligible or not: a view row from before a deactivation may be out of date by now.
    SELECT array_agg(a.w), array_agg(f.id) INTO pair_w, pair_f
    FROM unnest(activated) AS a (w)
    CROSS JOIN public."Facility" AS f;
    PERFORM shifts_private.patch_pairs(pair_w, pair_f);
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_worker_change() IS
    'carepg internal: when a worker is inserted or activated, patch its eligibility at every facility; a deactivation or change of profession only takes the serialisation point.';

CREATE OR REPLACE FUNCTION shifts_private.on_facility_change()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    activated integer[];
    pair_w integer[];
    pair_f integer[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(n.id) INTO activated FROM new_rows AS n WHERE n.is_active;
    ELSE
        SELECT array_agg(n.id) INTO activated
        FROM new_rows AS n
        WHERE n.is_active
          AND NOT EXISTS (SELECT FROM old_rows AS o WHERE o.id = n.id AND o.is_active);
        IF activated IS NULL
           AND EXISTS (SELECT FROM old_rows AS o
                       WHERE o.is_active AND NOT EXISTS (SELECT FROM new_rows AS n WHERE n.id = o.id AND n.is_active)) THEN
            PERFORM shifts_private.begin_eligibility_write();  -- deactivated: order it with claims in flight
            RETURN NULL;
        END IF;
    END IF;
    IF activated IS NULL OR NOT shifts_private.begin_eligibility_write() THEN
        RETURN NULL;
    END IF;
    -- Every active worker, eligible or not (an inactive one is patched when it is activated).
    SELECT array_agg(w.id), array_agg(a.f) INTO pair_w, pair_f
    FROM unnest(activated) AS a (f)
    CROSS JOIN public."Worker" AS w
    WHERE w.is_active;
    PERFORM shifts_private.patch_pairs(pair_w, pair_f);
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_facility_change() IS
    'carepg internal: when a facility is inserted or activated, patch its eligibility for every active worker; a deactivation only takes the serialisation point.';

-- TRUNCATE has no transition tables: fall back to live answers until the next refresh.
CREATE OR REPLACE FUNCTION shifts_private.on_truncate()
RETURNS trigger
LANGUAGE plpgsql
VOLATILE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    PERFORM pg_advisory_xact_lock(1667330661, 2);  -- as begin_eligibility_write() does
    UPDATE shifts_private.eligibility_state SET stale_by = pg_current_xact_id(), writes = writes + 1;
    RETURN NULL;
END
$function$;
COMMENT ON FUNCTION shifts_private.on_truncate() IS
    'carepg internal: after TRUNCATE of an eligibility table, answer from the live tables until the next refresh.';

RESET ROLE;
