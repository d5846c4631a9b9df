-- purpose: a pg_cron job that refreshes the eligibility view, where the server has pg_cron (the CLI's
-- `carepg refresh --schedule CRON`). Refreshing is only housekeeping (answers are exact without it); the job
-- keeps readers from rechecking old changes. Run by carepg_owner's members; the job runs as the role that scheduled it.
--
-- pg_cron needs shared_preload_libraries = 'pg_cron' and runs jobs in the database named by
-- cron.database_name; the function says which of those is missing instead of failing obscurely.
--   CP501  pg_cron is not usable on this server (not installed, not preloaded, or another database)

SET LOCAL ROLE carepg_owner;

CREATE OR REPLACE FUNCTION shifts.schedule_refresh(schedule text)
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
                  HINT = format('install it (Debian: apt-get install postgresql-%s-cron), or call shifts.refresh_eligibility() '
                               'from a scheduler of your own', current_setting('server_version_num')::integer / 10000);
    END IF;
    IF NOT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') THEN
        IF current_setting('shared_preload_libraries') NOT LIKE '%pg_cron%' THEN
            RAISE EXCEPTION 'pg_cron is installed but not loaded by this server'
                USING ERRCODE = 'CP501',
                      HINT = 'set shared_preload_libraries = ''pg_cron'' and cron.database_name and restart the server, '
                             'or call shifts.refresh_eligibility() from a scheduler of your own';
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

CREATE OR REPLACE FUNCTION shifts.unschedule_refresh()
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

RESET ROLE;
