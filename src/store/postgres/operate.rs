//! [`Operate`] on PostgreSQL: delivery counts per subscription, bulk replay in chunks (each one transaction that
//! takes the chunk's subject locks and its events' rows in order, then requeues the chunk in one statement), and
//! commands listed and cancelled.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::{PostgresStore, commands, commit, events, notify};
use crate::store::{
    BulkReplay, Cancelled, CommandFilter, CommandRecord, CommandStatus, NewEvent, Operate, REPLAY_CHUNK, ReplayFilter,
    StoreError, Subscriber, SubscriptionStats,
};

type Args = Vec<Box<dyn ToSql + Sync + Send>>;

/// How many deliveries of an ordered subscription one bulk-replay transaction queues (each subject is a lock).
const ORDERED_CHUNK: usize = 256;

/// Requeues the chunk's deliveries (`$1` subscription, `$2` the state they must still be in, `$3` event seqs, `$4`
/// ordered, `$5` now): an ordered subject's delivery waits behind an older pending one, including one earlier in
/// the same chunk; their events become pending.
const REQUEUE: &str = "
WITH ranked AS (
    SELECT event_seq, subject, row_number() OVER (PARTITION BY subject ORDER BY event_seq) AS nth
    FROM deliveries WHERE subscription = $1 AND event_seq = ANY($3) AND state = $2
), done AS (
    UPDATE deliveries d SET state = 'pending', attempts = 0, lease_owner = NULL, lease_until_ms = 0,
        last_error = NULL, ordered = $4, updated_at_ms = $5,
        next_attempt_ms = CASE WHEN $4 AND r.subject IS NOT NULL AND (r.nth > 1 OR EXISTS (
                                   SELECT 1 FROM deliveries p WHERE p.subscription = $1 AND p.subject = r.subject
                                     AND p.state = 'pending' AND p.event_seq < r.event_seq))
                               THEN 9223372036854775807 ELSE $5 END
    FROM ranked r WHERE d.subscription = $1 AND d.event_seq = r.event_seq
    RETURNING d.event_seq
), refreshed AS (
    UPDATE outbox SET status = 'pending' WHERE seq IN (SELECT event_seq FROM done)
)
SELECT count(*) FROM done";

#[async_trait]
impl Operate for PostgresStore {
    async fn subscription_stats(&self) -> Result<Vec<SubscriptionStats>, StoreError> {
        self.checked().await?;
        let conn = self.conn().await?;
        let rows = conn
            .query(
                "SELECT subscription, count(*) FILTER (WHERE state = 'pending'),
                        count(*) FILTER (WHERE state = 'pending' AND attempts > 0),
                        count(*) FILTER (WHERE state = 'dead'), count(*) FILTER (WHERE state = 'delivered')
                 FROM deliveries GROUP BY subscription ORDER BY subscription",
                &[],
            )
            .await?;
        let oldest = super::inspect::pending(&conn).await?;
        let count = |row: &tokio_postgres::Row, i| row.try_get::<_, i64>(i).map(|n| u64::try_from(n).unwrap_or(0));
        rows.iter()
            .map(|row| {
                let name: String = row.try_get(0)?;
                let oldest_pending_ms = oldest.iter().find(|(n, _, _)| *n == name).map(|(_, _, ms)| *ms);
                Ok(SubscriptionStats {
                    pending: count(row, 1)?,
                    retrying: count(row, 2)?,
                    dead: count(row, 3)?,
                    delivered: count(row, 4)?,
                    oldest_pending_ms,
                    name,
                })
            })
            .collect()
    }

    async fn replay_deliveries(
        &self,
        filter: ReplayFilter,
        subscribers: Vec<Subscriber>,
        now_ms: i64,
        dry_run: bool,
    ) -> Result<BulkReplay, StoreError> {
        self.checked().await?;
        let mut replay = BulkReplay::default();
        let conn = self.conn().await?;
        for target in &subscribers {
            let (clause, args) = clause(&filter, &target.name);
            let sql = format!("SELECT count(*) FROM deliveries d JOIN outbox o ON o.seq = d.event_seq WHERE {clause}");
            let counted: i64 = conn.query_one(&sql, &params(&args)).await?.try_get(0)?;
            replay.matched += u64::try_from(counted).unwrap_or(0);
        }
        drop(conn);
        if dry_run {
            return Ok(replay);
        }
        let now = self.clock.at(now_ms);
        for target in &subscribers {
            let mut after = i64::MIN;
            while let Some((queued, last)) = self.queue_chunk(&filter, target, after, now).await? {
                replay.queued += queued;
                after = last;
            }
        }
        Ok(replay)
    }

    async fn list_commands(&self, filter: CommandFilter) -> Result<Vec<CommandRecord>, StoreError> {
        self.checked().await?;
        let mut args: Args = Vec::new();
        let mut sql = format!("SELECT {} FROM commands WHERE true", commands::COLUMNS);
        if let Some(status) = filter.status {
            args.push(Box::new(status.as_str().to_owned()));
            sql.push_str(&format!(" AND status = ${}", args.len()));
        }
        for (column, value) in [("provider", filter.provider), ("caller", filter.caller)] {
            if let Some(value) = value {
                args.push(Box::new(value));
                sql.push_str(&format!(" AND {column} = ${}", args.len()));
            }
        }
        if let Some(before) = filter.before {
            args.push(Box::new(before));
            sql.push_str(&format!(" AND seq < ${}", args.len()));
        }
        let limit = i64::try_from(filter.limit).unwrap_or(i64::MAX);
        sql.push_str(&format!(" ORDER BY seq DESC LIMIT {limit}"));
        let conn = self.conn().await?;
        let statement = conn.prepare_cached(&sql).await?;
        let rows = conn.query(&statement, &params(&args)).await?;
        rows.iter().map(commands::record).collect()
    }

    async fn cancel_command(&self, id: Uuid, now_ms: i64, event: NewEvent) -> Result<Cancelled, StoreError> {
        self.checked().await?;
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await?;
        // The announcement is an ingest: its locks come before any row.
        let subjects = events::subject_locks(event.subject.as_deref(), &event.deliver_to);
        events::lock(&tx, true, &subjects).await?;
        let now = self.clock.at(now_ms);
        let found = tx
            .query_opt(
                "SELECT status, lease_until_ms FROM commands WHERE id = $1 FOR UPDATE",
                &[&id],
            )
            .await?;
        let Some(row) = found else {
            return Ok(Cancelled::NotFound);
        };
        let (status, lease_until_ms): (String, i64) = (row.try_get(0)?, row.try_get(1)?);
        match CommandStatus::parse(&status) {
            Some(CommandStatus::Pending) if lease_until_ms > now => return Ok(Cancelled::Running),
            Some(CommandStatus::Pending) => {}
            Some(other) => return Ok(Cancelled::Finished(other)),
            None => return Err(StoreError::Unavailable(format!("unreadable status of command {id}"))),
        }
        let sql = format!(
            "UPDATE commands SET status = 'cancelled', last_error = 'cancelled by an operator', lease_owner = NULL,
                 lease_until_ms = 0, updated_at_ms = $2 WHERE id = $1 RETURNING {}",
            commands::COLUMNS
        );
        let record = commands::record(&tx.query_one(&sql, &[&id, &now]).await?)?;
        events::ingest(&tx, &event, self.clock.at(event.received_at_ms))
            .await
            .map_err(StoreError::from)?;
        if !event.deliver_to.is_empty() {
            notify::wake(&tx, notify::OUTBOX).await?;
        }
        commit(tx).await?;
        Ok(Cancelled::Done(Box::new(record)))
    }
}

impl PostgresStore {
    /// Requeues up to [`REPLAY_CHUNK`] matching deliveries of `target` past event `after` in one transaction;
    /// `None` when nothing was left.
    async fn queue_chunk(
        &self,
        filter: &ReplayFilter,
        target: &Subscriber,
        after: i64,
        now: i64,
    ) -> Result<Option<(u64, i64)>, StoreError> {
        let (clause, mut args) = clause(filter, &target.name);
        args.push(Box::new(after));
        // An ordered subscription's chunk takes one advisory lock per subject: fewer at a time, so a replay never
        // crowds the server's lock table.
        let chunk = if target.ordered { ORDERED_CHUNK } else { REPLAY_CHUNK };
        let sql = format!(
            "SELECT d.event_seq, d.subject FROM deliveries d JOIN outbox o ON o.seq = d.event_seq
             WHERE {clause} AND d.event_seq > ${} ORDER BY d.event_seq LIMIT {chunk}",
            args.len()
        );
        let mut conn = self.conn().await?;
        let rows = conn.query(&sql, &params(&args)).await?;
        let Some(last) = rows.last().map(|r| r.try_get::<_, i64>(0)).transpose()? else {
            return Ok(None);
        };
        let mut seqs = Vec::with_capacity(rows.len());
        let mut subjects: Vec<String> = Vec::new();
        for row in &rows {
            seqs.push(row.try_get::<_, i64>(0)?);
            let subject: Option<String> = row.try_get(1)?;
            subjects.extend(events::subject_locks(subject.as_deref(), std::slice::from_ref(target)));
        }
        let tx = conn.transaction().await?;
        // The subject locks only: requeuing adds no event or delivery (no `seq` is taken), so webhooks keep
        // committing across the cluster while a large replay runs.
        events::lock(&tx, false, &subjects).await?;
        // The events' rows in `seq` order before any is written, as recording delivery outcomes takes them: two
        // writers of the same events never wait for each other.
        let rows = tx
            .prepare_cached("SELECT 1 FROM outbox WHERE seq = ANY($1) ORDER BY seq FOR UPDATE")
            .await?;
        tx.execute(&rows, &[&seqs]).await?;
        let statement = tx.prepare_cached(REQUEUE).await?;
        let state = filter.state.as_str();
        let queued: i64 = tx
            .query_one(&statement, &[&target.name, &state, &seqs, &target.ordered, &now])
            .await?
            .try_get(0)?;
        if queued > 0 {
            notify::wake(&tx, notify::OUTBOX).await?;
        }
        commit(tx).await?;
        Ok(Some((u64::try_from(queued).unwrap_or(0), last)))
    }
}

/// The `WHERE` clause and its arguments selecting `subscription`'s deliveries `filter` matches (receipt times are
/// on the receiving replica's clock, as stored).
fn clause(filter: &ReplayFilter, subscription: &str) -> (String, Args) {
    let mut args: Args = vec![Box::new(subscription.to_owned())];
    // The state inline (a fixed word), so the planner can match the dead deliveries' partial indexes.
    let mut sql = format!("d.subscription = $1 AND d.state = '{}'", filter.state.as_str());
    for (column, value) in [("d.provider", &filter.provider), ("d.event_type", &filter.event_type)] {
        if let Some(value) = value {
            args.push(Box::new(value.clone()));
            sql.push_str(&format!(" AND {column} = ${}", args.len()));
        }
    }
    for (op, value) in [(">=", filter.since_ms), ("<", filter.until_ms)] {
        if let Some(value) = value {
            args.push(Box::new(value));
            sql.push_str(&format!(" AND o.received_at_ms {op} ${}", args.len()));
        }
    }
    (sql, args)
}

fn params(args: &Args) -> Vec<&(dyn ToSql + Sync)> {
    args.iter().map(|a| a.as_ref() as &(dyn ToSql + Sync)).collect()
}
