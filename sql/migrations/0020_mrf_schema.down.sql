-- purpose: undo 0020 (the whole price-transparency schema, data included).
DROP SCHEMA mrf CASCADE;
