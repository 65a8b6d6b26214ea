//! The environment database as the gates use it: one read-only connection with short timeouts,
//! and errors turned into sentences (no URLs, no passwords).
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};
use std::str::FromStr;
use std::time::Duration;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Every statement the gates run is cancelled by the server after this.
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(5);
/// A client-side backstop for a server that stops answering mid-query.
const QUERY_TIMEOUT: Duration = Duration::from_secs(15);

pub struct EnvDb {
    pub conn: PgConnection,
    /// The database's name, for evidence: "database acme_staging: pg_extension".
    pub name: String,
}

impl EnvDb {
    pub async fn connect(url: &str) -> Result<EnvDb, String> {
        let opts = PgConnectOptions::from_str(url)
            .map_err(|_| "the environment database address is not a valid postgres:// URL".to_string())?;
        let name = opts.get_database().unwrap_or(opts.get_username()).to_string();
        let server = format!("{}:{}", opts.get_host(), opts.get_port());
        let opts = opts.application_name("odooops-gates").options([
            ("statement_timeout", format!("{}ms", STATEMENT_TIMEOUT.as_millis())),
            ("lock_timeout", format!("{}ms", STATEMENT_TIMEOUT.as_millis())),
            ("default_transaction_read_only", "on".to_string()),
        ]);
        match tokio::time::timeout(CONNECT_TIMEOUT, opts.connect()).await {
            Err(_) => Err(format!(
                "could not connect to the environment database {name}: {server} did not answer within {} seconds",
                CONNECT_TIMEOUT.as_secs()
            )),
            Ok(Err(e)) => Err(format!("could not connect to the environment database {name}: {}", plain_connect_error(&e, &server, &name))),
            Ok(Ok(conn)) => Ok(EnvDb { conn, name }),
        }
    }

    /// `database acme_staging: what`.
    pub fn at(&self, what: &str) -> String {
        format!("database {}: {what}", self.name)
    }

    /// Runs `fut` (a query on this connection) with the client-side backstop; errors become
    /// sentences.
    pub async fn run<T>(fut: impl std::future::Future<Output = Result<T, sqlx::Error>>) -> Result<T, String> {
        match tokio::time::timeout(QUERY_TIMEOUT, fut).await {
            Err(_) => Err(format!("the database did not answer within {} seconds", QUERY_TIMEOUT.as_secs())),
            Ok(r) => r.map_err(|e| plain_query_error(&e)),
        }
    }

    /// Whether a table or view exists (`cron.job`, `ir_mail_server`).
    pub async fn has_relation(&mut self, name: &str) -> Result<bool, String> {
        EnvDb::run(sqlx::query_scalar::<_, bool>("select to_regclass($1) is not null").bind(name).fetch_one(&mut self.conn)).await
    }

    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.conn.close()).await;
    }
}

fn plain_connect_error(e: &sqlx::Error, server: &str, name: &str) -> String {
    match e {
        sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("nothing is listening at {server} (connection refused)")
        }
        sqlx::Error::Io(io) => format!("{server} could not be reached ({io})"),
        sqlx::Error::Tls(_) => format!("the secure (TLS) connection to {server} failed"),
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("28P01") | Some("28000") => format!("the server refused the login ({})", db.message()),
            Some("3D000") => format!("there is no database called {name} on {server}"),
            _ => db.message().to_string(),
        },
        other => other.to_string(),
    }
}

pub fn plain_query_error(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            Some("57014") => format!("a query took longer than {} seconds and was stopped", STATEMENT_TIMEOUT.as_secs()),
            Some("55P03") => "a table the check needed was locked by another session".to_string(),
            Some("42501") => format!("the database refused access ({})", db.message()),
            _ => format!("the database answered with an error ({})", db.message()),
        },
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) => "the connection to the database was lost".to_string(),
        other => other.to_string(),
    }
}
