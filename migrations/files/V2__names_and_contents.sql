-- What the file-upload component needs beyond V1: the bytes stored once per distinct content
-- (sha256), and one row per stored name carrying its owner and the name the client gave.
--
--   file_contents  one row per sha256: the bytes. Written by the first upload of that
--                  content; deleted with the last name that refers to it.
--   files          one row per upload (V1's table): id, the public name `<id>.<ext>`, owner,
--                  original name (display only), content type, size, sha256 → file_contents.

CREATE TABLE file_contents (
    sha256     text      PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size       bigint    NOT NULL CHECK (size >= 0),
    -- octet_length of a stored value reads its header only: the check costs no detoasting.
    content    bytea     NOT NULL CHECK (octet_length(content) = size),
    created_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);
-- Out of line and uncompressed: most uploads (images, archives) are compressed already, and
-- a range read (`substring(content FROM … FOR …)`) then fetches only the chunks it needs.
ALTER TABLE file_contents ALTER COLUMN content SET STORAGE EXTERNAL;

-- V1 held the bytes in `files` itself. No component wrote it before this migration; should a
-- row exist, its content moves to file_contents and it belongs to the nil uuid, a user that
-- does not exist (only an admin can delete it).
INSERT INTO file_contents (sha256, size, content)
    SELECT DISTINCT ON (sha256) sha256, octet_length(content), content FROM files ORDER BY sha256, created_at;

ALTER TABLE files ADD COLUMN id uuid;
ALTER TABLE files ADD COLUMN owner_id uuid;
ALTER TABLE files ADD COLUMN original_name text;
UPDATE files SET id = CAST(left(name, 36) AS uuid),
                 owner_id = '00000000-0000-0000-0000-000000000000',
                 original_name = name;
ALTER TABLE files DROP COLUMN content;
ALTER TABLE files ALTER COLUMN id SET NOT NULL;
ALTER TABLE files ALTER COLUMN owner_id SET NOT NULL;
ALTER TABLE files ALTER COLUMN original_name SET NOT NULL;
ALTER TABLE files ADD CONSTRAINT files_id_key UNIQUE (id);
-- The public name is the id plus an optional extension: one id, one name.
ALTER TABLE files ADD CONSTRAINT files_name_is_id_check CHECK (left(name, 36) = CAST(id AS text));
-- For display only, as the component cleaned it: no control characters, at most 255 characters.
ALTER TABLE files ADD CONSTRAINT files_original_name_check
    CHECK (char_length(original_name) <= 255 AND original_name !~ '[[:cntrl:]]');
-- Every name refers to stored bytes. The key also protects a concurrent upload of the same
-- content: deleting bytes that a name (committed, or being inserted) still refers to fails,
-- and the deleting side keeps them. files_sha256_idx (V1) serves the key's checks.
ALTER TABLE files ADD CONSTRAINT files_sha256_fkey FOREIGN KEY (sha256) REFERENCES file_contents (sha256);
