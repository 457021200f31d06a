-- 006_chat: what chat.persist stores (issue 19). The webapp (the gateway)
-- publishes each message as a chat.persist task on the chat queue; a worker
-- inserts it here through its task context, so it commits with the task's
-- result, and once: the message id is the key (a redelivery inserts
-- nothing).
CREATE TABLE chat_messages (
    id           uuid PRIMARY KEY,          -- given by the webapp when it accepted the message
    -- The persisted order, stable across reloads. Inserts take one advisory
    -- transaction lock, so seq order is commit order: a reader that has
    -- seen seq N never sees an N - 1 commit later (the live stream and its
    -- Last-Event-ID replay rely on that).
    seq          bigserial NOT NULL UNIQUE,
    room         text NOT NULL,
    author       text NOT NULL,
    body         text NOT NULL,
    sent_at      timestamptz NOT NULL,      -- when the webapp accepted it
    persisted_at timestamptz NOT NULL DEFAULT now(),
    task_id      uuid                       -- the chat.persist that stored it (no FK: the
                                            -- message outlives the task's retention)
);
CREATE INDEX chat_messages_room_seq_idx ON chat_messages (room, seq);
