"""Events leave the process through a transactional outbox: the camera worker writes an event, its
outbox entry and one pending delivery per matching webhook in the transaction that also holds its
audit entry. Server-sent events tail the outbox by sequence number; webhook deliveries are sent
signed, outside any transaction, and retried with backoff. Events carry no biometric data."""
