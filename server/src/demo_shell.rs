//! Demo: one finished web-shell session of the demo developer on staging, with a short
//! recorded transcript, so the sessions list and the replay have something to show.
use anyhow::Result;
use app::db::shell::{append_events, ExecEvent};
use app::db::DbClaims;
use app::models::{ExecDirection, Role};
use sqlx::PgPool;
use uuid::Uuid;

/// (seconds from the start, direction, bytes) of the recorded session.
fn transcript() -> Vec<(f64, ExecDirection, String)> {
    let prompt = "developer@staging:/srv/acme-erp$ ";
    let mut v = vec![(0.05, ExecDirection::Resize, "120x32".to_string()), (0.1, ExecDirection::Output, prompt.to_string())];
    let mut t = 1.0;
    for (cmd, out) in [
        ("ls", "addons  odoo.conf  requirements.txt  odoo.log\r\n"),
        ("grep -c ERROR odoo.log", "3\r\n"),
        ("tail -n 2 odoo.log", "2026-12-02 09:14:03 ERROR acme_erp odoo.addons.mail: Mail delivery failed via SMTP server 'catcher'\r\n2026-12-02 09:14:05 INFO acme_erp odoo.addons.base: retrying in 60 s\r\n"),
    ] {
        for c in cmd.chars() {
            v.push((t, ExecDirection::Input, c.to_string()));
            v.push((t + 0.004, ExecDirection::Output, c.to_string()));
            t += 0.12;
        }
        v.push((t, ExecDirection::Input, "\r".into()));
        v.push((t + 0.01, ExecDirection::Output, format!("\r\n{out}{prompt}")));
        t += 1.5;
    }
    v.push((t, ExecDirection::Input, "exit\r".into()));
    v
}

pub async fn seed(owner: &PgPool, tenant_id: Uuid, project_id: Uuid, developer_email: &str) -> Result<()> {
    let user: Option<Uuid> = sqlx::query_scalar("select id from ops.users where email = $1").bind(developer_email).fetch_optional(owner).await?;
    let env: Option<(Uuid, String)> = sqlx::query_as("select id, name from ops.environments where project_id = $1 and stage = 'staging'").bind(project_id).fetch_optional(owner).await?;
    let (Some(user), Some((env, env_name))) = (user, env) else { return Ok(()) };
    let mut tx = owner.begin().await?;
    app::db::set_claims(&mut tx, &DbClaims { sub: user, tenant_id, role: Role::Developer }).await?;
    let events: Vec<ExecEvent> = transcript()
        .into_iter()
        .enumerate()
        .map(|(i, (t, direction, data))| ExecEvent { seq: i as i64, direction, offset_us: (t * 1e6) as i64, data: data.into_bytes() })
        .collect();
    let secs = events.last().map(|e| e.offset_us / 1_000_000 + 1).unwrap_or(1);
    let id: Uuid = sqlx::query_scalar(
        "insert into ops.exec_sessions (tenant_id, project_id, environment_id, environment_name, stage, user_id, user_email,
                                        ttl_seconds, idle_seconds, expires_at, created_at, started_at, ended_at, state, end_reason,
                                        exit_code, os_user, workdir, cols, rows)
         values ($1, $2, $3, $4, 'staging', $5, $6, 900, 600, now() - interval '1 hour' + interval '15 minutes',
                 now() - interval '1 hour', now() - interval '1 hour', now() - interval '1 hour' + make_interval(secs => $7),
                 'closed', 'exited', 0, 'nobody', '/srv/acme-erp', 120, 32)
         returning id",
    )
    .bind(tenant_id)
    .bind(project_id)
    .bind(env)
    .bind(&env_name)
    .bind(user)
    .bind(developer_email)
    .bind(secs as f64)
    .fetch_one(&mut *tx)
    .await?;
    append_events(&mut tx, id, &events).await?;
    tx.commit().await?;
    Ok(())
}
