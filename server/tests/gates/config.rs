//! Gates 4, 5 and 6: system packages, SMTP port and long-lived connections.
use super::support::{evidence, gate, has_evidence, run, EnvDb, Workspace, IR_MAIL_SERVER};
use app::models::{GateId, GateSettings, GateStatus};

// ---- 4. System packages --------------------------------------------------------------------

#[tokio::test]
async fn a_dockerfile_installing_os_packages_fails() {
    let ws = Workspace::new(&[
        ("Dockerfile", "FROM odoo:17\nRUN apt-get update && apt-get install -y libpq-dev \\\n    gdal-bin\nCOPY . /mnt/extra-addons\n"),
        ("requirements.txt", "psycopg2-binary\n"),
    ]);
    let report = run(Some(&ws), None, &GateSettings::default()).await;
    let r = gate(&report, GateId::SystemPackages);
    assert_eq!(r.status, GateStatus::Fail, "{r:?}");
    assert_eq!(r.summary, "1 command installs OS packages at run time: libpq-dev, gdal-bin");
    assert!(has_evidence(r, "Dockerfile:2", "RUN apt-get update && apt-get install -y libpq-dev"), "{:?}", evidence(r));
    assert!(r.fix.contains("psycopg2-binary"), "{}", r.fix);
}

#[tokio::test]
async fn commented_installs_and_pip_pass() {
    let ws = Workspace::new(&[
        ("Dockerfile", "FROM odoo:17\n# RUN apt-get install -y libpq-dev\nRUN pip install -r requirements.txt\n"),
        ("scripts/setup.sh", "#!/bin/sh\n# apk add build-base\npip install -r requirements.txt\n"),
        (".odooops.toml", "[[steps]]\nname = \"install\"\nrun = \"pip install -r requirements.txt\"\n"),
        ("node_modules/pkg/Dockerfile", "RUN apt-get install -y ignored-because-vendored\n"),
    ]);
    let r = run(Some(&ws), None, &GateSettings::default()).await;
    let r = gate(&r, GateId::SystemPackages);
    assert_eq!((r.status, r.summary.as_str()), (GateStatus::Pass, "no OS package installs in 3 build files"), "{r:?}");
}

// ---- 5. SMTP -------------------------------------------------------------------------------

#[tokio::test]
async fn mail_servers_on_blocked_ports_fail_and_submission_ports_pass() {
    let db = EnvDb::new().await;
    db.exec(IR_MAIL_SERVER).await;
    db.exec("insert into ir_mail_server (name, smtp_host, smtp_port) values ('Office relay', 'mail.example.com', 25), ('Old', 'x.example.com', 2525);
             update ir_mail_server set active = false where name = 'Old';").await;
    let report = run(None, Some(&db), &GateSettings::default()).await;
    let r = gate(&report, GateId::Smtp);
    assert_eq!(r.status, GateStatus::Fail, "{r:?}");
    assert_eq!(r.summary, "1 mail server is set up on port 25 (allowed: 465 or 587)");
    assert!(has_evidence(r, &format!("database {}: ir_mail_server 1 (Office relay)", db.name), "mail.example.com:25 (not allowed)"), "{:?}", evidence(r));
    assert!(!evidence(r).iter().any(|e| e.contains("2525")), "inactive servers are not checked");
    assert!(r.explanation.contains("block port 25") && r.explanation.contains("2525"), "{}", r.explanation);

    db.exec("update ir_mail_server set smtp_port = 587").await;
    let r = run(None, Some(&db), &GateSettings::default()).await;
    let r = gate(&r, GateId::Smtp);
    assert_eq!((r.status, r.summary.as_str()), (GateStatus::Pass, "1 mail setting on allowed ports (465 or 587)"), "{r:?}");
}

#[tokio::test]
async fn smtp_port_in_odoo_conf_is_checked_and_comments_are_not() {
    let ws = Workspace::new(&[("config/odoo.conf", "[options]\nsmtp_server = relay.example.com\n; smtp_port = 25\nsmtp_port = 2525\n")]);
    let db = EnvDb::new().await; // no ir_mail_server table: that part is skipped
    let report = run(Some(&ws), Some(&db), &GateSettings::default()).await;
    let r = gate(&report, GateId::Smtp);
    assert_eq!(r.status, GateStatus::Fail, "{r:?}");
    assert!(has_evidence(r, "config/odoo.conf:4", "smtp_port = 2525 (not allowed)"), "{:?}", evidence(r));
    assert!(!evidence(r).iter().any(|e| e.contains(":3 ")), "the commented line does not count: {:?}", evidence(r));
    assert!(has_evidence(r, &format!("database {}: ir_mail_server", db.name), "no such table"), "{:?}", evidence(r));

    let ok = Workspace::new(&[("odoo.conf", "[options]\nsmtp_port = 465\n"), (".env", "SMTP_PORT=587\n")]);
    let r = run(Some(&ok), None, &GateSettings::default()).await;
    assert_eq!(gate(&r, GateId::Smtp).status, GateStatus::Pass, "{:?}", gate(&r, GateId::Smtp));
}

// ---- 6. Long-lived connections -------------------------------------------------------------

#[tokio::test]
async fn workers_and_gevent_port_warn() {
    let ws = Workspace::new(&[
        ("odoo.conf", "[options]\nworkers = 4\ngevent_port = 8072\n"),
        ("addons/sync/listener.py", "import psycopg2\n\ndef run(conn):\n    cur = conn.cursor()\n    cur.execute(\"LISTEN stock_changes\")\n"),
    ]);
    let report = run(Some(&ws), None, &GateSettings::default()).await;
    let r = gate(&report, GateId::LongLivedConnections);
    assert_eq!(r.status, GateStatus::Warn, "{r:?}");
    assert_eq!(r.summary, "3 places count on long-lived connections");
    assert!(has_evidence(r, "odoo.conf:2", "workers = 4 (multi-process mode"), "{:?}", evidence(r));
    assert!(has_evidence(r, "odoo.conf:3", "gevent_port = 8072"), "{:?}", evidence(r));
    assert!(has_evidence(r, "addons/sync/listener.py:5", "SQL LISTEN"), "{:?}", evidence(r));
    assert!(r.explanation.contains("deploys") && r.fix.contains("reconnect"), "{r:?}");
}

#[tokio::test]
async fn a_clean_workspace_passes_the_connection_gate() {
    let ws = Workspace::new(&[
        ("odoo.conf", "[options]\nworkers = 0\n# gevent_port = 8072\n"),
        ("addons/web_extra/models.py", "from odoo import models\n\nclass X(models.Model):\n    _name = 'x.x'\n    # cr.execute('LISTEN x')\n"),
        ("server.py", "import socket\ns = socket.socket()\ns.listen(5)\n"),
    ]);
    let r = run(Some(&ws), None, &GateSettings::default()).await;
    let r = gate(&r, GateId::LongLivedConnections);
    assert_eq!((r.status, r.summary.as_str()), (GateStatus::Pass, "nothing counts on long-lived connections"), "{r:?}");
}
