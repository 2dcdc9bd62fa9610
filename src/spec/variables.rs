//! Input variables: `-var k=v`, `-var-file F`, `CUTOVER_VAR_k`, defaults,
//! type constraints and validation rules.
//!
//! Precedence, lowest first: default, environment, var files (in order),
//! `-var` flags (in order) — as Terraform does it.

use super::ast::{Expr, ModuleSource, VariableDecl};
use super::diagnostic::{Diagnostic, Diagnostics, SourceFile, SourceSpan};
use super::VarValue;
use hcl::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Variable values as the user gave them, before they meet the declarations.
#[derive(Debug, Clone, Default)]
pub struct VarInputs {
    /// `-var NAME=VALUE`, in order.
    pub vars: Vec<(String, String)>,
    /// `-var-file FILE`, in order.
    pub files: Vec<PathBuf>,
    /// `CUTOVER_VAR_NAME=VALUE` from the environment.
    pub env: Vec<(String, String)>,
    /// Leave variables without a value unknown instead of reporting them (`validate`).
    pub allow_missing: bool,
}

impl VarInputs {
    /// Collects `CUTOVER_VAR_*` from the process environment.
    pub fn with_process_env(mut self) -> VarInputs {
        self.env = std::env::vars()
            .filter_map(|(k, v)| k.strip_prefix("CUTOVER_VAR_").map(|n| (n.to_string(), v)))
            .collect();
        self.env.sort();
        self
    }
}

/// A variable's declared type.
#[derive(Debug, Clone, PartialEq)]
pub enum VarType {
    Any,
    String,
    Number,
    Bool,
    List(Box<VarType>),
    Map(Box<VarType>),
}

impl VarType {
    fn parse(e: &Expr) -> Result<VarType, Diagnostic> {
        fn go(e: &hcl::Expression) -> Option<VarType> {
            match e {
                hcl::Expression::Variable(v) => match v.as_str() {
                    "string" => Some(VarType::String),
                    "number" => Some(VarType::Number),
                    "bool" => Some(VarType::Bool),
                    "any" => Some(VarType::Any),
                    _ => None,
                },
                hcl::Expression::FuncCall(f) if f.args.len() == 1 => {
                    let inner = Box::new(go(&f.args[0])?);
                    match f.name.name.as_str() {
                        "list" | "set" | "tuple" => Some(VarType::List(inner)),
                        "map" | "object" => Some(VarType::Map(inner)),
                        _ => None,
                    }
                }
                _ => None,
            }
        }
        go(&e.expr).ok_or_else(|| {
            Diagnostic::error(
                "Invalid type specification",
                format!(
                    "`{}` is not a type; expected string, number, bool, any, list(T) or map(T).",
                    e.source()
                ),
            )
            .at(Some(e.span.clone()))
        })
    }

    /// Checks `v` against the type, converting where Terraform would (number ↔ string, bool ↔ string).
    pub fn convert(&self, v: Value) -> Result<Value, String> {
        match (self, v) {
            (VarType::Any, v) => Ok(v),
            (_, Value::Null) => Ok(Value::Null),
            (VarType::String, Value::String(s)) => Ok(Value::String(s)),
            (VarType::String, Value::Number(n)) => Ok(Value::String(n.to_string())),
            (VarType::String, Value::Bool(b)) => Ok(Value::String(b.to_string())),
            (VarType::Number, Value::Number(n)) => Ok(Value::Number(n)),
            (VarType::Number, Value::String(s)) => s
                .trim()
                .parse::<f64>()
                .ok()
                .and_then(hcl::Number::from_f64)
                .map(|n| match n.as_f64() {
                    Some(f) if f.fract() == 0.0 && f.abs() < 9e15 => Value::from(f as i64),
                    _ => Value::Number(n),
                })
                .ok_or(())
                .map_err(|_| format!("a number is required, got \"{s}\"")),
            (VarType::Bool, Value::Bool(b)) => Ok(Value::Bool(b)),
            (VarType::Bool, Value::String(s)) if s == "true" || s == "false" => {
                Ok(Value::Bool(s == "true"))
            }
            (VarType::List(t), Value::Array(items)) => items
                .into_iter()
                .map(|i| t.convert(i))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            (VarType::Map(t), Value::Object(m)) => m
                .into_iter()
                .map(|(k, v)| t.convert(v).map(|v| (k, v)))
                .collect::<Result<_, _>>()
                .map(Value::Object),
            (t, v) => Err(format!("{} is required, got {}", t.describe(), kind_of(&v))),
        }
    }

    fn describe(&self) -> String {
        match self {
            VarType::Any => "any value".into(),
            VarType::String => "a string".into(),
            VarType::Number => "a number".into(),
            VarType::Bool => "a bool".into(),
            VarType::List(_) => "a list".into(),
            VarType::Map(_) => "a map".into(),
        }
    }

    fn is_string(&self) -> bool {
        *self == VarType::String
    }
}

pub fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// A raw value from the command line or environment: a string for string
/// variables, otherwise parsed as an HCL literal (`5`, `true`, `["a"]`).
fn parse_raw(raw: &str, t: &VarType) -> Result<Value, String> {
    if t.is_string() {
        return Ok(Value::from(raw));
    }
    // Not a literal (a bare word, say): keep the text, and let the type check say what is wrong.
    let parsed = raw
        .parse::<hcl::edit::expr::Expression>()
        .ok()
        .and_then(|e| super::ast::constant(&e.into()).ok());
    Ok(parsed.unwrap_or_else(|| Value::from(raw)))
}

/// Where a value came from, for messages.
enum Origin {
    Default,
    Env,
    File(SourceSpan),
    Flag,
}

/// Resolves every root variable; problems go to `diags`.
pub fn resolve_root(
    root: &ModuleSource,
    inputs: &VarInputs,
    diags: &mut Diagnostics,
) -> BTreeMap<String, VarValue> {
    let mut raw: BTreeMap<String, (Result<Value, String>, Origin)> = BTreeMap::new();
    let decls: BTreeMap<&str, &VariableDecl> = root
        .variables
        .iter()
        .map(|v| (v.name.as_str(), v))
        .collect();
    let types: BTreeMap<&str, VarType> = root
        .variables
        .iter()
        .map(|v| {
            let t = match &v.type_constraint {
                Some(e) => VarType::parse(e).unwrap_or_else(|d| {
                    diags.push(d);
                    VarType::Any
                }),
                None => VarType::Any,
            };
            (v.name.as_str(), t)
        })
        .collect();
    for v in &root.variables {
        if let Some(d) = v.default.as_ref().and_then(Expr::literal) {
            raw.insert(v.name.clone(), (Ok(d), Origin::Default));
        }
    }
    for (k, v) in &inputs.env {
        if let Some(t) = types.get(k.as_str()) {
            raw.insert(k.clone(), (parse_raw(v, t), Origin::Env));
        }
    }
    for path in &inputs.files {
        load_var_file(path, &decls, &mut raw, diags);
    }
    for (k, v) in &inputs.vars {
        match types.get(k.as_str()) {
            Some(t) => {
                raw.insert(k.clone(), (parse_raw(v, t), Origin::Flag));
            }
            None => diags.push(Diagnostic::error(
                "Value for undeclared variable",
                format!(
                    "-var {k}=…: the spec declares no variable \"{k}\". Declare it with `variable \"{k}\" {{ type = string }}`."
                ),
            )),
        }
    }
    let mut out = BTreeMap::new();
    for v in &root.variables {
        let t = &types[v.name.as_str()];
        let Some((value, origin)) = raw.remove(&v.name) else {
            if inputs.allow_missing {
                continue;
            }
            diags.push(
                Diagnostic::error(
                    "No value for required variable",
                    format!(
                        "The variable \"{}\" has no default. Set it with -var {}=VALUE, in a -var-file, or with CUTOVER_VAR_{}.",
                        v.name, v.name, v.name
                    ),
                )
                .at(Some(v.span.clone())),
            );
            continue;
        };
        let where_ = match &origin {
            Origin::Default => "its default".to_string(),
            Origin::Env => format!("CUTOVER_VAR_{}", v.name),
            Origin::File(_) => "the var file".into(),
            Origin::Flag => format!("-var {}", v.name),
        };
        let span = match origin {
            Origin::File(s) => Some(s),
            Origin::Default => v.default.as_ref().map(|d| d.span.clone()),
            _ => Some(v.span.clone()),
        };
        let value = match value.and_then(|x| t.convert(x)) {
            Ok(x) => x,
            Err(e) => {
                diags.push(
                    Diagnostic::error(
                        "Invalid value for variable",
                        format!("The value of \"{}\" from {where_} is invalid: {e}.", v.name),
                    )
                    .at(span),
                );
                continue;
            }
        };
        check_validations(v, &value, diags);
        out.insert(
            v.name.clone(),
            VarValue {
                value,
                sensitive: v.sensitive,
            },
        );
    }
    out
}

fn load_var_file(
    path: &std::path::Path,
    decls: &BTreeMap<&str, &VariableDecl>,
    raw: &mut BTreeMap<String, (Result<Value, String>, Origin)>,
    diags: &mut Diagnostics,
) {
    let file = match SourceFile::read(path, "variable") {
        Ok(f) => f,
        Err(d) => {
            diags.push(*d);
            return;
        }
    };
    let body = match super::load::parse(&file, "variable file") {
        Ok(b) => b,
        Err(d) => {
            diags.push(*d);
            return;
        }
    };
    for s in body.iter() {
        use hcl::edit::Span;
        let Some(a) = s.as_attribute() else {
            let span = s
                .as_block()
                .and_then(|b| b.ident.span())
                .map(|r| SourceSpan::new(&file, r));
            diags.push(
                Diagnostic::error(
                    "Unexpected block",
                    "A variable file holds only `name = value` assignments.",
                )
                .at(span),
            );
            continue;
        };
        let name = a.key.as_str();
        let span = a.value.span().map(|r| SourceSpan::new(&file, r));
        if !decls.contains_key(name) {
            diags.push(
                Diagnostic::error(
                    "Value for undeclared variable",
                    format!("The spec declares no variable \"{name}\"."),
                )
                .at(a.key.span().map(|r| SourceSpan::new(&file, r))),
            );
            continue;
        }
        let value = super::ast::terraform_expr(&a.value, &file.text);
        let v = super::ast::constant(&value).map_err(|e| e.to_string());
        raw.insert(
            name.to_string(),
            (
                v,
                Origin::File(span.unwrap_or_else(|| SourceSpan::new(&file, 0..0))),
            ),
        );
    }
}

fn check_validations(v: &VariableDecl, value: &Value, diags: &mut Diagnostics) {
    let library = crate::eval::functions::Library::new();
    for rule in &v.validations {
        let mut m = hcl::Map::new();
        m.insert(v.name.clone(), value.clone());
        let mut roots = hcl::Map::new();
        roots.insert("var".to_string(), Value::Object(m));
        match crate::lang::evaluate(&rule.condition.expr, &roots, &library) {
            Ok(Value::Bool(true)) => {}
            Ok(Value::Bool(false)) => diags.push(
                Diagnostic::error(
                    "Invalid value for variable",
                    format!("{} (variable \"{}\")", rule.error_message, v.name),
                )
                .at(Some(rule.condition.span.clone())),
            ),
            Ok(other) => diags.push(
                Diagnostic::error(
                    "Invalid validation condition",
                    format!(
                        "The condition must be true or false, got {}.",
                        kind_of(&other)
                    ),
                )
                .at(Some(rule.condition.span.clone())),
            ),
            Err(e) => diags.push(
                Diagnostic::error(
                    "Invalid validation condition",
                    format!("Evaluating the condition failed: {e}."),
                )
                .at(Some(rule.condition.span.clone())),
            ),
        }
    }
}
