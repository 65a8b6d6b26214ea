//! Build steps: `.odooops.toml` in the repository, or the project's default steps.
//!
//! ```toml
//! [[steps]]
//! name = "install"
//! run = "pip install -r requirements.txt"
//! timeout_seconds = 900          # default 1800
//!
//! [[steps]]
//! name = "test"
//! run = "python -m pytest -q"
//!
//! [start]                        # optional: makes successful builds previewable
//! run = "python -m http.server $PORT"
//! ready_timeout_seconds = 60     # default 60
//! health_path = "/"              # default: the port accepting connections is enough
//! health_command = "curl -fsS localhost:$PORT/web/health"  # optional, checked on environment deploys
//! ```
use serde::{Deserialize, Serialize};

pub const DEFAULT_STEP_TIMEOUT: u64 = 1800;
pub const MAX_STEP_TIMEOUT: u64 = 6 * 3600;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    #[serde(default)]
    pub steps: Vec<Step>,
    pub start: Option<StartStep>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    pub run: String,
    pub timeout_seconds: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartStep {
    pub run: String,
    pub ready_timeout_seconds: Option<u64>,
    pub health_path: Option<String>,
    /// A shell command run in the workspace once the port answers (environment deploys):
    /// exit 0 means healthy.
    pub health_command: Option<String>,
}

impl Step {
    pub fn timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.timeout_seconds.unwrap_or(DEFAULT_STEP_TIMEOUT).clamp(1, MAX_STEP_TIMEOUT))
    }
}

impl StartStep {
    pub fn ready_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.ready_timeout_seconds.unwrap_or(60).clamp(1, 3600))
    }
}

#[cfg(feature = "ssr")]
impl BuildConfig {
    /// Parses and checks a steps file; the error says what to fix, with the TOML position.
    pub fn parse(text: &str) -> Result<BuildConfig, String> {
        let cfg: BuildConfig = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        if cfg.steps.is_empty() && cfg.start.is_none() {
            return Err("no [[steps]] and no [start]: nothing to run".into());
        }
        if cfg.steps.len() > 50 {
            return Err("at most 50 steps".into());
        }
        let mut seen = std::collections::HashSet::new();
        for s in &cfg.steps {
            let ok_name = !s.name.is_empty() && s.name.len() <= 40 && s.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok_name {
                return Err(format!("step name “{}”: use 1-40 letters, digits, - or _", s.name));
            }
            if !seen.insert(s.name.clone()) {
                return Err(format!("step “{}” appears twice", s.name));
            }
            if s.run.trim().is_empty() {
                return Err(format!("step “{}” has an empty `run`", s.name));
            }
        }
        if let Some(st) = &cfg.start {
            if st.run.trim().is_empty() {
                return Err("[start] has an empty `run`".into());
            }
            if let Some(p) = &st.health_path {
                if !p.starts_with('/') {
                    return Err("[start] health_path must start with /".into());
                }
            }
        }
        Ok(cfg)
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::*;

    #[test]
    fn a_steps_file_with_a_start_parses() {
        let cfg = BuildConfig::parse(
            "[[steps]]\nname = \"install\"\nrun = \"true\"\ntimeout_seconds = 5\n[start]\nrun = \"serve $PORT\"\n",
        )
        .unwrap();
        assert_eq!(cfg.steps[0].timeout().as_secs(), 5);
        assert_eq!(cfg.start.unwrap().run, "serve $PORT");
    }

    #[test]
    fn mistakes_are_explained() {
        assert!(BuildConfig::parse("[[steps]]\nname = \"a b\"\nrun = \"x\"").unwrap_err().contains("a b"));
        assert!(BuildConfig::parse("[[steps]]\nname = \"a\"\nrun = \"x\"\n[[steps]]\nname = \"a\"\nrun = \"y\"").unwrap_err().contains("twice"));
        assert!(BuildConfig::parse("steps = 3").is_err());
        assert!(BuildConfig::parse("[[steps]]\nname = \"a\"\nrun = \"x\"\ncolour = \"red\"").unwrap_err().contains("colour"));
        assert!(BuildConfig::parse("").unwrap_err().contains("nothing to run"));
    }
}
