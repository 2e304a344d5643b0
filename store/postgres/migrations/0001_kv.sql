-- The shared records: named buckets of ordered byte keys (store.Shared).
-- bytea compares bytewise, so keys sort as in bbolt.
CREATE TABLE kv (
	bucket text NOT NULL,
	key bytea NOT NULL,
	value bytea NOT NULL,
	PRIMARY KEY (bucket, key)
);

-- Each bucket's sequence (Bucket.NextSequence), from 1; transactional, as
-- bbolt's is: a rolled back transaction does not use up a number.
CREATE TABLE kv_seq (
	bucket text PRIMARY KEY,
	seq bigint NOT NULL
);
