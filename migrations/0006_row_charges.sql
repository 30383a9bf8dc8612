-- Quotas now charge every kv and blob row 128 bytes beyond its own bytes,
-- and a blob its name and content type too (review finding L3). Usage is
-- counted again under the new rule.
INSERT OR IGNORE INTO app_usage (app_id) SELECT DISTINCT app_id FROM app_kv;
INSERT OR IGNORE INTO app_usage (app_id) SELECT DISTINCT app_id FROM app_blobs;
UPDATE app_usage SET
    kv_bytes = (SELECT COALESCE(SUM(length(CAST(key AS BLOB)) + length(value) + 128), 0)
                FROM app_kv WHERE app_kv.app_id = app_usage.app_id),
    blob_bytes = (SELECT COALESCE(SUM(size + length(CAST(name AS BLOB)) + length(CAST(content_type AS BLOB)) + 128), 0)
                  FROM app_blobs WHERE app_blobs.app_id = app_usage.app_id);
