-- purpose: `carepg refresh --schedule CRON`: a pg_cron job that refreshes the eligibility view, where the
-- server has pg_cron. Refreshing is only housekeeping now (answers are exact without it: see 0005); the job
-- keeps the patch table small.
--
-- pg_cron needs shared_preload_libraries = 'pg_cron' and runs jobs in the database named by
-- cron.database_name; the function says which of those is missing instead of failing obscurely.
--   CP501  pg_cron is not usable on this server (not installed, not preloaded, or another database)

CREATE FUNCTION shifts.schedule_refresh(schedule text)
RETURNS bigint
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
DECLARE
    job_database text := current_setting('cron.database_name', true);
BEGIN
    IF NOT EXISTS (SELECT FROM pg_available_extensions WHERE name = 'pg_cron') THEN
        RAISE EXCEPTION 'pg_cron is not installed on this server'
            USING ERRCODE = 'CP501',
                  HINT = 'install it (Debian: apt-get install postgresql-15-cron) or run `carepg refresh --every SECONDS`';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
        IF current_setting('shared_preload_libraries') NOT LIKE '%pg_cron%' THEN
            RAISE EXCEPTION 'pg_cron is installed but not loaded by this server'
                USING ERRCODE = 'CP501',
                      HINT = 'set shared_preload_libraries = ''pg_cron'' and cron.database_name, restart, or use --every';
        END IF;
        IF job_database IS DISTINCT FROM current_database() THEN
            RAISE EXCEPTION 'pg_cron runs its jobs in database %, not in %', coalesce(job_database, 'postgres'),
                current_database()
                USING ERRCODE = 'CP501', HINT = format('set cron.database_name = %L and restart', current_database());
        END IF;
        CREATE EXTENSION pg_cron;
    END IF;
    -- Scheduling under the same name replaces the previous job.
    RETURN cron.schedule('carepg-refresh-eligibility', schedule, 'SELECT shifts.refresh_eligibility()');
END
$function$;
COMMENT ON FUNCTION shifts.schedule_refresh(text) IS
$comment$Install (or replace) the pg_cron job 'carepg-refresh-eligibility' running shifts.refresh_eligibility() on a cron schedule, e.g. '*/5 * * * *'; returns the job id.
Errors: CP501 when pg_cron is not usable here (the message says why and how to fix it).$comment$;

CREATE FUNCTION shifts.unschedule_refresh()
RETURNS boolean
LANGUAGE plpgsql
VOLATILE
SET search_path = pg_catalog, pg_temp
AS $function$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
        RETURN false;
    END IF;
    IF NOT EXISTS (SELECT FROM cron.job WHERE jobname = 'carepg-refresh-eligibility') THEN
        RETURN false;
    END IF;
    RETURN cron.unschedule('carepg-refresh-eligibility');
END
$function$;
COMMENT ON FUNCTION shifts.unschedule_refresh() IS
    'Remove the pg_cron job installed by shifts.schedule_refresh(); false when there was none.';
