-- purpose: who a caller acts as, and whether that lets it act for a worker: the database's half of "nobody acts
-- for someone else".
--
-- The HTTP API verifies a bearer token and then passes the identity it names to PostgreSQL in the request's own
-- transaction, as two settings (set_config(..., true), so they end with the transaction):
--   carepg.worker_id  the worker the token was issued to (its `sub`), e.g. '101'
--   carepg.role       'worker', or 'staff' (may act for any worker)
-- Every function that acts for or reads about one worker (claim_shift, release_shift, claimed_shifts and the read
-- functions) calls this first, so a mistake in the web layer's own check (a route that compares the wrong ids)
-- still cannot claim, release or read another worker's shifts: CP403 with DETAIL 'not_your_worker'.
--
-- With neither setting set (or both empty) the caller is trusted, as before: the owner, `carepg_api` from another
-- application, `carepg_reader` for reports, the CLI. That is deliberate and safe because the settings can only
-- narrow what a caller may do, never widen it: any role may set them (custom settings are not privileged), but
-- a caller that can execute these functions could act for any worker without them, so setting them gains it
-- nothing. Another application that acts on behalf of one worker can set them too, to get the same guard.
-- An identity that names no worker and is not staff (an unknown role, a worker role without a worker) acts for
-- nobody: it fails closed.

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts_private.check_acting_for(worker_id integer)
RETURNS void
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    acting_worker constant text := coalesce(current_setting('carepg.worker_id', true), '');
    acting_role constant text := coalesce(current_setting('carepg.role', true), '');
BEGIN
    IF acting_role = 'staff' OR (acting_role = '' AND acting_worker = '') THEN
        RETURN;  -- staff, or a trusted caller that set no identity
    END IF;
    IF acting_role IN ('', 'worker') AND acting_worker = check_acting_for.worker_id::text THEN
        RETURN;
    END IF;
    RAISE EXCEPTION 'the caller acts as % and may not act for worker %',
        CASE WHEN acting_worker <> '' THEN 'worker ' || acting_worker ELSE 'role ' || quote_literal(acting_role) END,
        coalesce(check_acting_for.worker_id::text, 'NULL')
        USING ERRCODE = 'CP403', DETAIL = 'not_your_worker',
              HINT = 'a worker acts only for themselves (carepg.worker_id); carepg.role = ''staff'' acts for any worker';
END
$function$;

COMMENT ON FUNCTION shifts_private.check_acting_for(integer) IS
$comment$carepg internal: raise CP403 (DETAIL not_your_worker) unless the identity the caller set for this transaction (carepg.worker_id, carepg.role) may act for this worker: the same worker, or role staff. No identity set: a trusted caller, allowed.$comment$;

-- The same for many workers at once (the feed's batch functions, which a relay calls every few milliseconds for
-- thousands of subscribers): the settings are read once, and a trusted or staff caller costs one call, not one per
-- worker. Whoever may not be acted for is refused by check_acting_for itself, so the message is the same.
CREATE OR REPLACE FUNCTION shifts_private.check_acting_for_each(worker_ids integer[])
RETURNS void
LANGUAGE plpgsql
STABLE
PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    acting_worker constant text := coalesce(current_setting('carepg.worker_id', true), '');
    acting_role constant text := coalesce(current_setting('carepg.role', true), '');
    refused integer;
BEGIN
    IF acting_role = 'staff' OR (acting_role = '' AND acting_worker = '') OR coalesce(cardinality(worker_ids), 0) = 0 THEN
        RETURN;  -- staff, a trusted caller that set no identity, or nobody to act for
    END IF;
    SELECT w INTO refused FROM unnest(worker_ids) AS w WHERE w::text IS DISTINCT FROM acting_worker LIMIT 1;
    IF NOT FOUND THEN
        refused := worker_ids[1];  -- all the caller's own: check_acting_for still refuses an identity of no worker
    END IF;
    PERFORM shifts_private.check_acting_for(refused);
END
$function$;

COMMENT ON FUNCTION shifts_private.check_acting_for_each(integer[]) IS
$comment$carepg internal: check_acting_for for every worker of the array, with the caller's identity read once.$comment$;

RESET ROLE;
