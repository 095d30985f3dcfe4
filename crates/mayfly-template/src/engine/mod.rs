//! A Go text/template engine, bounded for untrusted data.
//!
//! Pieces: [`lexer`] (text and action tokens, trim markers, comments), [`parser`] (node tree,
//! `define`d templates), [`eval`] (execution with step/output/depth limits), [`functions`]
//! (builtins, step and sprig functions), [`value`] (how JSON acts as Go values), [`timefmt`].

pub(crate) mod eval;
pub(crate) mod functions;
pub(crate) mod lexer;
pub(crate) mod parser;
pub(crate) mod timefmt;
pub(crate) mod value;

use std::fmt;

use serde_json::Value;

/// Bounds on what one template may cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest template source accepted, in bytes.
    pub max_template_bytes: usize,
    /// Largest rendered output, in bytes.
    pub max_output_bytes: usize,
    /// Most evaluation steps (nodes, commands, range iterations) one render may take.
    pub max_steps: usize,
}

impl Default for Limits {
    /// 64 KiB of template, 256 KiB of output, 100,000 steps.
    fn default() -> Self {
        Self {
            max_template_bytes: 64 * 1024,
            max_output_bytes: 256 * 1024,
            max_steps: 100_000,
        }
    }
}

/// Why a template could not be parsed or rendered. Positions are 1-based.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TemplateError {
    /// The template source is not valid Go template syntax.
    #[error("template {template}:{line}:{column}: {message}")]
    Syntax {
        /// Template name.
        template: String,
        /// Line in the template.
        line: usize,
        /// Column in the template.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// Rendering failed (bad function argument, undefined variable, ...).
    #[error("template {template}:{line}:{column}: executing: {message}")]
    Execution {
        /// Template name.
        template: String,
        /// Line in the template.
        line: usize,
        /// Column in the template.
        column: usize,
        /// What went wrong.
        message: String,
    },
    /// The template called `fail "message"`: a refusal meant for the requester (HTTP 400).
    #[error("{message}")]
    Failed {
        /// Template name.
        template: String,
        /// Line of the `fail` call.
        line: usize,
        /// Column of the `fail` call.
        column: usize,
        /// The template's message.
        message: String,
    },
    /// A size or step limit was exceeded.
    #[error("template {template}: {limit} limit of {max} exceeded")]
    Limit {
        /// Template name.
        template: String,
        /// Which limit: `template bytes`, `output bytes`, `evaluation steps`, ...
        limit: &'static str,
        /// The limit's value.
        max: usize,
    },
    /// The rendered output is not valid JSON.
    #[error(
        "template {template}: output is not valid JSON at line {line}, column {column}: {message}\n{excerpt}"
    )]
    InvalidJson {
        /// Template name.
        template: String,
        /// Line in the rendered output.
        line: usize,
        /// Column in the rendered output.
        column: usize,
        /// The JSON parser's message.
        message: String,
        /// The offending region of the output, with a caret under the column.
        excerpt: String,
    },
}

/// A parsed template, ready to render any number of times.
pub struct Template {
    name: String,
    source: String,
    tree: parser::Tree,
    limits: Limits,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("name", &self.name)
            .field("bytes", &self.source.len())
            .finish_non_exhaustive()
    }
}

impl Template {
    /// Parses `text` with the default [`Limits`]; `name` appears in every error.
    pub fn parse(name: &str, text: &str) -> Result<Self, TemplateError> {
        Self::parse_with_limits(name, text, Limits::default())
    }

    /// Parses `text` with explicit limits.
    pub fn parse_with_limits(
        name: &str,
        text: &str,
        limits: Limits,
    ) -> Result<Self, TemplateError> {
        if text.len() > limits.max_template_bytes {
            return Err(TemplateError::Limit {
                template: name.to_owned(),
                limit: "template bytes",
                max: limits.max_template_bytes,
            });
        }
        let syntax = |(pos, message): (usize, String)| {
            let (line, column) = line_col(text, pos);
            TemplateError::Syntax {
                template: name.to_owned(),
                line,
                column,
                message,
            }
        };
        let tokens = lexer::lex(text).map_err(syntax)?;
        let tree = parser::parse(tokens, &functions::is_function).map_err(syntax)?;
        Ok(Self {
            name: name.to_owned(),
            source: text.to_owned(),
            tree,
            limits,
        })
    }

    /// The template's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The template source.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub(crate) fn tree(&self) -> &parser::Tree {
        &self.tree
    }

    /// Renders with `data` as dot (`.`) and `$`.
    pub fn render(&self, data: &Value) -> Result<String, TemplateError> {
        eval::execute(&self.tree, &self.limits, data).map_err(|e| self.exec_error(e))
    }

    /// Renders and parses the output as JSON; invalid JSON is an error showing the region.
    pub fn render_json(&self, data: &Value) -> Result<Value, TemplateError> {
        let out = self.render(data)?;
        serde_json::from_str(&out).map_err(|e| TemplateError::InvalidJson {
            template: self.name.clone(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
            excerpt: excerpt(&out, e.line(), e.column()),
        })
    }

    fn exec_error(&self, e: eval::ExecError) -> TemplateError {
        let template = self.name.clone();
        match e {
            eval::ExecError::At(pos, message) => {
                let (line, column) = line_col(&self.source, pos);
                TemplateError::Execution {
                    template,
                    line,
                    column,
                    message,
                }
            }
            eval::ExecError::Fail(pos, message) => {
                let (line, column) = line_col(&self.source, pos);
                TemplateError::Failed {
                    template,
                    line,
                    column,
                    message,
                }
            }
            eval::ExecError::Limit(limit, max) => TemplateError::Limit {
                template,
                limit,
                max,
            },
        }
    }
}

/// 1-based line and column (in characters) of byte offset `pos`.
fn line_col(text: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(text.len());
    let before = text.get(..pos).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// Up to two lines before `line` and the line itself, then a caret under `column`.
fn excerpt(text: &str, line: usize, column: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let last = line.clamp(1, lines.len().max(1));
    let first = last.saturating_sub(2).max(1);
    let mut out = String::new();
    for n in first..=last {
        if let Some(l) = lines.get(n - 1) {
            out.push_str(&format!("{n:>4} | {l}\n"));
        }
    }
    out.push_str(&format!("     | {}^", " ".repeat(column.saturating_sub(1))));
    out
}

#[cfg(test)]
mod tests;
