-- 0010_webhook_sink_cursor: the outbound webhook fan-out is one outbox sink
-- among peers (DESIGN.md §2 step 5): its cursor moves from delivery_cursor
-- (0004) into sink_cursors (0006) under the name 'webhook', where it keeps
-- its position.

INSERT INTO sink_cursors (name, event_id)
    SELECT 'webhook', event_id FROM delivery_cursor WHERE id = 1
    ON CONFLICT (name) DO UPDATE SET event_id = max(event_id, excluded.event_id);

DROP TABLE delivery_cursor;
