//! The build's files as the gates read them: one walk, only the kinds of file some gate looks
//! at, text only, with caps so a huge or hostile repository cannot stall the console.
use std::path::{Path, PathBuf};
use walkdir::WalkDir;

/// Files larger than this are skipped (generated dumps, vendored bundles).
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Directory entries looked at before the walk stops.
pub const MAX_ENTRIES: usize = 200_000;
/// Files read before the walk stops.
pub const MAX_FILES: usize = 20_000;

/// Directories that hold tooling or third-party code, not the project's own: `.git`,
/// dependencies (`node_modules`, virtualenvs) and build output (`target`, `__pycache__`).
const SKIPPED_DIRS: [&str; 8] = [".git", "node_modules", "target", "__pycache__", ".venv", "venv", ".tox", "site-packages"];

pub struct SourceFile {
    /// Relative to the workspace, with `/` separators.
    pub path: String,
    pub text: String,
    /// Byte offsets where each line starts (for line numbers).
    line_starts: Vec<usize>,
}

impl SourceFile {
    pub fn new(path: impl Into<String>, text: String) -> SourceFile {
        let line_starts = std::iter::once(0).chain(text.match_indices('\n').map(|(i, _)| i + 1)).collect();
        SourceFile { path: path.into(), text, line_starts }
    }

    /// File name without directories.
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    pub fn ext(&self) -> &str {
        match self.name().rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() => ext,
            _ => "",
        }
    }

    /// 1-based line number of byte offset `at`.
    pub fn line_of(&self, at: usize) -> usize {
        self.line_starts.partition_point(|&s| s <= at)
    }

    /// `path:line` for evidence.
    pub fn location(&self, at: usize) -> String {
        format!("{}:{}", self.path, self.line_of(at))
    }

    /// The trimmed source line holding byte offset `at`, shortened for evidence.
    pub fn line_text(&self, at: usize) -> String {
        let n = self.line_of(at);
        let start = self.line_starts[n - 1];
        let end = self.line_starts.get(n).map(|e| e - 1).unwrap_or(self.text.len());
        shorten(self.text[start..end].trim(), 160)
    }
}

/// Cuts `s` to `max` characters with an ellipsis.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max - 1).collect::<String>())
    }
}

pub struct Workspace {
    pub files: Vec<SourceFile>,
    /// A cap stopped the walk: some files were not checked.
    pub truncated: bool,
    /// Files skipped as too large, binary or unreadable.
    pub skipped: usize,
}

impl Workspace {
    pub fn matching(&self, kind: fn(&SourceFile) -> bool) -> impl Iterator<Item = &SourceFile> {
        self.files.iter().filter(move |f| kind(f))
    }
}

/// SQL, and Python/XML that may run SQL (migrations, init hooks, `init()` methods).
pub fn is_sql_or_code(f: &SourceFile) -> bool {
    matches!(f.ext(), "sql" | "py" | "xml")
}

pub fn is_python(f: &SourceFile) -> bool {
    f.ext() == "py"
}

/// Scripts and files that describe how the build runs: Dockerfiles, shell, make, `.odooops.toml`.
pub fn is_build_file(f: &SourceFile) -> bool {
    let name = f.name();
    let lower = name.to_ascii_lowercase();
    lower.starts_with("dockerfile")
        || lower.starts_with("containerfile")
        || matches!(f.ext(), "dockerfile" | "sh" | "bash" | "mk")
        || matches!(name, "Makefile" | "makefile" | "GNUmakefile" | ".odooops.toml" | "Procfile")
}

/// Odoo configuration (`odoo.conf`), other ini-style files and `.env` files.
pub fn is_config_file(f: &SourceFile) -> bool {
    matches!(f.ext(), "conf" | "cfg" | "ini" | "env") || f.name().starts_with(".env")
}

fn wanted(f: &SourceFile) -> bool {
    is_sql_or_code(f) || is_build_file(f) || is_config_file(f)
}

/// Reads the workspace off the async runtime. The error is a sentence for the gate summary.
pub async fn load(root: &Path) -> Result<Workspace, String> {
    let root = root.to_path_buf();
    tokio::task::spawn_blocking(move || load_blocking(&root)).await.map_err(|_| "the workspace scan stopped unexpectedly".to_string())?
}

fn load_blocking(root: &PathBuf) -> Result<Workspace, String> {
    if !root.is_dir() {
        return Err(format!("the build workspace {} is not there", root.display()));
    }
    let mut ws = Workspace { files: Vec::new(), truncated: false, skipped: 0 };
    let walker = WalkDir::new(root).follow_links(false).into_iter().filter_entry(|e| {
        !(e.depth() > 0 && e.file_type().is_dir() && SKIPPED_DIRS.contains(&e.file_name().to_string_lossy().as_ref()))
    });
    for (seen, entry) in walker.enumerate() {
        if seen >= MAX_ENTRIES || ws.files.len() >= MAX_FILES {
            ws.truncated = true;
            break;
        }
        let Ok(entry) = entry else {
            ws.skipped += 1;
            continue;
        };
        // Symbolic links are not followed: they may point outside the workspace.
        if !entry.file_type().is_file() {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(root) else { continue };
        let rel = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        let probe = SourceFile::new(rel, String::new());
        if !wanted(&probe) {
            continue;
        }
        if entry.metadata().map(|m| m.len() > MAX_FILE_BYTES).unwrap_or(true) {
            ws.skipped += 1;
            continue;
        }
        match read_text(entry.path()) {
            Some(text) => ws.files.push(SourceFile::new(probe.path, text)),
            None => ws.skipped += 1,
        }
    }
    ws.files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(ws)
}

/// The file as UTF-8 text; None for binary (a NUL byte, or not UTF-8) or unreadable files.
fn read_text(path: &Path) -> Option<String> {
    let bytes = std::fs::read(path).ok()?;
    if bytes.len() as u64 > MAX_FILE_BYTES || bytes.iter().take(8192).any(|&b| b == 0) {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// How comments look in a file, for `blank_comments`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum CommentStyle {
    /// `-- …` and `/* … */`.
    Sql,
    /// `# …` at the start of a line or after whitespace (shell, Python, Dockerfile, TOML, make).
    Hash,
    /// `# …` or `; …` at the start of a line (ini-style config).
    Ini,
    /// `<!-- … -->`.
    Xml,
}

pub fn comment_style(f: &SourceFile) -> CommentStyle {
    match f.ext() {
        "sql" => CommentStyle::Sql,
        "xml" => CommentStyle::Xml,
        "conf" | "cfg" | "ini" => CommentStyle::Ini,
        _ => CommentStyle::Hash,
    }
}

/// `text` with its comments replaced by spaces (newlines kept), so matches keep their offsets
/// and line numbers while commented-out code no longer counts.
pub fn blank_comments(text: &str, style: CommentStyle) -> String {
    let mut out: Vec<u8> = text.as_bytes().to_vec();
    let b = text.as_bytes();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let mut i = 0;
    let mut line_start = true;
    while i < b.len() {
        let rest = &b[i..];
        let prev_space = i == 0 || b[i - 1].is_ascii_whitespace();
        let to_eol = || i + rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
        let end = match style {
            CommentStyle::Sql if rest.starts_with(b"--") => Some(to_eol()),
            CommentStyle::Sql if rest.starts_with(b"/*") => Some(find_end(b, i + 2, b"*/")),
            CommentStyle::Hash if rest[0] == b'#' && prev_space => Some(to_eol()),
            CommentStyle::Ini if (rest[0] == b'#' || rest[0] == b';') && line_start => Some(to_eol()),
            CommentStyle::Xml if rest.starts_with(b"<!--") => Some(find_end(b, i + 4, b"-->")),
            _ => None,
        };
        if b[i] == b'\n' {
            line_start = true;
        } else if !b[i].is_ascii_whitespace() {
            line_start = false;
        }
        if let Some(end) = end {
            blank(&mut out, i, end);
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    // Only ASCII bytes were replaced by ASCII spaces, and whole multi-byte characters at that
    // (comment markers are ASCII, and every byte from a marker to its end is blanked).
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn find_end(b: &[u8], from: usize, close: &[u8]) -> usize {
    b[from.min(b.len())..].windows(close.len()).position(|w| w == close).map(|p| from + p + close.len()).unwrap_or(b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_are_blanked_but_lines_stay() {
        let sql = "select 1; -- create extension postgis\n/* create\nextension x */ create extension hstore;";
        let out = blank_comments(sql, CommentStyle::Sql);
        assert_eq!(out.len(), sql.len());
        assert!(!out.contains("postgis") && !out.contains("extension x") && out.contains("create extension hstore"));
        assert_eq!(out.matches('\n').count(), 2);
        let sh = "# apt-get install x\nRUN echo '#' && apt-get install y # z\n";
        let out = blank_comments(sh, CommentStyle::Hash);
        assert!(!out.contains("install x") && out.contains("install y") && !out.contains(" z"));
        let ini = "; smtp_port = 25\nsmtp_port = 587 ; c\n";
        assert!(!blank_comments(ini, CommentStyle::Ini).contains("= 25"));
        assert!(!blank_comments("<!-- é CREATE EXTENSION x -->ü", CommentStyle::Xml).contains("EXTENSION"));
    }

    #[test]
    fn line_numbers_and_texts_come_from_offsets() {
        let f = SourceFile::new("a/b.sql", "one\ntwo\n  three  \n".into());
        assert_eq!((f.line_of(0), f.line_of(4), f.line_of(10)), (1, 2, 3));
        assert_eq!(f.line_text(10), "three");
        assert_eq!(f.location(5), "a/b.sql:2");
        assert_eq!((f.name(), f.ext()), ("b.sql", "sql"));
        assert_eq!(SourceFile::new(".env", String::new()).ext(), "");
    }
}
