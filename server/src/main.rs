#![forbid(unsafe_code)]

use anyhow::Result;
use clap::Parser;
use odooops::config::{AuditCommand, Cli, Command, ProjectCommand, ServeArgs, UserCommand};
use odooops::{admin, audit_verify, db, demo, startup, telemetry};

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(e) = telemetry::init_logging(cli.config.log_format != "text", &cli.config.log_filter) {
        eprintln!("odooops: logging: {e:#}");
    }
    if let Err(e) = run(cli).await {
        tracing::error!(error = %format!("{e:#}"), "odooops stopped on an error");
        eprintln!("odooops: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> Result<()> {
    let cfg = cli.config;
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(&cfg, args).await,
        Command::Migrate => {
            let database = db::Database::open(&cfg).await?;
            println!("migrations applied");
            database.close().await
        }
        Command::User(cmd) => {
            let database = db::Database::open(&cfg).await?;
            let result = match cmd {
                UserCommand::Create { email, name, role, tenant, password_env } => {
                    admin::create_user(&database.owner, &tenant, &email, &name, &role, password_env.as_deref()).await
                }
                UserCommand::SetPassword { email, password_env } => admin::set_password(&database.owner, &email, password_env.as_deref()).await,
            };
            database.close().await?;
            result
        }
        Command::Project(ProjectCommand::Create { tenant, slug, name, repo }) => {
            let database = db::Database::open(&cfg).await?;
            let result = admin::create_project(&database.owner, &tenant, &slug, &name, &repo).await;
            database.close().await?;
            result
        }
        // Scanning needs no console database, and its exit code is the verdict.
        Command::Scan(args) => std::process::exit(odooops::scan::cli::run(args).await),
        Command::Audit(AuditCommand::Verify { tenant }) => {
            let database = db::Database::open(&cfg).await?;
            let result = audit_verify::run(&database.owner, tenant.as_deref()).await;
            database.close().await?;
            result
        }
    }
}

async fn serve(cfg: &odooops::config::Config, args: ServeArgs) -> Result<()> {
    let database = db::Database::open(cfg).await?;
    let served = async {
        if args.demo {
            demo::load(&database, cfg).await?;
        }
        let console = odooops::build(cfg, &database).await?;
        tracing::info!(addr = %console.addr, "OdooOps Console listening on http://{}", console.addr);
        // Services stop first: live streams end with them, so open browser tabs do not hold
        // up the HTTP server's drain.
        let stop = console.shutdown.clone();
        let signal = async move {
            startup::shutdown_signal().await;
            let _ = stop.send(true);
        };
        let served = startup::serve(console.listener, console.router, signal).await;
        console.services.flush().await;
        odooops::Console::stop_services(&console.shutdown, console.tasks).await;
        served
    }
    .await;
    // The embedded cluster is stopped whether serving ended cleanly or not.
    let closed = database.close().await;
    served.and(closed)
}
