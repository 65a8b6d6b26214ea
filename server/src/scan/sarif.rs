//! SARIF 2.1.0 output, for code-scanning tools (GitHub code scanning and others): one rule
//! per lint, one result per finding with its stable key as a fingerprint, and the lints
//! that did not apply or failed as tool notifications, so nothing is silently skipped.
use super::{Outcome, Report};
use serde_json::{json, Value};

pub const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn kind(t: &str) -> &str {
    match t {
        "function" => "function",
        "extension" | "bucket" | "database" => "module",
        _ => "type",
    }
}

pub fn render(report: &Report) -> Value {
    let rules: Vec<Value> = report
        .lints
        .iter()
        .map(|l| {
            let first = report.findings.iter().find(|f| f.lint == l.id);
            let mut rule = json!({
                "id": l.name,
                "name": l.id,
                "shortDescription": {"text": l.title},
                "defaultConfiguration": {"level": l.level.sarif()},
                "properties": {"category": l.category, "source": if l.ours { "odooops" } else { "splinter" }},
            });
            if let Some(f) = first {
                rule["fullDescription"] = json!({"text": f.description.replace("\\`", "`")});
                if f.remediation.starts_with("https://") {
                    rule["helpUri"] = json!(f.remediation);
                }
            }
            rule
        })
        .collect();
    let index = |name: &str| report.lints.iter().position(|l| l.name == name);
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let t = f.metadata.get("type").and_then(|v| v.as_str()).unwrap_or("object");
            let mut r = json!({
                "ruleId": f.name,
                "level": f.level.sarif(),
                "message": {"text": f.detail_text()},
                "locations": [{"logicalLocations": [{"fullyQualifiedName": format!("{}/{}", report.database, f.object()), "name": f.object(), "kind": kind(t)}]}],
                "partialFingerprints": {"odooopsFindingKey/v1": f.cache_key},
                "properties": {"lint": f.lint, "metadata": f.metadata, "remediation": f.remediation},
            });
            if let Some(i) = index(&f.name) {
                r["ruleIndex"] = json!(i);
            }
            if let Some(fix) = &f.fix_sql {
                r["fixes"] = json!([{"description": {"text": format!("Apply this SQL (idempotent): {fix}")}, "artifactChanges": []}]);
                r["properties"]["fix_sql"] = json!(fix);
            }
            r
        })
        .collect();
    let notes: Vec<Value> = report
        .lints
        .iter()
        .filter_map(|l| match &l.outcome {
            Outcome::NotApplicable { reason } => Some(json!({"level": "note", "message": {"text": format!("{} not applicable: {reason}", l.name)}, "descriptor": {"id": l.name}})),
            Outcome::Failed { error } => Some(json!({"level": "error", "message": {"text": format!("{} failed: {error}", l.name)}, "descriptor": {"id": l.name}})),
            Outcome::Ran { .. } => None,
        })
        .collect();
    let failed = report.failed().count();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "odooops-scan",
                "fullName": "OdooOps Console database scanner",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://supabase.com/docs/guides/database/database-linter",
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": failed == 0,
                "startTimeUtc": report.scanned_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                "toolExecutionNotifications": notes,
            }],
            "properties": {"database": report.database, "serverVersion": report.server_version, "exposedSchemas": report.exposed_schemas},
            "results": results,
        }],
    })
}
