-- purpose: undo 0011 (a pg_cron job already installed stays; `carepg refresh --unschedule` removes it).
DROP FUNCTION shifts.unschedule_refresh();
DROP FUNCTION shifts.schedule_refresh(text);
