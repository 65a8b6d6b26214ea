use super::*;

fn result(gate: GateId, status: GateStatus) -> GateResult {
    GateResult::new(gate, status, "s", "e", "f", Vec::new())
}

#[test]
fn gate_ids_have_stable_names_titles_and_order() {
    let names: Vec<_> = GateId::ALL.iter().map(|g| g.as_str()).collect();
    assert_eq!(names, ["extensions", "object_count", "cron_runtime", "system_packages", "smtp", "long_lived_connections"]);
    for g in GateId::ALL {
        assert_eq!(GateId::parse(g.as_str()), Some(g));
        assert!(!g.title().is_empty());
        assert_eq!(serde_json::to_string(&g).unwrap(), format!("\"{}\"", g.as_str()));
    }
    assert_eq!(GateId::parse("nope"), None);
}

#[test]
fn statuses_serialize_lowercase_and_order_by_severity() {
    for s in GateStatus::ALL {
        assert_eq!(serde_json::to_string(&s).unwrap(), format!("\"{}\"", s.as_str()));
        assert_eq!(GateStatus::parse(s.as_str()), Some(s));
    }
    assert!(GateStatus::Fail > GateStatus::Warn);
    assert!(GateStatus::Warn > GateStatus::Pass);
    assert!(GateStatus::Pass > GateStatus::Skipped);
    assert_eq!(GateStatus::Pass.worst(GateStatus::Warn), GateStatus::Warn);
    assert_eq!(GateStatus::Fail.worst(GateStatus::Skipped), GateStatus::Fail);
    assert!(GateStatus::Fail.blocks_promotion());
    assert!(!GateStatus::Warn.blocks_promotion());
}

#[test]
fn overall_is_the_worst_result_and_skipped_when_nothing_ran() {
    assert_eq!(overall(&[]), GateStatus::Skipped);
    let mut rs = vec![result(GateId::Extensions, GateStatus::Pass), result(GateId::Smtp, GateStatus::Skipped)];
    assert_eq!(overall(&rs), GateStatus::Pass);
    rs.push(result(GateId::LongLivedConnections, GateStatus::Warn));
    assert_eq!(overall(&rs), GateStatus::Warn);
    rs.push(result(GateId::CronRuntime, GateStatus::Fail));
    assert_eq!(overall(&rs), GateStatus::Fail);
}

#[test]
fn evidence_is_capped_with_a_count_of_the_rest() {
    let ev: Vec<_> = (0..120).map(|i| Evidence::new(format!("f.sql:{i}"), "x")).collect();
    let r = GateResult::new(GateId::Extensions, GateStatus::Fail, "s", "e", "f", ev);
    assert_eq!(r.evidence.len(), MAX_EVIDENCE + 1);
    assert_eq!(r.evidence[MAX_EVIDENCE - 1].location, "f.sql:49");
    assert_eq!(r.evidence[MAX_EVIDENCE].found, "and 70 more");
    let few = cap_evidence(vec![Evidence::new("a", "b")]);
    assert_eq!(few.len(), 1);
}

#[test]
fn results_round_trip_through_json() {
    let r = GateResult::new(GateId::Smtp, GateStatus::Fail, "port 25", "blocked", "use 587", vec![Evidence::new("odoo.conf:3", "smtp_port = 25")]);
    let json = serde_json::to_string(&r).unwrap();
    assert!(json.contains("\"gate\":\"smtp\"") && json.contains("\"status\":\"fail\""), "{json}");
    assert_eq!(serde_json::from_str::<GateResult>(&json).unwrap(), r);
}

#[test]
fn default_settings_match_the_issue() {
    let s = GateSettings::default();
    assert_eq!((s.objects_warn, s.objects_fail), (8_000, 10_000));
    assert_eq!(s.smtp_allowed_ports, vec![465, 587]);
    assert_eq!((s.cron_max_seconds, s.cron_window_hours), (900, 24));
    assert!(s.allows_extension("pg_trgm") && s.allows_extension("UNACCENT") && s.allows_extension("uuid-ossp"));
    assert!(!s.allows_extension("postgis") && !s.allows_extension("pg_cron") && !s.allows_extension("plpython3u"));
    assert!(s.validate().is_ok());
}

#[test]
fn plpgsql_is_allowed_even_with_an_empty_list() {
    let s = GateSettings { allowed_extensions: vec![], ..Default::default() };
    assert!(s.allows_extension("plpgsql"));
    assert!(!s.allows_extension("hstore"));
    assert!(s.validate().is_ok());
}

#[test]
fn missing_settings_fields_take_defaults() {
    let s: GateSettings = serde_json::from_str(r#"{"objects_warn": 50, "objects_fail": 60}"#).unwrap();
    assert_eq!((s.objects_warn, s.objects_fail, s.cron_max_seconds), (50, 60, 900));
    assert_eq!(s.allowed_extensions, GateSettings::default().allowed_extensions);
    let empty: GateSettings = serde_json::from_str("{}").unwrap();
    assert_eq!(empty, GateSettings::default());
}

#[test]
fn bad_settings_are_refused_with_a_sentence() {
    let bad = |f: &dyn Fn(&mut GateSettings)| {
        let mut s = GateSettings::default();
        f(&mut s);
        s.validate().expect_err("should be refused")
    };
    assert!(bad(&|s| s.objects_warn = 10_000).contains("below the failure threshold"));
    assert!(bad(&|s| s.objects_warn = 0).contains("positive"));
    assert!(bad(&|s| s.objects_fail = -5).contains("positive"));
    assert!(bad(&|s| s.cron_max_seconds = 0).contains("at least 1 second"));
    assert!(bad(&|s| s.cron_window_hours = 0).contains("between 1 and 720"));
    assert!(bad(&|s| s.cron_window_hours = 10_000).contains("between 1 and 720"));
    assert!(bad(&|s| s.smtp_allowed_ports = vec![587, 70_000]).contains("70000 is not a port"));
    assert!(bad(&|s| s.smtp_allowed_ports = vec![0]).contains("0 is not a port"));
    assert!(bad(&|s| s.smtp_allowed_ports.clear()).contains("at least one SMTP port"));
    for name in ["", "Post GIS", "postgis; drop table x", "1abc", "\"quoted\"", &"x".repeat(64)] {
        let msg = bad(&|s| s.allowed_extensions.push(name.to_string()));
        assert!(msg.contains("is not an extension name"), "{name}: {msg}");
    }
}
