-- Migration 0010: new events and outbox records are announced after their commit, not from
-- inside the writing transaction.
--
-- A NOTIFY queued by a transaction makes its commit take a database-wide lock until the commit
-- record is flushed, so notifying transactions commit one at a time and cannot share a WAL
-- flush: every message send notified twice (a new event, a new outbox record) and sends
-- queued behind each other's commits. The server process that wrote now sends those NOTIFYs
-- itself once the write has committed, several writes to one NOTIFY (`http::changes`); the
-- listeners are unchanged. A row written by hand, outside the server, is numbered for the live
-- stream by the next sequencer run (every process sweeps every 30 seconds).
--
-- The NOTIFYs of webhook deliveries and attempts stay in their triggers: those rows are written
-- by guest messages and the webhook worker, not by sends, and the worker must hear of every
-- delivery whoever wrote it.
drop trigger events_notify on events;
drop function events_notify();
drop trigger ota_outbox_console_notify on ota_outbox;
