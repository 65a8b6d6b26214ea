//! `odooops audit verify`: walks the audit hash chains as the database owner and prints, per
//! chain, the rows checked, the head hash and OK or the first broken link.
use anyhow::{bail, Context, Result};
use app::db::audit_chain::{self, NO_TENANT_CHAIN};
use app::models::ChainReport;
use sqlx::PgPool;
use uuid::Uuid;

/// Verifies one tenant's chain (by slug) or, without one, every tenant's plus the chain of
/// rows without a tenant. Fails when a chain is broken, so the exit code tells.
pub async fn run(owner: &PgPool, tenant: Option<&str>) -> Result<()> {
    let chains = chains(owner, tenant).await?;
    let mut broken = Vec::new();
    for (key, label) in &chains {
        let report = verify_one(owner, *key).await.with_context(|| format!("verifying the audit chain of {label}"))?;
        println!("{}", describe(label, &report));
        if !report.is_intact() {
            broken.push(label.as_str());
        }
    }
    if !broken.is_empty() {
        bail!("the audit chain of {} is broken", broken.join(", "));
    }
    Ok(())
}

/// (chain key, label) of the chains to check, tenants by slug.
async fn chains(owner: &PgPool, tenant: Option<&str>) -> Result<Vec<(Uuid, String)>> {
    if let Some(slug) = tenant {
        let id: Option<Uuid> = sqlx::query_scalar("select id from ops.tenants where slug = $1").bind(slug).fetch_optional(owner).await?;
        let Some(id) = id else { bail!("no tenant {slug:?} (tenants are named by their slug, e.g. `acme`)") };
        return Ok(vec![(id, format!("tenant {slug}"))]);
    }
    let mut chains: Vec<(Uuid, String)> = sqlx::query_as::<_, (Uuid, String)>("select id, slug from ops.tenants order by slug")
        .fetch_all(owner)
        .await?
        .into_iter()
        .map(|(id, slug)| (id, format!("tenant {slug}")))
        .collect();
    chains.push((NO_TENANT_CHAIN, "records without a tenant".to_string()));
    Ok(chains)
}

/// One chain in one transaction: the head is read first, then the rows up to it.
pub async fn verify_one(owner: &PgPool, chain_key: Uuid) -> Result<ChainReport> {
    let mut tx = owner.begin().await?;
    let head = audit_chain::head_of(&mut tx, chain_key).await?;
    let report = audit_chain::verify(&mut tx, chain_key, head).await?;
    tx.commit().await?;
    Ok(report)
}

fn describe(label: &str, r: &ChainReport) -> String {
    let summary = format!("{label}: {} rows checked, head seq {} hash {}", r.rows_checked, r.head_seq, r.head_hash);
    match &r.first_break {
        None => format!("{summary}: OK"),
        Some(b) => {
            let row = match (b.audit_id, b.created_at, &b.action) {
                (Some(id), Some(at), Some(action)) => format!("audit id {id}, {}, {action}", at.format("%Y-%m-%d %H:%M:%S%.6f UTC")),
                _ => "row missing".to_string(),
            };
            format!("{summary}: BROKEN at seq {} ({row}): {}", b.seq, b.reason)
        }
    }
}
