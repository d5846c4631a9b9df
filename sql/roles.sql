-- purpose: carepg's roles, and who owns what carepg installs.
--
-- Roles belong to the whole server (every database on it shares them), so each is created only when absent;
-- what a role may do in *this* database is granted by the files that define each object.
--
--   carepg_owner   NOLOGIN. Owns every carepg schema and object. Functions that run with their owner's rights
--                  (the read API for carepg_api, the eligibility triggers for the application's own writers) run
--                  as this role, which may read the challenge tables it needs and nothing else of the host's:
--                  never as the superuser or the application's owner that ran the migration. The migrating
--                  role becomes a member, so it (and only roles an administrator adds) can change carepg.
--   carepg_api     LOGIN, NOINHERIT. `carepg serve` connects as it: EXECUTE on the documented API functions,
--                  no table, view or other function.
--   carepg_reader  NOLOGIN. Read access to carepg's answers from SQL for any role it is granted to
--                  (GRANT carepg_reader TO reporting), through the same functions; no table either.
--
-- Closed by default: a function carepg_owner creates is executable by its owner only until a GRANT says
-- otherwise (the default privileges below), and nobody has USAGE on a private schema.

DO $roles$
DECLARE
    wanted CONSTANT text[][] := ARRAY[
        ['carepg_owner', 'NOLOGIN NOINHERIT'],
        ['carepg_api', 'LOGIN NOINHERIT'],
        ['carepg_reader', 'NOLOGIN NOINHERIT']];
    i integer;
BEGIN
    FOR i IN 1 .. array_length(wanted, 1) LOOP
        CONTINUE WHEN EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = wanted[i][1]);
        BEGIN
            EXECUTE format('CREATE ROLE %I %s NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS',
                           wanted[i][1], wanted[i][2]);
        EXCEPTION
            -- Another database of this server created it a moment ago.
            WHEN duplicate_object OR unique_violation THEN NULL;
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'role % does not exist and % may not create roles', wanted[i][1], current_user
                    USING ERRCODE = 'insufficient_privilege',
                          HINT = format('migrate as a role with CREATEROLE, or have an administrator run: CREATE ROLE %I %s',
                                        wanted[i][1], wanted[i][2]);
        END;
    END LOOP;
    IF NOT pg_catalog.pg_has_role(current_user, 'carepg_owner', 'USAGE') THEN
        BEGIN
            EXECUTE format('GRANT carepg_owner TO %I', current_user);
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION '% is not a member of carepg_owner and may not make itself one', current_user
                USING ERRCODE = 'insufficient_privilege',
                      HINT = format('have an administrator run: GRANT carepg_owner TO %I', current_user);
        END;
    END IF;
END
$roles$;

-- Shared objects: a role that may not comment on them (no ADMIN OPTION) keeps whatever comment it has.
DO $comments$
BEGIN
    COMMENT ON ROLE carepg_owner IS
        'carepg: owns carepg''s schemas and everything in them; SECURITY DEFINER functions run as it. Reads the challenge tables it needs, nothing else.';
    COMMENT ON ROLE carepg_api IS
        'carepg: the HTTP API''s role (`carepg serve` connects as it). It may only EXECUTE the API functions granted to it; it has no table access.';
    COMMENT ON ROLE carepg_reader IS
        'carepg: grant it to a role that should read carepg''s answers from SQL (the read functions of shifts and mrf, the view mrf.file_class); no table access.';
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'role comments left as they are: % may not comment on carepg''s roles', current_user;
END
$comments$;

ALTER DEFAULT PRIVILEGES FOR ROLE carepg_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
