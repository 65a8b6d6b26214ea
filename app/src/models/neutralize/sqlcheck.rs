//! The SQL a rule may contain, checked before it is saved and again before it runs.
//!
//! `set_sql` and `where_sql` are pasted into `update <table> set … where …` on a copy of a
//! tenant's database, possibly over a superuser connection. So they must stay one expression
//! about that database's own rows: no second statement, no comments or dollar/escape quoting
//! that could hide one, no data-changing or session keywords, no system catalogs, and only
//! functions from a short list (no `dblink`, `pg_read_file`, `lo_import`, `set_config`…).
//! Sub-selects in parentheses are allowed (`id not in (select res_id from ir_model_data …)`).
//! Table and column names are plain identifiers, always quoted when used.

/// Placeholders `set_sql` may use; the engine replaces them by SQL literals.
pub const PLACEHOLDERS: [&str; 4] = ["mail_host", "mail_port", "mail_user", "mail_password"];

/// Functions a rule may call.
pub const FUNCTIONS: &[&str] = &[
    "abs", "array_length", "btrim", "cardinality", "ceil", "char_length", "chr", "coalesce", "concat", "concat_ws",
    "count", "date_trunc", "decode", "encode", "floor", "gen_random_uuid", "greatest", "initcap", "json_build_object",
    "jsonb_build_object", "jsonb_set", "jsonb_strip_nulls", "least", "left", "length", "lower", "lpad", "ltrim", "max",
    "md5", "min", "now", "nullif", "position", "random", "regexp_replace", "repeat", "replace", "right", "round",
    "rpad", "rtrim", "sha256", "split_part", "substr", "substring", "sum", "to_json", "to_jsonb", "translate",
    "trim", "upper",
];

/// Words that make a statement rather than an expression. Only a data-modifying `with`
/// could change anything from inside an expression; the rest make the intent plain.
/// (Common column names such as `comment` or `start` stay usable.)
const FORBIDDEN: &[&str] = &[
    "alter", "call", "copy", "create", "delete", "do", "drop", "execute", "grant", "insert", "into", "listen", "merge",
    "notify", "returning", "revoke", "set", "truncate", "update", "vacuum", "with",
];

/// Words allowed only inside parentheses (a sub-select).
const SUBQUERY_ONLY: &[&str] = &[
    "by", "except", "from", "group", "having", "intersect", "join", "lateral", "limit", "offset", "on", "order",
    "select", "table", "union", "using", "values", "where", "window",
];

/// Keywords that may be followed by `(` without being a function call.
const KEYWORDS: &[&str] = &[
    "all", "and", "any", "array", "as", "between", "case", "cast", "distinct", "else", "exists", "from", "ilike",
    "in", "is", "join", "like", "not", "on", "or", "select", "similar", "some", "then", "to", "using", "values",
    "when", "where",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    Quoted,
    Str,
    Num,
    Op,
    Open,
    Close,
    Comma,
    Dot,
    Bracket,
    Placeholder,
}

#[derive(Debug, Clone)]
struct Tok {
    kind: Kind,
    /// Lower-cased for words; the placeholder's name for placeholders; else the source text.
    text: String,
    start: usize,
    end: usize,
}

fn ident_ok(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 63
}

fn system_name(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("pg_") || l == "information_schema"
}

/// `table` or `schema.table`: plain identifiers, no system schema.
pub fn table_path(s: &str) -> Result<Vec<String>, String> {
    let parts: Vec<&str> = s.trim().split('.').collect();
    if parts.len() > 2 || parts.iter().any(|p| !ident_ok(p)) {
        return Err(format!("“{s}” is not a table name: use letters, digits and _ (e.g. ir_cron or myschema.mytable)"));
    }
    if parts.iter().any(|p| system_name(p)) {
        return Err("system catalogs (pg_…, information_schema) are off limits".into());
    }
    Ok(parts.into_iter().map(str::to_string).collect())
}

/// One `table.column` or `schema.table.column` entry of a pattern rule's exclusions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    pub schema: Option<String>,
    pub table: String,
    pub column: String,
}

impl Exclusion {
    pub fn matches(&self, schema: &str, table: &str, column: &str) -> bool {
        self.schema.as_deref().is_none_or(|s| s == schema) && self.table == table && self.column == column
    }
}

/// Entries separated by commas or spaces.
pub fn exclusions(s: &str) -> Result<Vec<Exclusion>, String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|e| !e.is_empty())
        .map(|e| {
            let parts: Vec<&str> = e.split('.').collect();
            if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| !ident_ok(p)) {
                return Err(format!("“{e}” is not table.column (or schema.table.column)"));
            }
            let (schema, rest) = if parts.len() == 3 { (Some(parts[0].to_string()), &parts[1..]) } else { (None, &parts[..]) };
            Ok(Exclusion { schema, table: rest[0].to_string(), column: rest[1].to_string() })
        })
        .collect()
}

pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A string literal for a session with `standard_conforming_strings = on`.
pub fn quote_literal(s: &str) -> Result<String, String> {
    if s.contains('\0') {
        return Err("a value contains a NUL character".into());
    }
    Ok(format!("'{}'", s.replace('\'', "''")))
}

fn tokenize(sql: &str) -> Result<Vec<Tok>, String> {
    let b = sql.as_bytes();
    let mut toks = Vec::new();
    let mut i = 0;
    let push = |toks: &mut Vec<Tok>, kind, text: String, start, end| toks.push(Tok { kind, text, start, end });
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            _ if c.is_ascii_whitespace() => i += 1,
            b'\'' | b'"' => {
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err(format!("unterminated {} starting at “{}”", if c == b'"' { "quoted name" } else { "string" }, snippet(sql, start))),
                        Some(&q) if q == c && b.get(i + 1) == Some(&c) => i += 2,
                        Some(&q) if q == c => break,
                        Some(_) => i += 1,
                    }
                }
                i += 1;
                let text = sql[start..i].to_string();
                if c == b'"' && (text.len() == 2 || text.contains('\0')) {
                    return Err("a quoted name is empty".into());
                }
                push(&mut toks, if c == b'"' { Kind::Quoted } else { Kind::Str }, text, start, i);
            }
            _ if c.is_ascii_alphabetic() || c == b'_' => {
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                match b.get(i) {
                    Some(b'\'') => return Err(format!("prefixed strings such as E'…' are not supported (at “{}”)", snippet(sql, start))),
                    Some(b'$') => return Err("$ is not allowed in names".into()),
                    _ => {}
                }
                push(&mut toks, Kind::Word, sql[start..i].to_ascii_lowercase(), start, i);
            }
            _ if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) => {
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                    i += 1;
                    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
                        i += 1;
                    }
                    while i < b.len() && b[i].is_ascii_digit() {
                        i += 1;
                    }
                }
                push(&mut toks, Kind::Num, sql[start..i].to_string(), start, i);
            }
            b'{' => {
                let rest = &sql[i..];
                let end = rest.find("}}").filter(|_| rest.starts_with("{{")).ok_or_else(|| format!("“{}”: placeholders look like {{{{mail_host}}}}", snippet(sql, start)))?;
                let name = rest[2..end].trim();
                if !PLACEHOLDERS.contains(&name) {
                    return Err(format!("unknown placeholder {{{{{name}}}}} (known: {})", PLACEHOLDERS.map(|p| format!("{{{{{p}}}}}")).join(", ")));
                }
                i += end + 2;
                push(&mut toks, Kind::Placeholder, name.to_string(), start, i);
            }
            b'(' | b')' | b',' | b'.' | b'[' | b']' => {
                i += 1;
                let kind = match c {
                    b'(' => Kind::Open,
                    b')' => Kind::Close,
                    b',' => Kind::Comma,
                    b'.' => Kind::Dot,
                    _ => Kind::Bracket,
                };
                push(&mut toks, kind, (c as char).to_string(), start, i);
            }
            b';' => return Err("one expression only: no semicolons".into()),
            b'$' => return Err("dollar quoting and $1 parameters are not supported".into()),
            b'+' | b'-' | b'*' | b'/' | b'<' | b'>' | b'=' | b'~' | b'!' | b'@' | b'#' | b'%' | b'^' | b'&' | b'|' | b'?' | b':' => {
                while i < b.len() && b"+-*/<>=~!@#%^&|?:".contains(&b[i]) {
                    i += 1;
                }
                let op = &sql[start..i];
                if op.contains("--") || op.contains("/*") {
                    return Err("comments are not allowed".into());
                }
                push(&mut toks, Kind::Op, op.to_string(), start, i);
            }
            _ => {
                let ch = sql[i..].chars().next().unwrap_or('?');
                return Err(format!("unexpected character “{ch}”"));
            }
        }
        if toks.len() > 2000 {
            return Err("too long: 2000 tokens at most".into());
        }
    }
    Ok(toks)
}

fn snippet(sql: &str, start: usize) -> String {
    sql[start..].chars().take(20).collect()
}

/// Checks a token list as one expression (or, inside parentheses, sub-selects).
fn check(toks: &[Tok]) -> Result<(), String> {
    let mut depth = 0usize;
    for (n, t) in toks.iter().enumerate() {
        let next_open = toks.get(n + 1).is_some_and(|t| t.kind == Kind::Open);
        match t.kind {
            Kind::Open => depth += 1,
            Kind::Close => depth = depth.checked_sub(1).ok_or("a “)” has no matching “(”")?,
            Kind::Word => {
                let w = t.text.as_str();
                if FORBIDDEN.contains(&w) {
                    return Err(format!("“{w}” is not allowed: a rule is one expression, not a statement"));
                }
                if depth == 0 && SUBQUERY_ONLY.contains(&w) {
                    return Err(format!("“{w}” is only allowed in a sub-select inside parentheses"));
                }
                if system_name(w) {
                    return Err("system catalogs and functions (pg_…, information_schema) are off limits".into());
                }
                if next_open && !FUNCTIONS.contains(&w) && !KEYWORDS.contains(&w) {
                    return Err(format!("function “{w}” is not allowed (allowed: {})", FUNCTIONS.join(", ")));
                }
                if next_open && n > 0 && toks[n - 1].kind == Kind::Dot {
                    return Err("schema-qualified functions are not allowed".into());
                }
            }
            Kind::Quoted => {
                if system_name(t.text.trim_matches('"')) {
                    return Err("system catalogs and functions (pg_…, information_schema) are off limits".into());
                }
                if next_open {
                    return Err("quoted function names are not allowed".into());
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("a “(” is not closed".into());
    }
    Ok(())
}

/// `col = expr` of an update's assignment list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assignment {
    /// The column as written (a word, or a quoted name).
    pub column: String,
    /// Byte range of the expression in the source.
    pub expr: (usize, usize),
}

/// Splits and checks an assignment list: `state = 'test', provider_key = null`.
pub fn assignments(set_sql: &str) -> Result<Vec<Assignment>, String> {
    let toks = tokenize(set_sql)?;
    if toks.is_empty() {
        return Err("no assignments".into());
    }
    check(&toks)?;
    let mut out: Vec<Assignment> = Vec::new();
    let mut depth = 0usize;
    let mut group_start = 0;
    for n in 0..=toks.len() {
        let end_of_group = n == toks.len() || (depth == 0 && toks[n].kind == Kind::Comma);
        if let Some(t) = toks.get(n) {
            match t.kind {
                Kind::Open => depth += 1,
                Kind::Close => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        if !end_of_group {
            continue;
        }
        let g = &toks[group_start..n];
        let shape = "write assignments like state = 'test', api_key = null";
        let (col, eq) = match g {
            [c, e, _, ..] => (c, e),
            _ => return Err(shape.into()),
        };
        if !matches!(col.kind, Kind::Word | Kind::Quoted) || eq.kind != Kind::Op || eq.text != "=" {
            return Err(shape.into());
        }
        if col.kind == Kind::Word && (KEYWORDS.contains(&col.text.as_str()) || !ident_ok(&col.text)) {
            return Err(format!("“{}” is not a column name", col.text));
        }
        let column = set_sql[col.start..col.end].to_string();
        if out.iter().any(|a| a.column.eq_ignore_ascii_case(&column)) {
            return Err(format!("column {column} is assigned twice"));
        }
        out.push(Assignment { column, expr: (g[2].start, g[g.len() - 1].end) });
        group_start = n + 1;
    }
    Ok(out)
}

/// Checks a filter (the part after `where`).
pub fn condition(where_sql: &str) -> Result<(), String> {
    let toks = tokenize(where_sql)?;
    if toks.first().is_some_and(|t| t.kind == Kind::Word && t.text == "where") {
        return Err("leave out the word WHERE: write only the condition, e.g. state = 'enabled'".into());
    }
    check(&toks)
}

/// Functions written with SQL-standard syntax (`position(a in b)`) or that are expressions
/// rather than functions (`coalesce`): the grammar already resolves them in `pg_catalog`.
const SYNTAX_FUNCTIONS: &[&str] = &["coalesce", "greatest", "least", "nullif", "position", "substring", "trim"];

/// `sql` with each placeholder replaced by its literal from `values` (name, SQL literal), and
/// each allowed function qualified with `pg_catalog.`, so that a function of the same name
/// in the scrubbed database (which its owner controls) is never called instead.
pub fn render(sql: &str, values: &[(&str, String)]) -> Result<String, String> {
    let toks = tokenize(sql)?;
    let mut out = String::with_capacity(sql.len() + 32);
    let mut at = 0;
    for (n, t) in toks.iter().enumerate() {
        let call = t.kind == Kind::Word && toks.get(n + 1).is_some_and(|x| x.kind == Kind::Open) && FUNCTIONS.contains(&t.text.as_str()) && !SYNTAX_FUNCTIONS.contains(&t.text.as_str());
        if call {
            out.push_str(&sql[at..t.start]);
            out.push_str("pg_catalog.");
            out.push_str(&t.text);
            at = t.end;
        } else if t.kind == Kind::Placeholder {
            let lit = values.iter().find(|(n, _)| *n == t.text).map(|(_, v)| v).ok_or_else(|| format!("no value for {{{{{}}}}}", t.text))?;
            out.push_str(&sql[at..t.start]);
            out.push_str(lit);
            at = t.end;
        }
    }
    out.push_str(&sql[at..]);
    Ok(out)
}

/// The parts of an update: the rendered assignment list, and a condition true only for rows
/// the assignments would actually change (so re-running a rule changes nothing).
pub fn update_parts(set_sql: &str, values: &[(&str, String)]) -> Result<(String, String), String> {
    let parts = assignments(set_sql)?;
    let mut changed = Vec::with_capacity(parts.len());
    for a in &parts {
        let expr = render(&set_sql[a.expr.0..a.expr.1], values)?;
        changed.push(format!("{} is distinct from ({expr})", a.column));
    }
    Ok((render(set_sql, values)?, format!("({})", changed.join(" or "))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_rules_pass() {
        assert_eq!(assignments("active = false").unwrap().len(), 1);
        let a = assignments("state = 'test', \"mp_SiteID\" = null, x = coalesce(y, 'a,b')").unwrap();
        assert_eq!(a.iter().map(|a| a.column.as_str()).collect::<Vec<_>>(), ["state", "\"mp_SiteID\"", "x"]);
        assert!(condition("key in ('a', 'b') and not exists (select 1 from ir_config_parameter m where m.key = 'x')").is_ok());
        assert!(condition(r"key ~* '(api_?key|^ocn\.uuid$)'").is_ok());
        assert!(assignments("robots_txt = 'User-agent: *' || chr(10) || 'Disallow: /'").is_ok());
        assert!(assignments("value = gen_random_uuid()::text").is_ok());
    }

    #[test]
    fn statements_comments_and_dangerous_calls_are_refused() {
        let bad = [
            "active = false; drop table res_users",
            "active = false -- comment",
            "active = false /* x */",
            "x = $$a$$",
            "x = E'\\' or 1=1'",
            "x = pg_read_file('/etc/passwd')",
            "x = dblink('host=x', 'select 1')",
            "x = (select rolpassword from pg_authid)",
            "x = (select 1 from information_schema.tables)",
            "x = public.lower('a')",
            "x = \"lo_import\"('/etc/passwd')",
            "x = 1 where true",
            "x = (with d as (delete from t returning 1) select 1)",
            "x = (1",
            "x = 1)",
            "x = {{nope}}",
            "x",
            "= 1",
        ];
        for b in bad {
            assert!(assignments(b).is_err(), "{b} should be refused");
        }
        assert!(condition("where a = 1").unwrap_err().contains("WHERE"));
        assert!(condition("a = 1 union select 1").is_err());
    }

    #[test]
    fn placeholders_become_literals_and_changes_are_detected() {
        let vals = [("mail_host", quote_literal("mail.local").unwrap()), ("mail_port", "2525".to_string())];
        let (set, changed) = update_parts("smtp_host = {{mail_host}}, smtp_port = {{ mail_port }}", &vals).unwrap();
        assert_eq!(set, "smtp_host = 'mail.local', smtp_port = 2525");
        assert_eq!(changed, "(smtp_host is distinct from ('mail.local') or smtp_port is distinct from (2525))");
        assert_eq!(quote_literal("it's").unwrap(), "'it''s'");
        assert!(render("x = {{mail_user}}", &vals).is_err());
        assert_eq!(
            render("a = lower(b) || chr(10), c = coalesce(d, 'e') and position('x' in f) > 0", &[]).unwrap(),
            "a = pg_catalog.lower(b) || pg_catalog.chr(10), c = coalesce(d, 'e') and position('x' in f) > 0"
        );
    }

    #[test]
    fn names_are_plain_identifiers() {
        assert_eq!(table_path("integrations.webhooks").unwrap(), ["integrations", "webhooks"]);
        assert!(table_path("a.b.c").is_err());
        assert!(table_path("pg_catalog.pg_authid").is_err());
        assert!(table_path("x\"; drop").is_err());
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        let ex = exclusions("res_users.password, public.ir_mail_server.smtp_pass").unwrap();
        assert!(ex[0].matches("public", "res_users", "password") && ex[0].matches("other", "res_users", "password"));
        assert!(ex[1].matches("public", "ir_mail_server", "smtp_pass") && !ex[1].matches("x", "ir_mail_server", "smtp_pass"));
    }
}
