//! [`Operate`] on SQLite: delivery counts per subscription, bulk replay in chunks (each chunk one write through the
//! writer, so webhooks keep committing between them), and commands listed and cancelled.

use async_trait::async_trait;
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Transaction, params, params_from_iter};
use uuid::Uuid;

use super::{SqliteStore, commands, deliveries, events, schema};
use crate::store::{
    BulkReplay, Cancelled, CommandFilter, CommandRecord, CommandStatus, NewEvent, Operate, REPLAY_CHUNK, ReplayFilter,
    StoreError, Subscriber, SubscriptionStats,
};

#[async_trait]
impl Operate for SqliteStore {
    async fn subscription_stats(&self) -> Result<Vec<SubscriptionStats>, StoreError> {
        self.read(|conn| {
            schema::check(conn)?;
            Ok(stats(conn)?)
        })
        .await
    }

    async fn replay_deliveries(
        &self,
        filter: ReplayFilter,
        subscribers: Vec<Subscriber>,
        now_ms: i64,
        dry_run: bool,
    ) -> Result<BulkReplay, StoreError> {
        let counted = (filter.clone(), subscribers.clone());
        let matched = self
            .read(move |conn| {
                schema::check(conn)?;
                let (filter, subscribers) = &counted;
                let mut matched = 0;
                for target in subscribers {
                    matched += count(conn, filter, &target.name)?;
                }
                Ok(matched)
            })
            .await?;
        let mut replay = BulkReplay { matched, queued: 0 };
        if dry_run {
            return Ok(replay);
        }
        for target in subscribers {
            let mut after = i64::MIN;
            loop {
                let (filter, target) = (filter.clone(), target.clone());
                let (queued, last) = self
                    .write(move |tx| queue_chunk(tx, &filter, &target, after, now_ms))
                    .await?;
                replay.queued += queued;
                match last {
                    Some(last) => after = last,
                    None => break,
                }
            }
        }
        Ok(replay)
    }

    async fn list_commands(&self, filter: CommandFilter) -> Result<Vec<CommandRecord>, StoreError> {
        self.read(move |conn| {
            schema::check(conn)?;
            list_commands(conn, &filter)
        })
        .await
    }

    async fn cancel_command(&self, id: Uuid, now_ms: i64, event: NewEvent) -> Result<Cancelled, StoreError> {
        self.write(move |tx| cancel(tx, id, now_ms, &event)).await?
    }
}

fn stats(conn: &Connection) -> rusqlite::Result<Vec<SubscriptionStats>> {
    let mut all: Vec<SubscriptionStats> = Vec::new();
    let mut counts =
        conn.prepare_cached("SELECT subscription, state, COUNT(*) FROM deliveries GROUP BY subscription, state")?;
    let rows = counts.query_map([], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
    })?;
    for row in rows {
        let (name, state, count) = row?;
        let count = u64::try_from(count).unwrap_or(0);
        let entry = entry(&mut all, name);
        match state.as_str() {
            "pending" => entry.pending = count,
            "delivered" => entry.delivered = count,
            "dead" => entry.dead = count,
            _ => {}
        }
    }
    let mut retrying = conn.prepare_cached(
        "SELECT subscription, COUNT(*) FROM deliveries WHERE state = 'pending' AND attempts > 0 GROUP BY subscription",
    )?;
    for row in retrying.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))? {
        let (name, count) = row?;
        entry(&mut all, name).retrying = u64::try_from(count).unwrap_or(0);
    }
    for (name, _, oldest) in super::inspect::pending(conn)? {
        entry(&mut all, name).oldest_pending_ms = Some(oldest);
    }
    Ok(all)
}

fn entry(all: &mut Vec<SubscriptionStats>, name: String) -> &mut SubscriptionStats {
    let index = match all.iter().position(|s| s.name == name) {
        Some(index) => index,
        None => {
            all.push(SubscriptionStats {
                name,
                ..SubscriptionStats::default()
            });
            all.len() - 1
        }
    };
    &mut all[index]
}

/// The `WHERE` clause selecting `subscription`'s deliveries `filter` matches, and its arguments (the state inline, a
/// fixed word, so the planner can match the dead deliveries' partial indexes by provider and type).
fn event_clause(filter: &ReplayFilter, subscription: &str) -> (String, Vec<Value>) {
    let mut args: Vec<Value> = vec![subscription.to_owned().into()];
    let mut sql = format!("d.subscription = ?1 AND d.state = '{}'", filter.state.as_str());
    for (column, value) in [("d.provider", &filter.provider), ("d.event_type", &filter.event_type)] {
        if let Some(value) = value {
            args.push(value.clone().into());
            sql.push_str(&format!(" AND {column} = ?{}", args.len()));
        }
    }
    for (op, value) in [(">=", filter.since_ms), ("<", filter.until_ms)] {
        if let Some(value) = value {
            args.push(value.into());
            sql.push_str(&format!(" AND o.received_at_ms {op} ?{}", args.len()));
        }
    }
    (sql, args)
}

fn count(conn: &Connection, filter: &ReplayFilter, subscription: &str) -> Result<u64, StoreError> {
    let (clause, args) = event_clause(filter, subscription);
    let sql = format!("SELECT COUNT(*) FROM deliveries d JOIN outbox o ON o.seq = d.event_seq WHERE {clause}");
    let count: i64 = conn
        .prepare_cached(&sql)?
        .query_row(params_from_iter(args.iter()), |r| r.get(0))?;
    Ok(u64::try_from(count).unwrap_or(0))
}

/// Queues up to [`REPLAY_CHUNK`] matching deliveries of `target` past event `after`, oldest first (so an ordered
/// subject's replayed events wait behind each other in order); answers how many, and the last event's seq (`None`
/// when nothing was left).
fn queue_chunk(
    tx: &Transaction<'_>,
    filter: &ReplayFilter,
    target: &Subscriber,
    after: i64,
    now_ms: i64,
) -> rusqlite::Result<(u64, Option<i64>)> {
    let (clause, mut args) = event_clause(filter, &target.name);
    args.push(after.into());
    let sql = format!(
        "SELECT d.event_seq, d.subject FROM deliveries d JOIN outbox o ON o.seq = d.event_seq
         WHERE {clause} AND d.event_seq > ?{} ORDER BY d.event_seq LIMIT {REPLAY_CHUNK}",
        args.len()
    );
    let rows: Vec<(i64, Option<String>)> = tx
        .prepare_cached(&sql)?
        .query_map(params_from_iter(args.iter()), |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut requeue = tx.prepare_cached(
        "UPDATE deliveries SET state = 'pending', attempts = 0, next_attempt_ms = ?3, lease_owner = NULL,
             lease_until_ms = 0, last_error = NULL, ordered = ?4, updated_at_ms = ?5
         WHERE subscription = ?1 AND event_seq = ?2 AND state = ?6",
    )?;
    let mut queued = 0;
    for (seq, subject) in &rows {
        let due = deliveries::due_at(tx, &target.name, target.ordered, subject.as_deref(), *seq, now_ms)?;
        let state = filter.state.as_str();
        queued += requeue.execute(params![target.name, seq, due, target.ordered, now_ms, state])? as u64;
        deliveries::refresh_status(tx, *seq)?;
    }
    Ok((queued, rows.last().map(|(seq, _)| *seq)))
}

fn list_commands(conn: &Connection, filter: &CommandFilter) -> Result<Vec<CommandRecord>, StoreError> {
    let mut args: Vec<Value> = Vec::new();
    let mut sql = format!("SELECT {} FROM commands WHERE 1 = 1", commands::COLUMNS);
    if let Some(status) = filter.status {
        args.push(status.as_str().to_owned().into());
        sql.push_str(&format!(" AND status = ?{}", args.len()));
    }
    for (column, value) in [("provider", &filter.provider), ("caller", &filter.caller)] {
        if let Some(value) = value {
            args.push(value.clone().into());
            sql.push_str(&format!(" AND {column} = ?{}", args.len()));
        }
    }
    if let Some(before) = filter.before {
        args.push(before.into());
        sql.push_str(&format!(" AND seq < ?{}", args.len()));
    }
    sql.push_str(&format!(
        " ORDER BY seq DESC LIMIT {}",
        filter.limit.min(i64::MAX as usize)
    ));
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(args.iter()), commands::record)?;
    let mut found = Vec::new();
    for row in rows {
        found.push(row??);
    }
    Ok(found)
}

fn cancel(
    tx: &Transaction<'_>,
    id: Uuid,
    now_ms: i64,
    event: &NewEvent,
) -> rusqlite::Result<Result<Cancelled, StoreError>> {
    let current: Option<(String, i64)> = tx
        .prepare_cached("SELECT status, lease_until_ms FROM commands WHERE id = ?1")?
        .query_row(params![id.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let Some((status, lease_until_ms)) = current else {
        return Ok(Ok(Cancelled::NotFound));
    };
    match CommandStatus::parse(&status) {
        Some(CommandStatus::Pending) if lease_until_ms > now_ms => return Ok(Ok(Cancelled::Running)),
        Some(CommandStatus::Pending) => {}
        Some(other) => return Ok(Ok(Cancelled::Finished(other))),
        None => return Ok(Err(StoreError::Unavailable(format!("unreadable command row {id}")))),
    }
    tx.prepare_cached(
        "UPDATE commands SET status = 'cancelled', last_error = 'cancelled by an operator', lease_owner = NULL,
             lease_until_ms = 0, updated_at_ms = ?2
         WHERE id = ?1 AND status = 'pending'",
    )?
    .execute(params![id.to_string(), now_ms])?;
    events::ingest(tx, event)?;
    let sql = format!("SELECT {} FROM commands WHERE id = ?1", commands::COLUMNS);
    let record = tx
        .prepare_cached(&sql)?
        .query_row(params![id.to_string()], commands::record)?;
    Ok(record.map(|record| Cancelled::Done(Box::new(record))))
}
