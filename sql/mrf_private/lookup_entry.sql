-- purpose: entries of Anthem EIN-lookup documents (`carepg mrf lookup`), joined to files by file_key.

SET LOCAL ROLE carepg_owner;

CREATE TABLE mrf_private.lookup_entry (
    file_key text NOT NULL,
    display_name text NOT NULL,
    category text NOT NULL,
    url text NOT NULL,
    source text NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (file_key, display_name, category)
);
COMMENT ON TABLE mrf_private.lookup_entry IS
    'carepg: entries of Anthem EIN-lookup documents ({url, displayname} under category keys), joined to files by file_key; they add plan types (NY_PPO_...) and states.';

RESET ROLE;
