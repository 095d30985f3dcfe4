//! Guard rails for templates: where requester-controlled data (`.Insecure`) can shape a
//! certificate, and where values reach the JSON unescaped.
//!
//! A template is operator data; `.Insecure` is what the requester sent. The linter reads the
//! template tree alongside the JSON text around each action, so it knows which top-level
//! profile key (`basicConstraints`, `keyUsage`, ...) an action writes into.

use std::fmt;

use crate::Template;
use crate::engine::parser::{Arg, Node, Pipeline};

/// Profile keys that must never be steered by the requester.
pub const SENSITIVE_KEYS: [&str; 5] = [
    "basicConstraints",
    "extensions",
    "nameConstraints",
    "keyUsage",
    "extKeyUsage",
];

/// What a lint finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LintKind {
    /// `.Insecure` data reaches `basicConstraints`, `extensions`, `nameConstraints` or a key
    /// usage: the requester could make themselves a CA or widen their key's powers.
    InsecureInSensitiveField,
    /// `.Insecure` data is printed without `toJson`: the requester can inject JSON.
    UnescapedInsecure,
    /// A value is printed without `toJson`: safe only if it can never hold `"` or `\`.
    Unescaped,
}

/// One finding, with its position in the template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LintWarning {
    /// The kind of finding.
    pub kind: LintKind,
    /// 1-based line of the action.
    pub line: usize,
    /// 1-based column of the action.
    pub column: usize,
    /// A readable explanation.
    pub message: String,
}

impl fmt::Display for LintWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

/// Lints a template; no findings means no `.Insecure` data reaches sensitive keys and every
/// printed value goes through `toJson`.
pub fn lint(template: &Template) -> Vec<LintWarning> {
    let mut l = Linter {
        source: template.source(),
        tainted: Vec::new(),
        out: Vec::new(),
    };
    let mut ctx = JsonContext::default();
    for body in template.tree().defines.values() {
        l.walk(body, &mut JsonContext::default(), false);
    }
    l.walk(&template.tree().root, &mut ctx, false);
    l.out.sort_by_key(|w| (w.line, w.column));
    l.out.dedup();
    l.out
}

/// Where in the JSON text we are: nesting depth, inside a string or not, the current
/// top-level key.
#[derive(Clone, Debug, Default)]
struct JsonContext {
    depth: usize,
    in_string: bool,
    escaped: bool,
    string: String,
    last_string: Option<String>,
    top_key: Option<String>,
}

impl JsonContext {
    fn feed(&mut self, text: &str) {
        for c in text.chars() {
            if self.in_string {
                match (self.escaped, c) {
                    (true, _) => self.escaped = false,
                    (false, '\\') => self.escaped = true,
                    (false, '"') => {
                        self.in_string = false;
                        self.last_string = Some(std::mem::take(&mut self.string));
                    }
                    (false, c) => self.string.push(c),
                }
                continue;
            }
            match c {
                '"' => {
                    self.in_string = true;
                    self.string.clear();
                }
                ':' => {
                    if self.depth == 1 {
                        self.top_key = self.last_string.take();
                    }
                }
                '{' | '[' => self.depth += 1,
                '}' | ']' => self.depth = self.depth.saturating_sub(1),
                c if c.is_whitespace() || c == ',' => {}
                _ => self.last_string = None,
            }
        }
    }

    fn sensitive_key(&self) -> Option<&str> {
        let key = self.top_key.as_deref()?;
        SENSITIVE_KEYS
            .iter()
            .find(|k| k.eq_ignore_ascii_case(key))
            .copied()
    }
}

struct Linter<'t> {
    source: &'t str,
    tainted: Vec<String>,
    out: Vec<LintWarning>,
}

impl Linter<'_> {
    fn warn(&mut self, pos: usize, kind: LintKind, message: String) {
        let before = &self.source[..pos.min(self.source.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        self.out.push(LintWarning {
            kind,
            line,
            column,
            message,
        });
    }

    fn walk(&mut self, nodes: &[Node], ctx: &mut JsonContext, dot_tainted: bool) {
        for node in nodes {
            match node {
                Node::Text(t) => ctx.feed(t),
                Node::Action(pipe) => self.action(pipe, ctx, dot_tainted),
                Node::Branch {
                    kind,
                    pipe,
                    then,
                    otherwise,
                } => {
                    let insecure = self.pipe_is_insecure(pipe, dot_tainted);
                    self.declare(pipe, insecure);
                    let inner_dot = if *kind == crate::engine::parser::BranchKind::With {
                        insecure
                    } else {
                        dot_tainted
                    };
                    let mut else_ctx = ctx.clone();
                    self.walk(then, ctx, inner_dot);
                    self.walk(otherwise, &mut else_ctx, dot_tainted);
                }
                Node::Range {
                    pipe,
                    body,
                    otherwise,
                } => {
                    let insecure = self.pipe_is_insecure(pipe, dot_tainted);
                    self.declare(pipe, insecure);
                    let mut else_ctx = ctx.clone();
                    self.walk(body, ctx, insecure);
                    self.walk(otherwise, &mut else_ctx, dot_tainted);
                }
                Node::Call { .. } | Node::Break | Node::Continue => {}
            }
        }
    }

    fn declare(&mut self, pipe: &Pipeline, insecure: bool) {
        for name in &pipe.decl {
            if insecure {
                self.tainted.push(name.clone());
            } else {
                self.tainted.retain(|n| n != name);
            }
        }
    }

    fn action(&mut self, pipe: &Pipeline, ctx: &JsonContext, dot_tainted: bool) {
        let insecure = self.pipe_is_insecure(pipe, dot_tainted);
        if !pipe.decl.is_empty() {
            self.declare(pipe, insecure);
            return;
        }
        if last_function(pipe) == Some("fail") {
            return; // prints nothing
        }
        let escaped = !ctx.in_string
            && matches!(
                last_function(pipe),
                Some("toJson" | "toRawJson" | "toPrettyJson")
            );
        if insecure && let Some(key) = ctx.sensitive_key() {
            self.warn(
                pipe.pos,
                LintKind::InsecureInSensitiveField,
                format!("requester-controlled .Insecure data reaches {key:?}"),
            );
        }
        match (escaped, insecure) {
            (true, _) => {}
            (false, true) => self.warn(
                pipe.pos,
                LintKind::UnescapedInsecure,
                "requester-controlled .Insecure data printed without toJson (JSON injection)"
                    .into(),
            ),
            (false, false) => self.warn(
                pipe.pos,
                LintKind::Unescaped,
                "value printed without toJson; use {{ toJson ... }} outside quotes".into(),
            ),
        }
    }

    fn pipe_is_insecure(&self, pipe: &Pipeline, dot_tainted: bool) -> bool {
        pipe.cmds
            .iter()
            .flat_map(|c| c.args.iter())
            .any(|a| self.arg_is_insecure(a, dot_tainted))
    }

    fn arg_is_insecure(&self, arg: &Arg, dot_tainted: bool) -> bool {
        match arg {
            Arg::Dot => dot_tainted,
            Arg::Field(path) => dot_tainted || path.first().is_some_and(|f| f == "Insecure"),
            Arg::Var(name, path) => {
                (name == "$" && path.first().is_some_and(|f| f == "Insecure"))
                    || self.tainted.contains(name)
            }
            Arg::Sub(pipe, _) => self.pipe_is_insecure(pipe, dot_tainted),
            _ => false,
        }
    }
}

/// The function the pipeline's last command calls, if any.
fn last_function(pipe: &Pipeline) -> Option<&str> {
    match pipe.cmds.last().and_then(|c| c.args.first()) {
        Some(Arg::Func(name, _)) => Some(name),
        _ => None,
    }
}
