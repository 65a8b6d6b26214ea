//! Gate 1: PostgreSQL extensions. Every extension the environment database has, and every
//! `CREATE EXTENSION` in the build's SQL and Python/XML code, must be on the allowed list.
use super::envdb::EnvDb;
use super::workspace::{blank_comments, comment_style, is_sql_or_code};
use super::{plural, Ctx, Source, Tally, Words};
use app::models::{Evidence, GateId, GateResult, GateSettings, GateStatus};
use regex::Regex;
use std::sync::LazyLock;

/// `CREATE EXTENSION [IF NOT EXISTS] name`, the name bare or double-quoted (also `\"…\"`
/// inside a Python string).
static CREATE_EXTENSION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)\bcreate\s+extension\s+(?:if\s+not\s+exists\s+)?(?:\\?"([^"\\]{1,63})\\?"|([a-z_][a-z0-9_$]{0,62}))"#)
        .expect("static regex")
});

pub(super) async fn check(ctx: &mut Ctx<'_>) -> GateResult {
    let gate = GateId::Extensions;
    if matches!((&ctx.files, &ctx.db), (Source::Missing, Source::Missing)) {
        return GateResult::skipped(gate, "no workspace or environment database to check");
    }
    let settings = ctx.settings;
    let mut t = Tally::default();
    let mut not_allowed: Vec<String> = Vec::new();
    let mut flag = |name: &str, t: &mut Tally, location: String, found: String| {
        if settings.allows_extension(name) {
            t.info.push(Evidence::new(location, format!("{found} (allowed)")));
        } else {
            t.bad.push(Evidence::new(location, format!("{found} (not allowed)")));
            if !not_allowed.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                not_allowed.push(name.to_string());
            }
        }
    };

    match &mut ctx.db {
        Source::Missing => {}
        Source::Failed(e) => t.error("environment database", e.clone()),
        Source::Ready(db) => {
            let rows = EnvDb::run(
                sqlx::query_as::<_, (String, String)>("select extname::text, extversion from pg_extension order by extname").fetch_all(&mut db.conn),
            )
            .await;
            match rows {
                Ok(rows) => {
                    for (name, version) in rows {
                        flag(&name, &mut t, db.at("pg_extension"), format!("{name} {version}"));
                    }
                }
                Err(e) => t.error(db.at("pg_extension"), e),
            }
        }
    }

    t.note_files(&ctx.files);
    if let Source::Ready(ws) = &ctx.files {
        for f in ws.matching(is_sql_or_code) {
            let text = blank_comments(&f.text, comment_style(f));
            for cap in CREATE_EXTENSION.captures_iter(&text) {
                let (Some(all), Some(name)) = (cap.get(0), cap.get(1).or(cap.get(2))) else { continue };
                // Bare names fold to lower case in SQL; quoted ones keep theirs.
                let name = if cap.get(1).is_some() { name.as_str().to_string() } else { name.as_str().to_ascii_lowercase() };
                flag(&name, &mut t, f.location(all.start()), format!("CREATE EXTENSION {name}"));
            }
        }
    }

    let allowed = allowed_list(settings);
    t.finish(
        gate,
        GateStatus::Fail,
        |_| Words {
            summary: format!("{} not allowed: {}", plural(not_allowed.len(), "extension is", "extensions are"), not_allowed.join(", ")),
            explanation: format!(
                "An extension adds code that runs inside the database server, so a hosted platform only offers the ones it has installed and vetted. \
                 The build needs {}, which this project does not allow: creating {} on the hosted database fails, and a database that already has {} cannot be restored there. {}",
                not_allowed.join(", "),
                if not_allowed.len() == 1 { "it" } else { "them" },
                if not_allowed.len() == 1 { "it" } else { "them" },
                not_allowed.iter().map(|n| format!("{n}: {}", why(n))).collect::<Vec<_>>().join(" "),
            ),
            fix: format!(
                "Remove the CREATE EXTENSION statements listed below and the code that needs them ({}), and drop the extension from the environment database. \
                 If the platform does offer it, an admin can add it to the allowed list in the project's gate settings. Allowed now: {allowed}.",
                not_allowed.iter().map(|n| alternative(n)).collect::<Vec<_>>().join("; "),
            ),
        },
        || Words {
            summary: "every extension in use is allowed".into(),
            explanation: format!("The environment database and the build's code only use extensions on the allowed list ({allowed})."),
            fix: String::new(),
        },
    )
}

fn allowed_list(settings: &GateSettings) -> String {
    let mut names: Vec<&str> = settings.allowed_extensions.iter().map(|s| s.as_str()).collect();
    if !names.iter().any(|n| n.eq_ignore_ascii_case("plpgsql")) {
        names.insert(0, "plpgsql");
    }
    names.join(", ")
}

/// Why an extension is a problem, in a sentence.
fn why(name: &str) -> &'static str {
    let n = name.to_ascii_lowercase();
    if n.starts_with("postgis") || n == "address_standardizer" {
        "PostGIS is large, depends on system libraries (GEOS, PROJ, GDAL) and is tied to the PostgreSQL version, so upgrades and restores on another host break."
    } else if n == "pg_cron" {
        "it runs SQL on a schedule from inside the database, outside Odoo's scheduler and its time limits."
    } else if matches!(n.as_str(), "dblink" | "postgres_fdw" | "file_fdw" | "adminpack" | "lo") || n.ends_with("_fdw") {
        "it reaches other servers or the database server's own files, which a shared host cannot allow."
    } else if n.starts_with("pl") && n.ends_with('u') {
        "it is an untrusted language: its functions run any code as the database server's operating-system user."
    } else if n == "timescaledb" || n == "citus" {
        "it changes how PostgreSQL stores data and needs its own server configuration."
    } else {
        "it is not on this project's allowed list, so the hosted database may not have it installed."
    }
}

/// What to do instead, in a few words.
fn alternative(name: &str) -> String {
    let n = name.to_ascii_lowercase();
    if n.starts_with("postgis") {
        "for PostGIS: store coordinates as two float fields as Odoo's base_geolocalize does, or keep GIS data in a separate service".into()
    } else if n == "pg_cron" {
        "for pg_cron: use an Odoo scheduled action (ir.cron)".into()
    } else if n == "dblink" || n.ends_with("_fdw") {
        format!("for {n}: fetch remote data from Odoo code over an API instead")
    } else if n.starts_with("pl") && n.ends_with('u') {
        format!("for {n}: move the function's logic into Odoo's Python code or into PL/pgSQL")
    } else {
        format!("for {n}: rewrite the queries that use it, or implement them in Python")
    }
}
