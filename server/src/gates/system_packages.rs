//! Gate 4: system packages. Build scripts, Dockerfiles, Makefiles and `.odooops.toml` steps that
//! install operating-system packages (apt, apt-get, yum, dnf, apk) fail: on a hosted platform
//! the image is fixed and builds run without root, so such an install (even a Dockerfile `RUN`)
//! works on a laptop and breaks once deployed. pip packages (`requirements.txt`) are fine.
use super::workspace::{blank_comments, comment_style, is_build_file};
use super::{plural, Ctx, Source, Tally, Words};
use app::models::{Evidence, GateId, GateResult, GateStatus};
use regex::Regex;
use std::sync::LazyLock;

/// A package manager, its options (also across `\` line continuations), then its install verb.
static INSTALL: LazyLock<Regex> = LazyLock::new(|| {
    let sep = r"(?:[ \t]|\\\r?\n)+";
    Regex::new(&format!(
        r#"(?m)(?:^|[\s;&|(`"'=])(?:sudo{sep})?(?P<tool>apt-get|apt|yum|dnf|microdnf|zypper|apk)(?:{sep}-{{1,2}}[\w=.-]+)*{sep}(?P<verb>install|add|in)\b"#
    ))
    .expect("static regex")
});

pub(super) fn check(ctx: &Ctx<'_>) -> GateResult {
    let gate = GateId::SystemPackages;
    let ws = match &ctx.files {
        Source::Missing => return GateResult::skipped(gate, "no workspace to check"),
        Source::Failed(e) => return super::could_not_check(gate, "workspace", e.clone()),
        Source::Ready(ws) => ws,
    };
    let mut t = Tally::default();
    t.note_files(&ctx.files);
    let mut packages: Vec<String> = Vec::new();
    let mut checked = 0;
    for f in ws.matching(is_build_file) {
        checked += 1;
        let text = blank_comments(&f.text, comment_style(f));
        for cap in INSTALL.captures_iter(&text) {
            let (Some(tool), Some(verb)) = (cap.name("tool"), cap.name("verb")) else { continue };
            let expected = match tool.as_str() {
                "apk" => "add",
                "zypper" => "in",
                _ => "install",
            };
            if verb.as_str() != expected && !(tool.as_str() == "zypper" && verb.as_str() == "install") {
                continue;
            }
            for p in package_names(&text[verb.end()..]) {
                if !packages.contains(&p) {
                    packages.push(p);
                }
            }
            t.bad.push(Evidence::new(f.location(tool.start()), f.line_text(tool.start())));
        }
    }
    let files = plural(checked, "build file", "build files");
    t.finish(
        gate,
        GateStatus::Fail,
        |bad| Words {
            summary: format!(
                "{} OS packages at run time{}",
                plural(bad.len(), "command installs", "commands install"),
                if packages.is_empty() { String::new() } else { format!(": {}", shown(&packages)) }
            ),
            explanation: "These commands install operating-system packages with apt, yum, dnf or apk while the build or the environment starts. \
                 On the hosted platform every build runs from the same prepared image, without root rights and without access to the package mirrors, \
                 so the install fails there even though it works on your machine; a Dockerfile RUN line counts too, because the platform does not build \
                 your Dockerfile."
                .into(),
            fix: "Replace the OS package with a Python wheel that bundles it (for example psycopg2-binary instead of libpq-dev, or the manylinux \
                  wheels of lxml and Pillow) in requirements.txt, vendor a static binary into the repository, or ask the platform to add the package \
                  to its base image. Then remove the install line."
                .into(),
        },
        || Words {
            summary: format!("no OS package installs in {files}"),
            explanation: "No build script, Dockerfile, Makefile or .odooops.toml step installs operating-system packages.".into(),
            fix: String::new(),
        },
    )
}

/// The words after the install verb up to the end of the shell command, minus options.
fn package_names(rest: &str) -> Vec<String> {
    let rest = rest.replace("\\\r\n", " ").replace("\\\n", " ");
    let end = rest.find(['\n', ';', '&', '|', '"', '\'', ')', '`']).unwrap_or(rest.len());
    rest[..end]
        .split_whitespace()
        .filter(|w| !w.starts_with('-') && !w.starts_with('$') && *w != "\\")
        .filter(|w| w.chars().all(|c| c.is_ascii_alphanumeric() || "+-._:=*".contains(c)))
        .map(str::to_string)
        .collect()
}

fn shown(packages: &[String]) -> String {
    if packages.len() <= 5 {
        packages.join(", ")
    } else {
        format!("{} and {} more", packages[..5].join(", "), packages.len() - 5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gates::workspace::SourceFile;

    fn found(name: &str, text: &str) -> Vec<String> {
        let f = SourceFile::new(name, text.to_string());
        let text = blank_comments(&f.text, comment_style(&f));
        INSTALL.captures_iter(&text).map(|c| format!("{} {}", &c["tool"], &c["verb"])).collect()
    }

    #[test]
    fn installs_are_found_with_options_sudo_and_continuations() {
        assert_eq!(found("Dockerfile", "RUN apt-get update && apt-get install -y libpq-dev"), ["apt-get install"]);
        assert_eq!(found("setup.sh", "sudo apt -qq install gdal-bin\n"), ["apt install"]);
        assert_eq!(found("Dockerfile", "RUN apk --no-cache add \\\n  build-base"), ["apk add"]);
        assert_eq!(found("Makefile", "deps:\n\tyum -y install gcc\n\tdnf install make"), ["yum install", "dnf install"]);
        assert_eq!(found(".odooops.toml", "[[steps]]\nname = \"x\"\nrun = \"apt-get install -y curl\"\n"), ["apt-get install"]);
    }

    #[test]
    fn comments_pip_and_lookalikes_are_ignored() {
        assert!(found("Dockerfile", "# RUN apt-get install -y libpq-dev\nRUN pip install -r requirements.txt").is_empty());
        assert!(found("x.sh", "echo done # apt-get install foo\nmyapt-get install x\napt-get update").is_empty());
    }

    #[test]
    fn package_names_skip_options_and_stop_at_the_command_end() {
        assert_eq!(package_names(" -y --no-install-recommends libpq-dev \\\n gcc && rm -rf /x"), ["libpq-dev", "gcc"]);
        assert_eq!(package_names(" curl\"\nmore"), ["curl"]);
    }
}
