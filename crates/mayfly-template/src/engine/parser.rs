//! Builds the node tree of a Go text/template from tokens.

use std::collections::HashMap;

use super::lexer::{Tok, Token};

/// A node of the template tree.
#[derive(Clone, Debug)]
pub(crate) enum Node {
    /// Literal text.
    Text(String),
    /// `{{ pipeline }}`: prints the result unless it declares variables.
    Action(Pipeline),
    /// `if`, `with` (`rebinds_dot`) share this shape.
    Branch {
        kind: BranchKind,
        pipe: Pipeline,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    /// `range`.
    Range {
        pipe: Pipeline,
        body: Vec<Node>,
        otherwise: Vec<Node>,
    },
    /// `template "name" pipeline`.
    Call {
        name: String,
        pipe: Option<Pipeline>,
        pos: usize,
    },
    /// `break` inside range.
    Break,
    /// `continue` inside range.
    Continue,
}

/// Which conditional a [`Node::Branch`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BranchKind {
    /// `if`
    If,
    /// `with`
    With,
}

/// `$a, $b := cmd | cmd ...`
#[derive(Clone, Debug)]
pub(crate) struct Pipeline {
    pub decl: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Command>,
    pub pos: usize,
}

/// One command of a pipeline: a function with arguments or a single operand.
#[derive(Clone, Debug)]
pub(crate) struct Command {
    pub args: Vec<Arg>,
    pub pos: usize,
}

/// An operand.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Dot,
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// `.A.B` relative to dot.
    Field(Vec<String>),
    /// `$x.A.B`.
    Var(String, Vec<String>),
    /// A function name.
    Func(String, usize),
    /// `( pipeline ).A.B`.
    Sub(Box<Pipeline>, Vec<String>),
}

/// A parse failure at a byte offset.
pub(crate) type ParseError = (usize, String);

/// The parsed template: its main body and `define`d templates.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    pub root: Vec<Node>,
    pub defines: HashMap<String, Vec<Node>>,
}

/// Parses tokens into a tree; `funcs` tells which identifiers are functions.
pub(crate) fn parse(
    tokens: Vec<Token>,
    is_func: &dyn Fn(&str) -> bool,
) -> Result<Tree, ParseError> {
    let mut p = Parser {
        toks: tokens,
        i: 0,
        parens: 0,
        is_func,
        defines: HashMap::new(),
    };
    let (root, end) = p.list(0)?;
    if let Some((word, pos)) = end {
        return Err((pos, format!("unexpected {{{{{word}}}}}")));
    }
    Ok(Tree {
        root,
        defines: p.defines,
    })
}

/// How deeply blocks (`if`, `with`, `range`, `define`, each `else if`) may nest, and,
/// separately, parentheses: the parser and the evaluator recurse once per level.
const MAX_NESTING: usize = 100;

struct Parser<'a> {
    toks: Vec<Token>,
    i: usize,
    /// Parentheses open around the operand being parsed.
    parens: usize,
    is_func: &'a dyn Fn(&str) -> bool,
    defines: HashMap<String, Vec<Node>>,
}

/// What ended a list: `end` or `else` (with position), or end of input.
type ListEnd = Option<(&'static str, usize)>;

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i).map(|t| &t.kind)
    }

    fn pos(&self) -> usize {
        self.toks
            .get(self.i)
            .or(self.toks.last())
            .map_or(0, |t| t.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }

    fn expect_close(&mut self, ctx: &str) -> Result<(), ParseError> {
        match self.next() {
            Some(Token {
                kind: Tok::Close, ..
            }) => Ok(()),
            Some(t) => Err((t.pos, format!("unexpected {:?} in {ctx}", t.kind))),
            None => Err((self.pos(), format!("unclosed {ctx}"))),
        }
    }

    /// Parses nodes until `{{end}}`, `{{else}}` or end of input. `depth` is nesting depth.
    fn list(&mut self, depth: usize) -> Result<(Vec<Node>, ListEnd), ParseError> {
        if depth > MAX_NESTING {
            return Err((
                self.pos(),
                format!("template nests deeper than {MAX_NESTING} blocks"),
            ));
        }
        let mut nodes = Vec::new();
        while let Some(tok) = self.next() {
            match tok.kind {
                Tok::Text(t) => nodes.push(Node::Text(t)),
                Tok::Open => {
                    let kw_pos = self.pos();
                    let kw = match self.peek() {
                        Some(Tok::Ident(w)) if !(self.is_func)(w) => Some(w.clone()),
                        _ => None,
                    };
                    match kw.as_deref() {
                        Some("end") => {
                            self.i += 1;
                            self.expect_close("end")?;
                            return Ok((nodes, Some(("end", kw_pos))));
                        }
                        Some("else") => {
                            self.i += 1;
                            return Ok((nodes, Some(("else", kw_pos))));
                        }
                        Some("if") => {
                            self.i += 1;
                            nodes.push(self.branch(BranchKind::If, depth)?);
                        }
                        Some("with") => {
                            self.i += 1;
                            nodes.push(self.branch(BranchKind::With, depth)?);
                        }
                        Some("range") => {
                            self.i += 1;
                            nodes.push(self.range(depth)?);
                        }
                        Some("define") | Some("block") => {
                            self.i += 1;
                            let is_block = kw.as_deref() == Some("block");
                            let name = self.template_name()?;
                            let pipe = if is_block && self.peek() != Some(&Tok::Close) {
                                Some(self.pipeline("block")?)
                            } else {
                                None
                            };
                            self.expect_close("define")?;
                            let (body, end) = self.list(depth + 1)?;
                            if !matches!(end, Some(("end", _))) {
                                return Err((kw_pos, "define without matching end".to_owned()));
                            }
                            if is_block {
                                nodes.push(Node::Call {
                                    name: name.clone(),
                                    pipe,
                                    pos: kw_pos,
                                });
                            } else if depth > 0 {
                                return Err((kw_pos, "define is only allowed at top level".into()));
                            }
                            self.defines.insert(name, body);
                        }
                        Some("template") => {
                            self.i += 1;
                            let name = self.template_name()?;
                            let pipe = if self.peek() == Some(&Tok::Close) {
                                None
                            } else {
                                Some(self.pipeline("template")?)
                            };
                            self.expect_close("template")?;
                            nodes.push(Node::Call {
                                name,
                                pipe,
                                pos: kw_pos,
                            });
                        }
                        Some(w @ ("break" | "continue")) => {
                            let node = if w == "break" {
                                Node::Break
                            } else {
                                Node::Continue
                            };
                            self.i += 1;
                            self.expect_close(w)?;
                            nodes.push(node);
                        }
                        _ => {
                            let pipe = self.pipeline("command")?;
                            self.expect_close("command")?;
                            nodes.push(Node::Action(pipe));
                        }
                    }
                }
                other => return Err((tok.pos, format!("unexpected {other:?}"))),
            }
        }
        Ok((nodes, None))
    }

    fn template_name(&mut self) -> Result<String, ParseError> {
        match self.next() {
            Some(Token {
                kind: Tok::Str(s), ..
            }) => Ok(s),
            Some(t) => Err((t.pos, "template name must be a string".to_owned())),
            None => Err((self.pos(), "missing template name".to_owned())),
        }
    }

    fn branch(&mut self, kind: BranchKind, depth: usize) -> Result<Node, ParseError> {
        let ctx = if kind == BranchKind::If { "if" } else { "with" };
        let pipe = self.pipeline(ctx)?;
        self.expect_close(ctx)?;
        let (then, end) = self.list(depth + 1)?;
        let otherwise = self.else_part(end, ctx, depth)?;
        Ok(Node::Branch {
            kind,
            pipe,
            then,
            otherwise,
        })
    }

    fn range(&mut self, depth: usize) -> Result<Node, ParseError> {
        let pipe = self.pipeline("range")?;
        self.expect_close("range")?;
        let (body, end) = self.list(depth + 1)?;
        let otherwise = self.else_part(end, "range", depth)?;
        Ok(Node::Range {
            pipe,
            body,
            otherwise,
        })
    }

    /// After a body ended with `end` or `else`: parse the else branch (`else if` chains).
    fn else_part(
        &mut self,
        end: ListEnd,
        ctx: &str,
        depth: usize,
    ) -> Result<Vec<Node>, ParseError> {
        match end {
            Some(("end", _)) => Ok(Vec::new()),
            Some(("else", pos)) => match self.peek() {
                Some(Tok::Ident(w)) if w == "if" || w == "with" => {
                    let kind = if w == "if" {
                        BranchKind::If
                    } else {
                        BranchKind::With
                    };
                    self.i += 1;
                    // `{{else if x}}...{{end}}` shares the outer `end`, but it is a branch
                    // inside the else: it counts as a level.
                    Ok(vec![self.branch(kind, depth + 1)?])
                }
                _ => {
                    self.expect_close("else")?;
                    let (body, end) = self.list(depth + 1)?;
                    match end {
                        Some(("end", _)) => Ok(body),
                        _ => Err((pos, format!("expected end after else in {ctx}"))),
                    }
                }
            },
            _ => Err((self.pos(), format!("unexpected EOF: {ctx} without end"))),
        }
    }

    fn pipeline(&mut self, ctx: &str) -> Result<Pipeline, ParseError> {
        let pos = self.pos();
        let mut decl = Vec::new();
        let mut assign = false;
        // Look ahead for `$x :=`, `$x, $y :=` or `$x =`.
        let save = self.i;
        while let Some(Tok::Var(name)) = self.peek().cloned() {
            self.i += 1;
            match self.peek() {
                Some(Tok::Declare) | Some(Tok::Assign) => {
                    assign = self.peek() == Some(&Tok::Assign);
                    self.i += 1;
                    decl.push(name);
                    break;
                }
                Some(Tok::Comma) if ctx == "range" => {
                    self.i += 1;
                    decl.push(name);
                }
                _ => {
                    decl.clear();
                    self.i = save;
                    break;
                }
            }
        }
        let mut cmds = Vec::new();
        loop {
            cmds.push(self.command(ctx)?);
            match self.peek() {
                Some(Tok::Pipe) => self.i += 1,
                _ => break,
            }
        }
        Ok(Pipeline {
            decl,
            assign,
            cmds,
            pos,
        })
    }

    fn command(&mut self, ctx: &str) -> Result<Command, ParseError> {
        let pos = self.pos();
        let mut args = Vec::new();
        loop {
            match self.peek() {
                None | Some(Tok::Close | Tok::Pipe | Tok::RParen) => break,
                _ => args.push(self.operand(ctx)?),
            }
        }
        if args.is_empty() {
            return Err((pos, format!("missing value for {ctx}")));
        }
        Ok(Command { args, pos })
    }

    fn fields(&mut self) -> Vec<String> {
        let mut fields = Vec::new();
        while let Some(Tok::Field(f)) = self.peek() {
            fields.push(f.clone());
            self.i += 1;
        }
        fields
    }

    fn operand(&mut self, ctx: &str) -> Result<Arg, ParseError> {
        let Some(tok) = self.next() else {
            return Err((self.pos(), format!("unclosed {ctx}")));
        };
        Ok(match tok.kind {
            Tok::Dot => Arg::Dot,
            Tok::Nil => Arg::Nil,
            Tok::Bool(b) => Arg::Bool(b),
            Tok::Int(i) => Arg::Int(i),
            Tok::Float(f) => Arg::Float(f),
            Tok::Str(s) => Arg::Str(s),
            Tok::Field(f) => {
                let mut path = vec![f];
                path.extend(self.fields());
                Arg::Field(path)
            }
            Tok::Var(v) => Arg::Var(v, self.fields()),
            Tok::Ident(name) => {
                if !(self.is_func)(&name) {
                    return Err((tok.pos, format!("function {name:?} not defined")));
                }
                Arg::Func(name, tok.pos)
            }
            Tok::LParen => {
                if self.parens >= MAX_NESTING {
                    return Err((
                        tok.pos,
                        format!("parentheses nest deeper than {MAX_NESTING}"),
                    ));
                }
                self.parens += 1;
                let pipe = self.pipeline(ctx);
                self.parens -= 1;
                let pipe = pipe?;
                match self.next() {
                    Some(Token {
                        kind: Tok::RParen, ..
                    }) => {}
                    _ => return Err((tok.pos, "unclosed left paren".to_owned())),
                }
                Arg::Sub(Box::new(pipe), self.fields())
            }
            other => return Err((tok.pos, format!("unexpected {other:?} in {ctx}"))),
        })
    }
}
