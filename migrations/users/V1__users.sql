-- Users of the shop. Timestamps are UTC `timestamp` (Spin cannot read `timestamptz`).
CREATE TABLE users (
    id            uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    username      text        NOT NULL CHECK (username ~ '^[A-Za-z0-9_]{3,32}$'),
    -- argon2id PHC string; never selected by any read path that answers a client.
    password_hash text        NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    mobile        text        NOT NULL CHECK (mobile ~ '^1[3-9][0-9]{9}$'),
    role          text        NOT NULL DEFAULT 'customer' CHECK (role IN ('customer', 'admin')),
    created_at    timestamp   NOT NULL DEFAULT (now() AT TIME ZONE 'utc')
);

-- Usernames are unique whatever their letter case; login looks users up by lower(username).
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
CREATE INDEX users_role_idx ON users (role);
