//! Executes a parsed template against JSON data, within the step and output limits.

#![allow(
    clippy::ptr_arg,
    reason = "dot is passed as &Cow so borrowed data stays borrowed when cloned"
)]

use std::borrow::Cow;

use serde_json::Value;

use super::Limits;
use super::functions::{self, FnError};
use super::parser::{Arg, BranchKind, Command, Node, Pipeline, Tree};
use super::value::{go_print, is_true, lookup_field};

/// How execution stopped early.
#[derive(Debug)]
pub(crate) enum ExecError {
    /// A runtime error at a byte offset.
    At(usize, String),
    /// `fail "message"` at a byte offset.
    Fail(usize, String),
    /// A limit was hit: which one and its value.
    Limit(&'static str, usize),
}

enum Flow {
    Normal,
    Break,
    Continue,
}

/// Maximum nesting of `template` calls (recursion guard).
const MAX_CALL_DEPTH: usize = 64;
/// Maximum nesting of bodies being walked: blocks inside blocks, across template calls. The
/// evaluator recurses once per level; this keeps the worst case well inside a tokio worker's
/// 2 MiB stack.
const MAX_WALK_DEPTH: usize = 256;
/// Deepest nesting of lists and maps a function may build: what serde_json reads from data.
/// Without it `{{ $x = list $x }}` in a loop nests values thousands deep, and the recursive
/// walks over a value (its size, printing, `toJson`, dropping it) overflow the stack.
const MAX_VALUE_DEPTH: usize = 128;

pub(crate) struct State<'d> {
    tree: &'d Tree,
    limits: &'d Limits,
    root: &'d Value,
    out: String,
    steps: usize,
    /// `template` calls in progress.
    depth: usize,
    /// Bodies being walked (see [`MAX_WALK_DEPTH`]).
    walking: usize,
    vars: Vec<(String, Cow<'d, Value>)>,
}

/// Renders `tree` with `data` as dot.
pub(crate) fn execute(tree: &Tree, limits: &Limits, data: &Value) -> Result<String, ExecError> {
    let mut st = State {
        tree,
        limits,
        root: data,
        out: String::new(),
        steps: 0,
        depth: 0,
        walking: 0,
        vars: vec![("$".to_owned(), Cow::Borrowed(data))],
    };
    st.walk(&tree.root, &Cow::Borrowed(data))?;
    Ok(st.out)
}

impl<'d> State<'d> {
    fn step(&mut self) -> Result<(), ExecError> {
        self.steps += 1;
        if self.steps > self.limits.max_steps {
            return Err(ExecError::Limit("evaluation steps", self.limits.max_steps));
        }
        Ok(())
    }

    fn write(&mut self, s: &str) -> Result<(), ExecError> {
        if self.out.len() + s.len() > self.limits.max_output_bytes {
            return Err(ExecError::Limit(
                "output bytes",
                self.limits.max_output_bytes,
            ));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk(&mut self, nodes: &'d [Node], dot: &Cow<'d, Value>) -> Result<Flow, ExecError> {
        if self.walking >= MAX_WALK_DEPTH {
            return Err(ExecError::Limit(
                "nesting of blocks and template calls",
                MAX_WALK_DEPTH,
            ));
        }
        self.walking += 1;
        let mark = self.vars.len();
        let flow = self.walk_inner(nodes, dot);
        self.vars.truncate(mark);
        self.walking -= 1;
        flow
    }

    fn walk_inner(&mut self, nodes: &'d [Node], dot: &Cow<'d, Value>) -> Result<Flow, ExecError> {
        for node in nodes {
            self.step()?;
            match node {
                Node::Text(t) => self.write(t)?,
                Node::Action(pipe) => {
                    let v = self.pipeline(pipe, dot)?;
                    if pipe.decl.is_empty() {
                        self.write(&go_print(&v))?;
                    }
                }
                Node::Branch {
                    kind,
                    pipe,
                    then,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let v = self.pipeline(pipe, dot)?;
                    let flow = if is_true(&v) {
                        let inner = if *kind == BranchKind::With {
                            v
                        } else {
                            dot.clone()
                        };
                        self.walk(then, &inner)?
                    } else {
                        self.walk(otherwise, dot)?
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range {
                    pipe,
                    body,
                    otherwise,
                } => {
                    let flow = self.range(pipe, body, otherwise, dot)?;
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Call { name, pipe, pos } => {
                    let Some(body) = self.tree.defines.get(name) else {
                        return Err(ExecError::At(*pos, format!("no such template {name:?}")));
                    };
                    let arg = match pipe {
                        Some(p) => self.pipeline(p, dot)?,
                        None => Cow::Owned(Value::Null),
                    };
                    if self.depth >= MAX_CALL_DEPTH {
                        return Err(ExecError::Limit("template call depth", MAX_CALL_DEPTH));
                    }
                    self.depth += 1;
                    // A called template sees only `$` = its argument.
                    let saved = std::mem::replace(&mut self.vars, vec![("$".into(), arg.clone())]);
                    let r = self.walk(body, &arg);
                    self.vars = saved;
                    self.depth -= 1;
                    r?;
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    fn range(
        &mut self,
        pipe: &'d Pipeline,
        body: &'d [Node],
        otherwise: &'d [Node],
        dot: &Cow<'d, Value>,
    ) -> Result<Flow, ExecError> {
        let mark = self.vars.len();
        let names = &pipe.decl;
        let v = self.pipeline_inner(&pipe.cmds, pipe.pos, dot)?;
        let items: Vec<(Value, Cow<'d, Value>)> = match v {
            Cow::Borrowed(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, x)| (Value::from(i), Cow::Borrowed(x)))
                .collect(),
            Cow::Owned(Value::Array(a)) => a
                .into_iter()
                .enumerate()
                .map(|(i, x)| (Value::from(i), Cow::Owned(x)))
                .collect(),
            Cow::Borrowed(Value::Object(m)) => m
                .iter()
                .map(|(k, x)| (Value::from(k.as_str()), Cow::Borrowed(x)))
                .collect(),
            Cow::Owned(Value::Object(m)) => m
                .into_iter()
                .map(|(k, x)| (Value::from(k), Cow::Owned(x)))
                .collect(),
            Cow::Borrowed(Value::Null) | Cow::Owned(Value::Null) => Vec::new(),
            ref other => match other.as_i64() {
                // Each iteration costs a step: refuse counts past the limit up front.
                Some(n) if n >= 0 && n.unsigned_abs() > self.limits.max_steps as u64 => {
                    return Err(ExecError::Limit("evaluation steps", self.limits.max_steps));
                }
                Some(n) if n >= 0 => (0..n)
                    .map(|i| (Value::from(i), Cow::Owned(Value::from(i))))
                    .collect(),
                _ => {
                    return Err(ExecError::At(
                        pipe.pos,
                        format!("range can't iterate over {}", go_print(other)),
                    ));
                }
            },
        };
        if items.is_empty() {
            return self.walk(otherwise, dot);
        }
        for (key, item) in items {
            self.step()?;
            match names.as_slice() {
                [] => {}
                [v] => self.vars.push((v.clone(), item.clone())),
                [k, v, ..] => {
                    self.vars.push((k.clone(), Cow::Owned(key)));
                    self.vars.push((v.clone(), item.clone()));
                }
            }
            let flow = self.walk(body, &item)?;
            self.vars.truncate(mark);
            if matches!(flow, Flow::Break) {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    fn pipeline(
        &mut self,
        pipe: &'d Pipeline,
        dot: &Cow<'d, Value>,
    ) -> Result<Cow<'d, Value>, ExecError> {
        let v = self.pipeline_inner(&pipe.cmds, pipe.pos, dot)?;
        for name in &pipe.decl {
            if pipe.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => {
                        return Err(ExecError::At(
                            pipe.pos,
                            format!("undefined variable {name}"),
                        ));
                    }
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn pipeline_inner(
        &mut self,
        cmds: &'d [Command],
        _pos: usize,
        dot: &Cow<'d, Value>,
    ) -> Result<Cow<'d, Value>, ExecError> {
        let mut piped: Option<Cow<'d, Value>> = None;
        for cmd in cmds {
            self.step()?;
            piped = Some(self.command(cmd, dot, piped)?);
        }
        Ok(piped.unwrap_or(Cow::Owned(Value::Null)))
    }

    fn command(
        &mut self,
        cmd: &'d Command,
        dot: &Cow<'d, Value>,
        piped: Option<Cow<'d, Value>>,
    ) -> Result<Cow<'d, Value>, ExecError> {
        let Some((first, rest)) = cmd.args.split_first() else {
            return Err(ExecError::At(cmd.pos, "empty command".into()));
        };
        let Arg::Func(name, pos) = first else {
            if !rest.is_empty() || piped.is_some() {
                return Err(ExecError::At(
                    cmd.pos,
                    "can't give argument to non-function".into(),
                ));
            }
            return self.operand(first, dot, cmd.pos);
        };
        if name == "and" || name == "or" {
            return self.and_or(name == "and", rest, piped, dot, cmd.pos);
        }
        let mut args = Vec::with_capacity(rest.len() + 1);
        for a in rest {
            args.push(self.operand(a, dot, cmd.pos)?);
        }
        if let Some(p) = piped {
            args.push(p);
        }
        let value = functions::call(name, &args).map_err(|e| match e {
            FnError::Msg(m) => ExecError::At(*pos, format!("error calling {name}: {m}")),
            FnError::Fail(m) => ExecError::Fail(*pos, m),
        })?;
        // Functions can grow values (`printf`, `list $x $x`): bound every result.
        let max = self.limits.max_output_bytes;
        if approx_size(&value, max) > max {
            return Err(ExecError::Limit("value bytes", max));
        }
        if deeper_than(&value, MAX_VALUE_DEPTH) {
            return Err(ExecError::Limit("value nesting", MAX_VALUE_DEPTH));
        }
        Ok(Cow::Owned(value))
    }

    fn and_or(
        &mut self,
        is_and: bool,
        rest: &'d [Arg],
        piped: Option<Cow<'d, Value>>,
        dot: &Cow<'d, Value>,
        pos: usize,
    ) -> Result<Cow<'d, Value>, ExecError> {
        let count = rest.len() + usize::from(piped.is_some());
        if count == 0 {
            return Err(ExecError::At(
                pos,
                "wrong number of args: want at least 1".into(),
            ));
        }
        let mut last = Cow::Owned(Value::Null);
        let mut piped = piped;
        for i in 0..count {
            last = match rest.get(i) {
                Some(a) => self.operand(a, dot, pos)?,
                None => piped.take().unwrap_or(Cow::Owned(Value::Null)),
            };
            if is_true(&last) != is_and {
                return Ok(last);
            }
        }
        Ok(last)
    }

    fn operand(
        &mut self,
        arg: &'d Arg,
        dot: &Cow<'d, Value>,
        pos: usize,
    ) -> Result<Cow<'d, Value>, ExecError> {
        Ok(match arg {
            Arg::Dot => dot.clone(),
            Arg::Nil => Cow::Owned(Value::Null),
            Arg::Bool(b) => Cow::Owned(Value::Bool(*b)),
            Arg::Int(i) => Cow::Owned(Value::from(*i)),
            Arg::Float(f) => Cow::Owned(Value::from(*f)),
            Arg::Str(s) => Cow::Owned(Value::String(s.clone())),
            Arg::Field(path) => walk_fields(dot.clone(), path, pos)?,
            Arg::Var(name, path) => {
                let v = if name == "$" {
                    self.vars
                        .iter()
                        .find(|(n, _)| n == "$")
                        .map_or(Cow::Borrowed(self.root), |(_, v)| v.clone())
                } else {
                    match self.vars.iter().rev().find(|(n, _)| n == name) {
                        Some((_, v)) => v.clone(),
                        None => {
                            return Err(ExecError::At(pos, format!("undefined variable: {name}")));
                        }
                    }
                };
                walk_fields(v, path, pos)?
            }
            Arg::Func(name, p) => {
                self.step()?;
                functions::call(name, &[])
                    .map(Cow::Owned)
                    .map_err(|e| match e {
                        FnError::Msg(m) => ExecError::At(*p, format!("error calling {name}: {m}")),
                        FnError::Fail(m) => ExecError::Fail(*p, m),
                    })?
            }
            Arg::Sub(pipe, path) => {
                let v = self.pipeline(pipe, dot)?;
                walk_fields(v, path, pos)?
            }
        })
    }
}

fn walk_fields<'d>(
    mut v: Cow<'d, Value>,
    path: &[String],
    pos: usize,
) -> Result<Cow<'d, Value>, ExecError> {
    for field in path {
        v = match v {
            Cow::Borrowed(b) => {
                Cow::Borrowed(lookup_field(b, field).map_err(|m| ExecError::At(pos, m))?)
            }
            Cow::Owned(o) => Cow::Owned(
                lookup_field(&o, field)
                    .map_err(|m| ExecError::At(pos, m))?
                    .clone(),
            ),
        };
    }
    Ok(v)
}

/// Whether lists and maps in `v` nest more than `max` deep (looks no deeper than that, so a
/// function result, built from arguments within the bound, is checked in bounded recursion).
fn deeper_than(v: &Value, max: usize) -> bool {
    match v {
        Value::Array(a) => max == 0 || a.iter().any(|x| deeper_than(x, max - 1)),
        Value::Object(m) => max == 0 || m.values().any(|x| deeper_than(x, max - 1)),
        _ => false,
    }
}

/// The rough encoded size of `v`, counting no further than just past `max`.
fn approx_size(v: &Value, max: usize) -> usize {
    match v {
        Value::String(s) => s.len() + 2,
        Value::Array(a) => {
            let mut n = 2;
            for x in a {
                n += approx_size(x, max) + 1;
                if n > max {
                    break;
                }
            }
            n
        }
        Value::Object(m) => {
            let mut n = 2;
            for (k, x) in m {
                n += k.len() + approx_size(x, max) + 4;
                if n > max {
                    break;
                }
            }
            n
        }
        _ => 8,
    }
}
