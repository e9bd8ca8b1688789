-- Uploaded files, stored durably in the database with their metadata.
CREATE TABLE files (
    name         text      PRIMARY KEY CHECK (name ~ '^[0-9a-f-]{36}(\.[a-z0-9]{1,10})?$'),
    content_type text      NOT NULL,
    size         bigint    NOT NULL CHECK (size >= 0),
    sha256       text      NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content      bytea     NOT NULL,
    created_at   timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
CREATE INDEX files_sha256_idx ON files (sha256);
