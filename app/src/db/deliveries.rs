//! `ops.webhook_deliveries`: every webhook call a project received and what it caused.
use crate::models::{DeliveryOutcome, DeliveryRow};
use sqlx::PgConnection;
use uuid::Uuid;

pub struct NewDelivery<'a> {
    pub project_id: Uuid,
    pub guid: &'a str,
    pub event: &'a str,
    pub signature_ok: bool,
    pub outcome: DeliveryOutcome,
    pub detail: &'a str,
    pub payload_bytes: i32,
}

/// Records a delivery. For a verified GUID seen before, nothing is inserted: the existing
/// row's redelivery count goes up and `None` is returned.
pub async fn record(conn: &mut PgConnection, d: &NewDelivery<'_>) -> Result<Option<i64>, sqlx::Error> {
    let id: Option<i64> = sqlx::query_scalar(
        "insert into ops.webhook_deliveries (tenant_id, project_id, delivery_guid, event, signature_ok, outcome, detail, payload_bytes)
         values (ops.current_tenant_id(), $1, left($2, 100), left($3, 100), $4, $5, left($6, 1000), $7)
         on conflict (project_id, delivery_guid) where signature_ok and delivery_guid <> '' do nothing
         returning id",
    )
    .bind(d.project_id)
    .bind(d.guid)
    .bind(d.event)
    .bind(d.signature_ok)
    .bind(d.outcome)
    .bind(d.detail)
    .bind(d.payload_bytes)
    .fetch_optional(&mut *conn)
    .await?;
    if id.is_none() {
        sqlx::query(
            "update ops.webhook_deliveries set redeliveries = redeliveries + 1
              where project_id = $1 and delivery_guid = $2 and signature_ok",
        )
        .bind(d.project_id)
        .bind(d.guid)
        .execute(&mut *conn)
        .await?;
    }
    Ok(id)
}

/// Sets what a recorded delivery caused.
pub async fn resolve(conn: &mut PgConnection, id: i64, outcome: DeliveryOutcome, detail: &str, build_id: Option<Uuid>) -> Result<(), sqlx::Error> {
    sqlx::query("update ops.webhook_deliveries set outcome = $2, detail = left($3, 1000), build_id = $4 where id = $1")
        .bind(id)
        .bind(outcome)
        .bind(detail)
        .bind(build_id)
        .execute(conn)
        .await?;
    Ok(())
}

pub async fn list(conn: &mut PgConnection, project_id: Uuid, limit: i64) -> Result<Vec<DeliveryRow>, sqlx::Error> {
    sqlx::query_as::<_, DeliveryRow>(
        "select d.id, d.delivery_guid, d.event, d.signature_ok, d.outcome, d.detail, d.build_id, b.number as build_number,
                d.payload_bytes, d.redeliveries, d.created_at
           from ops.webhook_deliveries d left join ops.builds b on b.id = d.build_id
          where d.project_id = $1
          order by d.id desc limit $2",
    )
    .bind(project_id)
    .bind(limit)
    .fetch_all(conn)
    .await
}
