def test_migrated_template_has_the_function(postgresql):
    row = postgresql.execute("SELECT to_regprocedure('shifts.available_shifts(integer,timestamp,timestamp,timestamp,integer,integer)') IS NOT NULL").fetchone()
    assert row[0] is True
