//! Terraform's filesystem, CSV and UUID functions: `fileexists`, `fileset`,
//! the `file*` hashes and encodings, `basename`/`dirname`/`abspath` (Go's
//! lexical path rules), `pathexpand`, `csvdecode` and `uuidv5`. Relative paths are read from the
//! migration's directory, like `file`.

use base64::Engine as _;
use hcl::eval::{FuncArgs, ParamType};
use hcl::Value;
use sha2::Digest as _;

pub(super) fn declare(ctx: &mut super::functions::Registry) {
    use ParamType::*;
    let s = super::functions::Builder::new;
    let mut f = |name: &str, def: super::functions::Def| ctx.declare_func(name, def);
    f("fileexists", s().param(String).build(fileexists));
    let file = || s().param(String);
    f("filebase64", file().build(|a| hashed(&a, b64)));
    f(
        "filemd5",
        file().build(|a| hashed(&a, |b| hex::encode(md5::Md5::digest(b)))),
    );
    f(
        "filesha1",
        file().build(|a| hashed(&a, |b| hex::encode(sha1::Sha1::digest(b)))),
    );
    f(
        "filesha256",
        file().build(|a| hashed(&a, |b| hex::encode(sha2::Sha256::digest(b)))),
    );
    f(
        "filesha512",
        file().build(|a| hashed(&a, |b| hex::encode(sha2::Sha512::digest(b)))),
    );
    f(
        "filebase64sha256",
        file().build(|a| hashed(&a, |b| b64(&sha2::Sha256::digest(b)))),
    );
    f(
        "filebase64sha512",
        file().build(|a| hashed(&a, |b| b64(&sha2::Sha512::digest(b)))),
    );
    f(
        "basename",
        s().param(String).build(|a| Ok(base(text(&a)).into())),
    );
    f(
        "dirname",
        s().param(String).build(|a| Ok(dir(text(&a)).into())),
    );
    f("csvdecode", s().param(String).build(csvdecode));
    f(
        "templatefile",
        s().params([String, Any]).build(templatefile),
    );
    f("uuidv5", s().params([String, String]).build(uuidv5));
    f(
        "uuid",
        s().build(|_| Ok(uuid::Uuid::new_v4().to_string().into())),
    );
    f("fileset", s().params([String, String]).build(fileset));
    f("abspath", s().param(String).build(abspath));
    f("pathexpand", s().param(String).build(pathexpand));
}

fn text(a: &FuncArgs) -> &str {
    a[0].as_str().unwrap_or_default()
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// A file's bytes, encoded or hashed by `how`.
fn hashed(a: &FuncArgs, how: impl Fn(&[u8]) -> String) -> Result<Value, String> {
    read(text(a)).map(|b| how(&b).into())
}

fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => format!("open {path}: no such file or directory"),
        _ => format!("open {path}: {e}"),
    })
}

fn fileexists(a: FuncArgs) -> Result<Value, String> {
    let path = text(&a);
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(format!("\"{path}\" is a directory, not a file")),
        Ok(_) => Ok(true.into()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false.into()),
        Err(e) => Err(format!("failed to stat \"{path}\": {e}")),
    }
}

/// Go's `filepath.Clean`: one slash between names, no `.`, `..` resolved
/// lexically; `.` for nothing.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." if parts.last().is_some_and(|l| *l != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Base`: the last element, trailing slashes dropped.
fn base(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".into();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// Go's `filepath.Dir`: all but the last element, cleaned.
fn dir(path: &str) -> String {
    let cut = path.rfind('/').map_or(0, |i| i + 1);
    clean(&path[..cut])
}

/// The regular files under a directory whose paths relative to it match a
/// glob (`*`, `?`, `**`, `[…]`, `{a,b}`), sorted, with forward slashes.
fn fileset(a: FuncArgs) -> Result<Value, String> {
    let root = clean(text(&a));
    let pattern = clean(a[1].as_str().unwrap_or_default());
    let glob = globset::GlobBuilder::new(&pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map_err(|e| format!("failed to glob pattern ({root}/{pattern}): {}", e.kind()))?
        .compile_matcher();
    let mut found = Vec::new();
    let mut dirs = vec![std::path::PathBuf::from(&root)];
    while let Some(d) = dirs.pop() {
        // Terraform's glob skips what it cannot read; so does this walk.
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                dirs.push(path);
            } else if meta.is_file() {
                let rel = path.strip_prefix(&root).unwrap_or(&path);
                let rel = rel.to_string_lossy().replace('\\', "/");
                if glob.is_match(&rel) {
                    found.push(rel);
                }
            }
        }
    }
    found.sort();
    Ok(Value::Array(found.into_iter().map(Value::from).collect()))
}

/// Go's `filepath.Abs`: the path joined to the working directory (the
/// migration's directory), cleaned.
fn abspath(a: FuncArgs) -> Result<Value, String> {
    let path = text(&a);
    if path.starts_with('/') {
        return Ok(clean(path).into());
    }
    let cwd = std::env::current_dir().map_err(|e| format!("getwd: {e}"))?;
    Ok(clean(&format!("{}/{path}", cwd.to_string_lossy())).into())
}

/// `~` or `~/…` with the home directory; a path naming another user's home
/// (`~bob/x`) is an error, as in Terraform.
fn pathexpand(a: FuncArgs) -> Result<Value, String> {
    let path = text(&a);
    let Some(rest) = path.strip_prefix('~') else {
        return Ok(path.into());
    };
    if !(rest.is_empty() || rest.starts_with('/') || rest.starts_with('\\')) {
        return Err("cannot expand user-specific home dir".into());
    }
    let home = std::env::var("HOME").map_err(|_| "cannot find the home directory".to_string())?;
    Ok(format!("{home}{rest}").into())
}

/// A file rendered as a template (`${…}`, `%{ if }`, `%{ for }`) with
/// `vars` as its only variables and every function but itself.
fn templatefile(a: FuncArgs) -> Result<Value, String> {
    let path = text(&a);
    let bytes = std::fs::read(path).map_err(|_| {
        format!("no file exists at \"{path}\"; this function works only with files that are distributed as part of the configuration source code, so if this file will be created by a resource in this configuration you must instead obtain this result from an attribute of that resource")
    })?;
    let source =
        String::from_utf8(bytes).map_err(|_| format!("contents of {path} are not valid UTF-8"))?;
    let Value::Object(vars) = &a[1] else {
        return Err("invalid vars value: must be a map".into());
    };
    // Terraform forbids a template from rendering templates itself.
    let library = super::functions::Library::without("templatefile");
    crate::lang::render(&source, vars, &library)
        .map(Value::from)
        .map_err(|e| format!("{path}: {e}"))
}

/// Rows of a CSV text with a header line, as maps of strings.
fn csvdecode(a: FuncArgs) -> Result<Value, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text(&a).as_bytes());
    let mut records = reader.records();
    let header: Vec<String> = match records.next() {
        None => return Err("missing header line".into()),
        Some(r) => r
            .map_err(|e| format!("CSV parse error: {e}"))?
            .iter()
            .map(str::to_string)
            .collect(),
    };
    for (i, h) in header.iter().enumerate() {
        if header[..i].contains(h) {
            return Err(format!("duplicate column name \"{h}\""));
        }
    }
    let mut rows = Vec::new();
    for (line, r) in records.enumerate() {
        let r = r.map_err(|e| format!("CSV parse error on line {}: {e}", line + 2))?;
        if r.len() != header.len() {
            return Err(format!(
                "CSV parse error on line {}: wrong number of fields",
                line + 2
            ));
        }
        let row: hcl::Map<String, Value> = header
            .iter()
            .cloned()
            .zip(r.iter().map(Value::from))
            .collect();
        rows.push(Value::Object(row));
    }
    Ok(Value::Array(rows))
}

fn uuidv5(a: FuncArgs) -> Result<Value, String> {
    let ns = a[0].as_str().unwrap_or_default();
    let namespace = match ns {
        "dns" => uuid::Uuid::NAMESPACE_DNS,
        "url" => uuid::Uuid::NAMESPACE_URL,
        "oid" => uuid::Uuid::NAMESPACE_OID,
        "x500" => uuid::Uuid::NAMESPACE_X500,
        other => uuid::Uuid::parse_str(other).map_err(|_| {
            // Go's uuid package's words, which Terraform passes on.
            let why = match other.len() {
                32 | 36 | 38 | 45 => "invalid UUID format".to_string(),
                n => format!("invalid UUID length: {n}"),
            };
            format!("uuidv5() doesn't support namespace {other} ({why})")
        })?,
    };
    let name = a[1].as_str().unwrap_or_default();
    Ok(uuid::Uuid::new_v5(&namespace, name.as_bytes())
        .to_string()
        .into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_follow_go() {
        assert_eq!(clean("a//b/./c/.."), "a/b");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean("../../a"), "../../a");
        assert_eq!(base("foo/"), "foo");
        assert_eq!(dir("foo//bar/"), "foo/bar");
        assert_eq!(dir("/foo"), "/");
    }
}
