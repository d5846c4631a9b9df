-- purpose: every query the Python shell runs against the open-shifts API, by name (`-- name: NAME`).
-- Parameters are bound by psycopg (never pasted into the text); casts make the function signature explicit.
--
-- The queries of one worker's data carry the acting identity in the same statement: the `acting` subquery sets
-- carepg.worker_id and carepg.role for this transaction only (set_config(..., true); '' for none: a trusted caller
-- such as the CLI) and passes the worker id on, so the function runs after the settings are made (a subquery with
-- volatile outputs is neither flattened nor trimmed) and they end with the statement's transaction, whatever
-- the pooled connection runs next. sql/shifts_private/acting_identity.sql says what the functions do with them.

-- name: available_shifts
-- One page of a worker's available shifts.
SELECT a.shift_id, a.facility_id, a.facility_name, a.start, a."end", a.profession::text AS profession
FROM (SELECT %(worker_id)s::integer AS worker_id,
             set_config('carepg.worker_id', %(acting_worker)s, true) AS acting_worker,
             set_config('carepg.role', %(acting_role)s, true) AS acting_role) AS acting,
LATERAL shifts.available_shifts(
    worker_id => acting.worker_id,
    start_from => %(start_from)s::timestamp,
    start_to => %(start_to)s::timestamp,
    after_start => %(after_start)s::timestamp,
    after_id => %(after_id)s::integer,
    max_rows => %(max_rows)s::integer) AS a

-- name: available_shifts_json
-- The same page as the HTTP API's JSON body, as UTF-8 bytes (bytea) for the web app to pass through undecoded.
-- Positional parameters, in the order they appear (the hot path of the HTTP API: psycopg maps no names per call):
-- start_from, start_to, after_start, after_id, max_rows, then worker_id and the acting identity.
SELECT convert_to(shifts.available_shifts_json(
    worker_id => acting.worker_id,
    start_from => %s::timestamp,
    start_to => %s::timestamp,
    after_start => %s::timestamp,
    after_id => %s::integer,
    max_rows => %s::integer), 'UTF8') AS body
FROM (SELECT %s::integer AS worker_id,
             set_config('carepg.worker_id', %s, true) AS acting_worker,
             set_config('carepg.role', %s, true) AS acting_role) AS acting

-- name: count_available_shifts
-- How many shifts the worker could take in the window.
SELECT shifts.count_available_shifts(
    worker_id => acting.worker_id,
    start_from => %(start_from)s::timestamp,
    start_to => %(start_to)s::timestamp)
FROM (SELECT %(worker_id)s::integer AS worker_id,
             set_config('carepg.worker_id', %(acting_worker)s, true) AS acting_worker,
             set_config('carepg.role', %(acting_role)s, true) AS acting_role) AS acting

-- name: available_shifts_by_day
-- Each day's count of available shifts and its first few, for a calendar window.
SELECT d.day, d.day_total, d.shift_id, d.facility_id, d.facility_name, d.start, d."end",
       d.profession::text AS profession
FROM (SELECT %(worker_id)s::integer AS worker_id,
             set_config('carepg.worker_id', %(acting_worker)s, true) AS acting_worker,
             set_config('carepg.role', %(acting_role)s, true) AS acting_role) AS acting,
LATERAL shifts.available_shifts_by_day(
    worker_id => acting.worker_id,
    start_from => %(start_from)s::timestamp,
    start_to => %(start_to)s::timestamp,
    per_day => %(per_day)s::integer) AS d

-- name: claim_shift
-- Claim a shift for a worker (newly_claimed is false when the worker already held it).
SELECT c.shift_id, c.facility_id, c.facility_name, c.start, c."end", c.profession::text AS profession,
       c.newly_claimed
FROM (SELECT %(worker_id)s::integer AS worker_id,
             set_config('carepg.worker_id', %(acting_worker)s, true) AS acting_worker,
             set_config('carepg.role', %(acting_role)s, true) AS acting_role) AS acting,
LATERAL shifts.claim_shift(worker_id => acting.worker_id, shift_id => %(shift_id)s::integer) AS c

-- name: release_shift
-- Give a held shift back.
SELECT shifts.release_shift(worker_id => acting.worker_id, shift_id => %(shift_id)s::integer)
FROM (SELECT %(worker_id)s::integer AS worker_id,
             set_config('carepg.worker_id', %(acting_worker)s, true) AS acting_worker,
             set_config('carepg.role', %(acting_role)s, true) AS acting_role) AS acting

-- name: claimed_shifts
-- One page of the shifts a worker holds.
SELECT c.shift_id, c.facility_id, c.facility_name, c.start, c."end", c.profession::text AS profession
FROM (SELECT %(worker_id)s::integer AS worker_id,
             set_config('carepg.worker_id', %(acting_worker)s, true) AS acting_worker,
             set_config('carepg.role', %(acting_role)s, true) AS acting_role) AS acting,
LATERAL shifts.claimed_shifts(
    worker_id => acting.worker_id,
    start_from => %(start_from)s::timestamp,
    start_to => %(start_to)s::timestamp,
    after_start => %(after_start)s::timestamp,
    after_id => %(after_id)s::integer,
    max_rows => %(max_rows)s::integer) AS c

-- name: refresh_eligibility
-- Recompute the eligible-pairs view.
SELECT shifts.refresh_eligibility(concurrent => %(concurrent)s::boolean)

-- name: schedule_refresh
-- Install (or replace) the pg_cron job that refreshes the view.
SELECT shifts.schedule_refresh(schedule => %(schedule)s::text)

-- name: unschedule_refresh
-- Remove that job.
SELECT shifts.unschedule_refresh()

-- name: deterministic_workers
-- The challenge seed's three all-document workers, by the names its seed gives them.
SELECT id, profession::text AS profession, name
FROM public."Worker"
WHERE name LIKE 'Deterministic%%'
ORDER BY id

-- name: challenge_row_counts
-- Row counts of the challenge tables (is the database empty?).
SELECT (SELECT count(*) FROM public."Worker") AS workers,
       (SELECT count(*) FROM public."Facility") AS facilities,
       (SELECT count(*) FROM public."Document") AS documents,
       (SELECT count(*) FROM public."FacilityRequirement") AS requirements,
       (SELECT count(*) FROM public."DocumentWorker") AS document_workers,
       (SELECT count(*) FROM public."Shift") AS shifts

-- name: healthz
-- The web app's health check: the server answers and this role may call the function the API calls (42883 when
-- not migrated).
SELECT has_function_privilege(
    'shifts.available_shifts_json(integer, timestamp, timestamp, timestamp, integer, integer)', 'EXECUTE')
    AS can_execute

-- name: shift_changes
-- What changed for one worker and window since a cursor (NULL: only the current cursor); the last row is the cursor.
SELECT change, shift_id, facility_id, facility_name, start, "end", profession::text AS profession, cursor
FROM shifts.available_shift_changes(
    worker_id => %(worker_id)s::integer,
    after => %(after)s::text,
    start_from => %(start_from)s::timestamp,
    start_to => %(start_to)s::timestamp)

-- name: shift_changes_for
-- The same for many subscribers at once (parallel arrays); rows name the subscriber (1-based), the last the cursor.
SELECT subscriber, change, shift_id, facility_id, facility_name, start, "end", profession::text AS profession, cursor
FROM shifts.available_shift_changes_for(
    worker_ids => %(worker_ids)s::integer[],
    start_froms => %(start_froms)s::timestamp[],
    start_tos => %(start_tos)s::timestamp[],
    after => %(after)s::text)

-- name: shift_changes_since
-- Anything logged since the cursor? (One index probe; what a poller asks first.)
SELECT shifts.shift_changes_since(after => %(after)s::text)

-- name: await_concerning_changes
-- NULL as soon as something logged since the cursor may concern one of these workers (read the feed then); else,
-- after `timeout` seconds of asking every `poll` seconds inside the database, the cursor past what was logged.
SELECT shifts.await_concerning_changes(after => %(after)s::text, worker_ids => %(worker_ids)s::integer[],
    poll => make_interval(secs => %(poll)s::float8), timeout => make_interval(secs => %(timeout)s::float8))

-- name: notify_shift_changes
-- Wake other listeners of the feed (carepg serve's relay does, when it finds changes).
SELECT pg_notify('carepg_shift_changes', %(cursor)s::text)
