-- purpose: the challenge's own schema, exactly as its Prisma migration (20230310014527_init) creates it.
--
-- Created only when absent: on a database seeded by the challenge's docker-compose the six tables already
-- exist with their data, and carepg leaves them untouched. Tables carepg creates itself carry a comment
-- starting with 'carepg:', so that uninstalling (migrating down to base) drops only what carepg made.

DO $install$
DECLARE
    challenge_tables CONSTANT text[] := ARRAY['Worker', 'Facility', 'Document', 'FacilityRequirement',
                                              'DocumentWorker', 'Shift'];
    present text[];
BEGIN
    SELECT coalesce(array_agg(t), '{}') INTO present
    FROM unnest(challenge_tables) AS t
    WHERE to_regclass(format('public.%I', t)) IS NOT NULL;

    IF cardinality(present) = cardinality(challenge_tables) THEN
        RAISE NOTICE 'challenge tables already present: leaving them and their data untouched';
        RETURN;
    ELSIF cardinality(present) > 0 THEN
        RAISE EXCEPTION 'the database holds only some of the challenge tables (%)', array_to_string(present, ', ')
            USING ERRCODE = 'CP409',
                  HINT = 'point carepg at an empty database or at a complete challenge database';
    END IF;

    IF to_regtype('public."Profession"') IS NULL THEN
        CREATE TYPE public."Profession" AS ENUM ('CNA', 'LVN', 'RN');
        COMMENT ON TYPE public."Profession" IS 'carepg: challenge enum (Prisma). A worker''s and a shift''s profession.';
    END IF;

    CREATE TABLE public."Worker" (
        "id" SERIAL NOT NULL,
        "name" TEXT NOT NULL,
        "is_active" BOOLEAN NOT NULL DEFAULT false,
        "profession" public."Profession" NOT NULL,

        CONSTRAINT "Worker_pkey" PRIMARY KEY ("id")
    );

    CREATE TABLE public."Facility" (
        "id" SERIAL NOT NULL,
        "name" TEXT NOT NULL,
        "is_active" BOOLEAN NOT NULL DEFAULT false,

        CONSTRAINT "Facility_pkey" PRIMARY KEY ("id")
    );

    CREATE TABLE public."Document" (
        "id" SERIAL NOT NULL,
        "name" TEXT NOT NULL,
        "is_active" BOOLEAN NOT NULL DEFAULT false,

        CONSTRAINT "Document_pkey" PRIMARY KEY ("id")
    );

    CREATE TABLE public."FacilityRequirement" (
        "id" SERIAL NOT NULL,
        "facility_id" INTEGER NOT NULL,
        "document_id" INTEGER NOT NULL,

        CONSTRAINT "FacilityRequirement_pkey" PRIMARY KEY ("id")
    );

    CREATE TABLE public."DocumentWorker" (
        "id" SERIAL NOT NULL,
        "worker_id" INTEGER NOT NULL,
        "document_id" INTEGER NOT NULL,

        CONSTRAINT "DocumentWorker_pkey" PRIMARY KEY ("id")
    );

    CREATE TABLE public."Shift" (
        "id" SERIAL NOT NULL,
        "start" TIMESTAMP(3) NOT NULL,
        "end" TIMESTAMP(3) NOT NULL,
        "profession" public."Profession" NOT NULL,
        "is_deleted" BOOLEAN NOT NULL DEFAULT false,
        "facility_id" INTEGER NOT NULL,
        "worker_id" INTEGER,

        CONSTRAINT "Shift_pkey" PRIMARY KEY ("id")
    );

    ALTER TABLE public."FacilityRequirement" ADD CONSTRAINT "FacilityRequirement_facility_id_fkey"
        FOREIGN KEY ("facility_id") REFERENCES public."Facility"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
    ALTER TABLE public."FacilityRequirement" ADD CONSTRAINT "FacilityRequirement_document_id_fkey"
        FOREIGN KEY ("document_id") REFERENCES public."Document"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
    ALTER TABLE public."DocumentWorker" ADD CONSTRAINT "DocumentWorker_worker_id_fkey"
        FOREIGN KEY ("worker_id") REFERENCES public."Worker"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
    ALTER TABLE public."DocumentWorker" ADD CONSTRAINT "DocumentWorker_document_id_fkey"
        FOREIGN KEY ("document_id") REFERENCES public."Document"("id") ON DELETE RESTRICT ON UPDATE CASCADE;
    ALTER TABLE public."Shift" ADD CONSTRAINT "Shift_worker_id_fkey"
        FOREIGN KEY ("worker_id") REFERENCES public."Worker"("id") ON DELETE SET NULL ON UPDATE CASCADE;
    ALTER TABLE public."Shift" ADD CONSTRAINT "Shift_facility_id_fkey"
        FOREIGN KEY ("facility_id") REFERENCES public."Facility"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

    COMMENT ON TABLE public."Worker" IS 'carepg: challenge table (Prisma). Healthcare professionals; is_active gates eligibility.';
    COMMENT ON TABLE public."Facility" IS 'carepg: challenge table (Prisma). Facilities that post shifts; is_active gates eligibility.';
    COMMENT ON TABLE public."Document" IS 'carepg: challenge table (Prisma). Document types (licences, certificates).';
    COMMENT ON TABLE public."FacilityRequirement" IS 'carepg: challenge table (Prisma). Documents a facility requires; duplicate rows occur.';
    COMMENT ON TABLE public."DocumentWorker" IS 'carepg: challenge table (Prisma). Documents a worker holds; duplicate rows occur.';
    COMMENT ON TABLE public."Shift" IS 'carepg: challenge table (Prisma). Shifts; worker_id NULL means unclaimed.';
END
$install$;
