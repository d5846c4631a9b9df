-- purpose: reference data the classification reads: US state codes and BCBSA plan codes -> state.
--
-- Plan codes come from public EIN-lookup documents, whose display names swap the plan code for the state
-- (2023-04_NY_71B0_... for 301_71B0_...), and from public notes on the Anthem index. The list covers the codes
-- seen in Anthem's index; a code missing here leaves its files without a state (never a wrong one).

SET LOCAL ROLE carepg_owner;

CREATE TABLE mrf.us_state (
    code text PRIMARY KEY CHECK (code ~ '^[A-Z]{2}$'),
    name text NOT NULL
);
COMMENT ON TABLE mrf.us_state IS
    'carepg: two-letter state codes that may open an Anthem file name (NY_...) or an EIN-lookup display name.';

CREATE TABLE mrf.bcbs_plan_code (
    code text PRIMARY KEY CHECK (code ~ '^[0-9]{3}$'),
    state text NOT NULL REFERENCES mrf.us_state (code),
    plan_name text NOT NULL,
    evidence text NOT NULL
);
COMMENT ON TABLE mrf.bcbs_plan_code IS
    'carepg: BCBSA 3-digit plan code (the NNN in YYYY-MM_NNN_..._in-network-rates files on *.mrf.bcbs.com) -> state.';
COMMENT ON COLUMN mrf.bcbs_plan_code.evidence IS 'Where the mapping comes from (EIN-lookup display names, public notes).';
GRANT SELECT ON mrf.us_state, mrf.bcbs_plan_code TO carepg_reader;

INSERT INTO mrf.us_state (code, name) VALUES
    ('AL', 'Alabama'),
    ('AK', 'Alaska'),
    ('AZ', 'Arizona'),
    ('AR', 'Arkansas'),
    ('CA', 'California'),
    ('CO', 'Colorado'),
    ('CT', 'Connecticut'),
    ('DE', 'Delaware'),
    ('DC', 'District of Columbia'),
    ('FL', 'Florida'),
    ('GA', 'Georgia'),
    ('HI', 'Hawaii'),
    ('ID', 'Idaho'),
    ('IL', 'Illinois'),
    ('IN', 'Indiana'),
    ('IA', 'Iowa'),
    ('KS', 'Kansas'),
    ('KY', 'Kentucky'),
    ('LA', 'Louisiana'),
    ('ME', 'Maine'),
    ('MD', 'Maryland'),
    ('MA', 'Massachusetts'),
    ('MI', 'Michigan'),
    ('MN', 'Minnesota'),
    ('MS', 'Mississippi'),
    ('MO', 'Missouri'),
    ('MT', 'Montana'),
    ('NE', 'Nebraska'),
    ('NV', 'Nevada'),
    ('NH', 'New Hampshire'),
    ('NJ', 'New Jersey'),
    ('NM', 'New Mexico'),
    ('NY', 'New York'),
    ('NC', 'North Carolina'),
    ('ND', 'North Dakota'),
    ('OH', 'Ohio'),
    ('OK', 'Oklahoma'),
    ('OR', 'Oregon'),
    ('PA', 'Pennsylvania'),
    ('PR', 'Puerto Rico'),
    ('RI', 'Rhode Island'),
    ('SC', 'South Carolina'),
    ('SD', 'South Dakota'),
    ('TN', 'Tennessee'),
    ('TX', 'Texas'),
    ('UT', 'Utah'),
    ('VT', 'Vermont'),
    ('VA', 'Virginia'),
    ('WA', 'Washington'),
    ('WV', 'West Virginia'),
    ('WI', 'Wisconsin'),
    ('WY', 'Wyoming');

INSERT INTO mrf.bcbs_plan_code (code, state, plan_name, evidence) VALUES
    ('020', 'AR', 'Arkansas BCBS', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('040', 'CA', 'Anthem Blue Cross (California)', 'Anthem hub file described as Anthem''s own; state of the Anthem plan'),
    ('051', 'CO', 'Anthem BCBS Colorado', 'Anthem hub file described as Anthem''s own; state of the Anthem plan'),
    ('070', 'DE', 'Highmark BCBS Delaware', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('102', 'GA', 'Anthem BCBS Georgia', 'Anthem hub file described as Anthem''s own; state of the Anthem plan'),
    ('110', 'ID', 'Blue Cross of Idaho', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('121', 'IL', 'BCBS Illinois', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('131', 'IN', 'Anthem BCBS Indiana', 'Anthem hub file described as Anthem''s own; state of the Anthem plan'),
    ('140', 'IA', 'Wellmark BCBS Iowa', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('150', 'KS', 'BCBS Kansas', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('170', 'LA', 'BCBS Louisiana', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('230', 'MS', 'BCBS Mississippi', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('240', 'KS', 'Blue KC (Kansas City)', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('250', 'MT', 'BCBS Montana', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('254', 'NY', 'Empire BlueCross BlueShield (Anthem, New York)', 'public notes on the Anthem index'),
    ('260', 'NE', 'BCBS Nebraska', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('271', 'NH', 'Anthem BCBS New Hampshire', 'Anthem hub file described as Anthem''s own; state of the Anthem plan'),
    ('280', 'NJ', 'Horizon BCBS New Jersey', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('290', 'NM', 'BCBS New Mexico', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('301', 'NY', 'Highmark BCBS Western New York', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('302', 'NY', 'Excellus BCBS', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('310', 'NC', 'BCBS North Carolina', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('320', 'ND', 'BCBS North Dakota', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('340', 'OK', 'BCBS Oklahoma', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('361', 'PA', 'Capital Blue Cross', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('362', 'PA', 'Highmark BCBS (Pennsylvania)', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('370', 'RI', 'BCBS Rhode Island', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('380', 'SC', 'BCBS South Carolina', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('400', 'TX', 'BCBS Texas', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('410', 'UT', 'Regence BCBS Utah', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('415', 'VT', 'BCBS Vermont', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('425', 'VA', 'Anthem BCBS Virginia', 'Anthem hub file described as Anthem''s own; state of the Anthem plan'),
    ('430', 'WA', 'Premera Blue Cross (Washington, Alaska)', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('443', 'WV', 'Highmark BCBS West Virginia', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('460', 'WY', 'BCBS Wyoming', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('471', 'HI', 'HMSA (Hawaii)', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('510', 'AL', 'BCBS Alabama', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('590', 'FL', 'Florida Blue', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('611', 'ID', 'Regence BlueShield of Idaho', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('690', 'MD', 'CareFirst BCBS', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('700', 'MA', 'BCBS Massachusetts', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('720', 'MN', 'BCBS Minnesota', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('800', 'NY', 'Highmark Blue Shield of Northeastern New York', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04'),
    ('890', 'TN', 'BCBS Tennessee', 'EIN-lookup display names (YYYY-MM_ST_ form), 2023-04');

RESET ROLE;
