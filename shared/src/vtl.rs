//! Apache Velocity (VTL), the subset API Gateway mapping templates use: references (`$x`,
//! `$!x`, `${x}`, `$a.b.c`, `$a.m(args)`, `$a[i]`), `#set`, `#if/#elseif/#else/#end`,
//! `#foreach/#end` (`$foreach.hasNext`, `$foreach.index`, `$foreach.count`, `$velocityCount`),
//! `#break`, `#stop`, `##` and `#* *#` comments, string literals with interpolation, and the
//! objects API Gateway provides: `$input` (`body`, `json()`, `path()`, `params()`), `$context`,
//! `$stageVariables`, `$util`. JSONPath is the subset AWS documents: `$`, `.name`, `['name']`,
//! `[n]`, `[*]`, `..name`.
//!
//! Parsed and checked once at compile time ([`Template::parse`]); rendering appends to a buffer
//! the caller reuses. Values computed while rendering (`$input.path` results, `#set` variables)
//! are owned and allocate; a template of plain text and `$context`/`$stageVariables`/`$input.body`
//! references renders without allocating.
//!
//! Whitespace: a line holding only a directive (or a comment) and whitespace renders nothing,
//! not even its newline (Velocity 2's `lines` gobbling), so templates can be indented freely.
//! Truthiness is Velocity 1.7's (API Gateway's): only `null` and `false` are false.
//!
//! Bounds: `#foreach` stops after [`VTL_FOREACH_MAX`] iterations (AWS's limit), a render after
//! [`VTL_STEPS_MAX`] evaluation steps or [`VTL_OUTPUT_MAX_BYTES`] of output, nesting at [`VTL_DEPTH_MAX`].

use std::fmt::Write as _;

use serde_json::Value as Json;

use crate::limits::{
    VTL_DEPTH_MAX, VTL_FOREACH_MAX, VTL_OUTPUT_MAX_BYTES, VTL_STEPS_MAX, VTL_TEMPLATE_MAX_BYTES,
};
use crate::template::{Context, ContextVar};

/// A parsed template.
#[derive(Debug, Clone, Default)]
pub struct Template {
    nodes: Vec<Node>,
}

/// What a template set through `$context.responseOverride` while rendering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub status: Option<u16>,
    pub headers: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
enum Node {
    Text(Box<str>),
    Ref {
        r: Ref,
        quiet: bool,
        /// The reference as written, rendered when it is an undefined variable.
        raw: Box<str>,
    },
    Set(Ref, Expr),
    If(Vec<(Expr, Vec<Node>)>, Vec<Node>),
    Foreach(Box<str>, Expr, Vec<Node>),
    Break,
    Stop,
}

#[derive(Debug, Clone)]
struct Ref {
    root: Root,
    segs: Vec<Seg>,
    /// `$context.NAME` with nothing after it, resolved at parse time.
    var: Option<ContextVar>,
}

#[derive(Debug, Clone, PartialEq)]
enum Root {
    Var(Box<str>),
    Input,
    Context,
    StageVariables,
    Util,
    Foreach,
    VelocityCount,
}

#[derive(Debug, Clone)]
enum Seg {
    Prop(Box<str>),
    Call(Box<str>, Vec<Expr>),
    Index(Expr),
}

#[derive(Debug, Clone)]
enum Expr {
    Lit(V),
    /// A double-quoted string: rendered as a template.
    Interp(Vec<Node>),
    Ref(Ref),
    List(Vec<Expr>),
    Range(Box<Expr>, Box<Expr>),
    Map(Vec<(Expr, Expr)>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
    /// A JSONPath argument parsed at compile time.
    Path(Box<str>, Vec<Step>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

/// A runtime value: Java's types as Velocity sees them.
#[derive(Debug, Clone, PartialEq)]
pub enum V {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<V>),
    /// Insertion-ordered.
    Map(Vec<(String, V)>),
}

/// A JSONPath step.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    Child(Box<str>),
    Index(i64),
    Wildcard,
    Descend(Box<str>),
}

// === parsing ===

struct Parser<'t> {
    s: &'t str,
    pos: usize,
    depth: usize,
    /// Only whitespace since the last newline (for gobbling directive lines).
    clean_line: bool,
}

/// A directive token before the tree is built.
enum Tok {
    Node(Node),
    If(Expr),
    ElseIf(Expr),
    Else,
    End,
    Foreach(Box<str>, Expr),
}

impl Template {
    /// Parses `text`; an error names the problem and its byte offset.
    pub fn parse(text: &str) -> Result<Template, String> {
        if text.len() > VTL_TEMPLATE_MAX_BYTES {
            return Err(format!(
                "template is {} bytes; the limit is {VTL_TEMPLATE_MAX_BYTES}",
                text.len()
            ));
        }
        let mut p = Parser {
            s: text,
            pos: 0,
            depth: 0,
            clean_line: true,
        };
        let toks = p.tokens(None)?;
        let mut it = toks.into_iter();
        let (nodes, end) = build(&mut it, 0)?;
        match end {
            None => Ok(Template { nodes }),
            Some(_) => Err("#end, #else or #elseif without an open #if or #foreach".into()),
        }
    }

    /// Renders into `out` (appending).
    pub fn render(&self, cx: &dyn Context, out: &mut Vec<u8>) -> Overrides {
        let mut r = Render {
            cx,
            vars: Vec::new(),
            body: None,
            overrides: Overrides::default(),
            loops: Vec::new(),
            steps: 0,
            limit: out.len().saturating_add(VTL_OUTPUT_MAX_BYTES),
        };
        let _ = r.nodes(&self.nodes, out);
        r.overrides
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

fn build(
    it: &mut std::vec::IntoIter<Tok>,
    depth: usize,
) -> Result<(Vec<Node>, Option<Tok>), String> {
    if depth > VTL_DEPTH_MAX {
        return Err("directives nested too deeply".into());
    }
    let mut nodes = Vec::new();
    while let Some(t) = it.next() {
        match t {
            Tok::Node(n) => nodes.push(n),
            Tok::If(cond) => {
                let mut branches = Vec::new();
                let mut cond = cond;
                let otherwise = loop {
                    let (body, end) = build(it, depth + 1)?;
                    branches.push((cond, body));
                    match end {
                        Some(Tok::ElseIf(c)) => cond = c,
                        Some(Tok::Else) => {
                            let (body, end) = build(it, depth + 1)?;
                            if !matches!(end, Some(Tok::End)) {
                                return Err("#else without #end".into());
                            }
                            break body;
                        }
                        Some(Tok::End) => break Vec::new(),
                        _ => return Err("#if without #end".into()),
                    }
                };
                nodes.push(Node::If(branches, otherwise));
            }
            Tok::Foreach(var, iter) => {
                let (body, end) = build(it, depth + 1)?;
                if !matches!(end, Some(Tok::End)) {
                    return Err("#foreach without #end".into());
                }
                nodes.push(Node::Foreach(var, iter, body));
            }
            end @ (Tok::ElseIf(_) | Tok::Else | Tok::End) => return Ok((nodes, Some(end))),
        }
    }
    Ok((nodes, None))
}

fn is_ident_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_ident(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl<'t> Parser<'t> {
    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<u8> {
        self.s.as_bytes().get(self.pos + n).copied()
    }

    fn rest(&self) -> &'t str {
        &self.s[self.pos..]
    }

    fn fail<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at offset {}", self.pos))
    }

    fn ident(&mut self) -> Option<&'t str> {
        let start = self.pos;
        if !self.peek().is_some_and(is_ident_start) {
            return None;
        }
        while self.peek().is_some_and(is_ident) {
            self.pos += 1;
        }
        Some(&self.s[start..self.pos])
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    /// Template text up to the end (or, inside a string literal, up to `until`).
    fn tokens(&mut self, until: Option<usize>) -> Result<Vec<Tok>, String> {
        self.depth += 1;
        if self.depth > VTL_DEPTH_MAX {
            return self.fail("nested too deeply");
        }
        let end = until.unwrap_or(self.s.len());
        let mut toks: Vec<Tok> = Vec::new();
        let mut lit = String::new();
        while self.pos < end {
            let b = self.s.as_bytes()[self.pos];
            match b {
                b'\\' if matches!(self.peek_at(1), Some(b'$' | b'#')) => {
                    lit.push(char::from(self.s.as_bytes()[self.pos + 1]));
                    self.pos += 2;
                    self.clean_line = false;
                }
                b'$' => {
                    let start = self.pos;
                    let r = self.reference()?;
                    if self.pos > end {
                        return self.fail("a string ends inside a reference");
                    }
                    match r {
                        Some((r, quiet)) => {
                            flush(&mut lit, &mut toks);
                            let raw = self.s[start..self.pos].into();
                            toks.push(Tok::Node(Node::Ref { r, quiet, raw }));
                        }
                        None => {
                            self.pos = start + 1;
                            lit.push('$');
                        }
                    }
                    self.clean_line = false;
                }
                b'#' => {
                    let start = self.pos;
                    let line_clean = self.clean_line;
                    let d = self.directive(end)?;
                    if self.pos > end {
                        return self.fail("a string ends inside a directive");
                    }
                    match d {
                        Some(tok) => {
                            // A directive alone on its line takes the line with it.
                            let after_ws = self.rest()[..end - self.pos]
                                .find(|c: char| c != ' ' && c != '\t' && c != '\r')
                                .map(|i| self.pos + i);
                            let ends_line = match after_ws {
                                None => true,
                                Some(i) => self.s.as_bytes()[i] == b'\n',
                            };
                            if line_clean && ends_line && until.is_none() {
                                let keep = lit.trim_end_matches([' ', '\t']).len();
                                lit.truncate(keep);
                                self.pos = after_ws.map_or(end, |i| i + 1);
                                self.clean_line = true;
                            } else {
                                self.clean_line = false;
                            }
                            flush(&mut lit, &mut toks);
                            if let Some(t) = tok {
                                toks.push(t);
                            }
                        }
                        None => {
                            self.pos = start + 1;
                            lit.push('#');
                            self.clean_line = false;
                        }
                    }
                }
                _ => {
                    let next = self.rest()[..end - self.pos]
                        .find(['$', '#', '\\'])
                        .map_or(end, |i| self.pos + i)
                        .max(self.pos + 1);
                    let next = (next..=end)
                        .find(|&i| self.s.is_char_boundary(i))
                        .unwrap_or(end);
                    let text = &self.s[self.pos..next];
                    for c in text.bytes() {
                        match c {
                            b'\n' => self.clean_line = true,
                            b' ' | b'\t' | b'\r' => {}
                            _ => self.clean_line = false,
                        }
                    }
                    lit.push_str(text);
                    self.pos = next;
                }
            }
        }
        flush(&mut lit, &mut toks);
        self.depth -= 1;
        Ok(toks)
    }

    /// `#...` at `pos`: `Ok(None)` when it is literal text; `Ok(Some(None))` for a comment.
    fn directive(&mut self, end: usize) -> Result<Option<Option<Tok>>, String> {
        let start = self.pos;
        self.pos += 1;
        match self.peek() {
            Some(b'#') => {
                // The comment takes its newline with it.
                let nl = self.rest()[..end - self.pos]
                    .find('\n')
                    .map_or(end, |i| self.pos + i + 1);
                self.pos = nl;
                return Ok(Some(None));
            }
            Some(b'*') => {
                let Some(close) = self.rest()[..end - self.pos].find("*#") else {
                    self.pos = start;
                    return self.fail("unterminated #* comment");
                };
                self.pos += close + 2;
                return Ok(Some(None));
            }
            _ => {}
        }
        let braced = self.peek() == Some(b'{');
        if braced {
            self.pos += 1;
        }
        let Some(name) = self.ident() else {
            self.pos = start;
            return Ok(None);
        };
        if braced {
            if self.peek() != Some(b'}') {
                self.pos = start;
                return Ok(None);
            }
            self.pos += 1;
        }
        let tok = match name {
            "else" => Tok::Else,
            "end" => Tok::End,
            "break" => Tok::Node(Node::Break),
            "stop" => Tok::Node(Node::Stop),
            "set" | "if" | "elseif" | "foreach" => {
                self.skip_ws();
                if self.peek() != Some(b'(') {
                    return self.fail(&format!("#{name} needs (...)"));
                }
                self.pos += 1;
                self.skip_ws();
                let tok = match name {
                    "set" => {
                        let Some((target, _)) = self.reference()? else {
                            return self.fail("#set needs a $reference");
                        };
                        if matches!(target.root, Root::Input | Root::Util | Root::StageVariables)
                            || (target.root == Root::Context
                                && !matches!(target.segs.first(), Some(Seg::Prop(p)) if &**p == "responseOverride" || &**p == "requestOverride"))
                        {
                            return self.fail(
                                "#set can assign variables and $context.responseOverride only",
                            );
                        }
                        self.skip_ws();
                        if self.peek() != Some(b'=') {
                            return self.fail("#set needs =");
                        }
                        self.pos += 1;
                        let value = self.expr()?;
                        Tok::Node(Node::Set(target, value))
                    }
                    "if" => Tok::If(self.expr()?),
                    "elseif" => Tok::ElseIf(self.expr()?),
                    _ => {
                        if self.peek() != Some(b'$') {
                            return self.fail("#foreach needs $var in ...");
                        }
                        self.pos += 1;
                        let Some(var) = self.ident() else {
                            return self.fail("#foreach needs $var in ...");
                        };
                        self.skip_ws();
                        if !self.rest().starts_with("in") {
                            return self.fail("#foreach needs $var in ...");
                        }
                        self.pos += 2;
                        Tok::Foreach(var.into(), self.expr()?)
                    }
                };
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return self.fail(&format!("#{name}(...) is not closed"));
                }
                self.pos += 1;
                tok
            }
            "macro" | "parse" | "include" | "define" | "evaluate" => {
                return self.fail(&format!("#{name} is not supported in mapping templates"))
            }
            _ => {
                self.pos = start;
                return Ok(None);
            }
        };
        Ok(Some(Some(tok)))
    }

    /// `$...` at `pos`; `Ok(None)` when it is literal text (`pos` then undefined).
    fn reference(&mut self) -> Result<Option<(Ref, bool)>, String> {
        self.pos += 1;
        let quiet = self.peek() == Some(b'!');
        if quiet {
            self.pos += 1;
        }
        let braced = self.peek() == Some(b'{');
        if braced {
            self.pos += 1;
        }
        let Some(name) = self.ident() else {
            return Ok(None);
        };
        let root = match name {
            "input" => Root::Input,
            "context" => Root::Context,
            "stageVariables" => Root::StageVariables,
            "util" => Root::Util,
            "foreach" => Root::Foreach,
            "velocityCount" => Root::VelocityCount,
            n => Root::Var(n.into()),
        };
        let mut segs = Vec::new();
        loop {
            match self.peek() {
                Some(b'.') if self.peek_at(1).is_some_and(is_ident_start) => {
                    self.pos += 1;
                    let mut name = self.ident().expect("checked an identifier starts");
                    // Header names (`$context.responseOverride.header.X-Tea`) may hold '-'.
                    if root == Root::Context {
                        let start = self.pos - name.len();
                        while self.peek() == Some(b'-') && self.peek_at(1).is_some_and(is_ident) {
                            self.pos += 1;
                            while self.peek().is_some_and(is_ident) {
                                self.pos += 1;
                            }
                        }
                        name = &self.s[start..self.pos];
                    }
                    if self.peek() == Some(b'(') {
                        self.pos += 1;
                        let args = self.args(b')')?;
                        segs.push(Seg::Call(name.into(), args));
                    } else {
                        segs.push(Seg::Prop(name.into()));
                    }
                }
                Some(b'[') => {
                    self.pos += 1;
                    let e = self.expr()?;
                    self.skip_ws();
                    if self.peek() != Some(b']') {
                        return self.fail("[ is not closed");
                    }
                    self.pos += 1;
                    segs.push(Seg::Index(e));
                }
                _ => break,
            }
        }
        if braced {
            if self.peek() != Some(b'}') {
                return Ok(None);
            }
            self.pos += 1;
        }
        // `$input.json('$.a')`: the path is parsed now, so a bad one fails the deployment.
        if root == Root::Input {
            if let Some(Seg::Call(m, args)) = segs.first_mut() {
                if &**m == "json" || &**m == "path" {
                    if let [Expr::Lit(V::Str(p))] = args.as_slice() {
                        let steps = parse_jsonpath(p)?;
                        args[0] = Expr::Path(p.as_str().into(), steps);
                    }
                }
            }
        }
        let var = match root {
            Root::Context => context_var(&segs),
            _ => None,
        };
        Ok(Some((Ref { root, segs, var }, quiet)))
    }

    fn args(&mut self, close: u8) -> Result<Vec<Expr>, String> {
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(close) {
            self.pos += 1;
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(args);
                }
                _ => return self.fail("expected , or a closing bracket"),
            }
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > VTL_DEPTH_MAX {
            return self.fail("expression nested too deeply");
        }
        let e = self.binary(0);
        self.depth -= 1;
        e
    }

    /// Precedence climbing: or < and < equality < relational < additive < multiplicative.
    fn binary(&mut self, level: u8) -> Result<Expr, String> {
        if level == 6 {
            return self.unary();
        }
        let mut left = self.binary(level + 1)?;
        loop {
            self.skip_ws();
            let Some(op) = self.operator(level) else {
                return Ok(left);
            };
            let right = self.binary(level + 1)?;
            left = Expr::Bin(op, Box::new(left), Box::new(right));
        }
    }

    fn operator(&mut self, level: u8) -> Option<Op> {
        let r = self.rest();
        let word =
            |w: &str| r.starts_with(w) && !r.as_bytes().get(w.len()).copied().is_some_and(is_ident);
        let (op, len) = match level {
            0 if r.starts_with("||") => (Op::Or, 2),
            0 if word("or") => (Op::Or, 2),
            1 if r.starts_with("&&") => (Op::And, 2),
            1 if word("and") => (Op::And, 3),
            2 if r.starts_with("==") => (Op::Eq, 2),
            2 if r.starts_with("!=") => (Op::Ne, 2),
            2 if word("eq") => (Op::Eq, 2),
            2 if word("ne") => (Op::Ne, 2),
            3 if r.starts_with("<=") => (Op::Le, 2),
            3 if r.starts_with(">=") => (Op::Ge, 2),
            3 if r.starts_with('<') => (Op::Lt, 1),
            3 if r.starts_with('>') => (Op::Gt, 1),
            3 if word("lt") => (Op::Lt, 2),
            3 if word("le") => (Op::Le, 2),
            3 if word("gt") => (Op::Gt, 2),
            3 if word("ge") => (Op::Ge, 2),
            4 if r.starts_with('+') => (Op::Add, 1),
            4 if r.starts_with('-') && !r.starts_with("->") => (Op::Sub, 1),
            5 if r.starts_with('*') => (Op::Mul, 1),
            5 if r.starts_with('/') => (Op::Div, 1),
            5 if r.starts_with('%') => (Op::Mod, 1),
            _ => return None,
        };
        self.pos += len;
        Some(op)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        self.skip_ws();
        let r = self.rest();
        if r.starts_with('!') && !r.starts_with("!=") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.nested_unary()?)));
        }
        if r.starts_with("not") && !r.as_bytes().get(3).copied().is_some_and(is_ident) {
            self.pos += 3;
            return Ok(Expr::Not(Box::new(self.nested_unary()?)));
        }
        if r.starts_with('-') && !r.as_bytes().get(1).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
            return Ok(Expr::Neg(Box::new(self.nested_unary()?)));
        }
        self.primary()
    }

    fn nested_unary(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > VTL_DEPTH_MAX {
            return self.fail("expression nested too deeply");
        }
        let e = self.unary();
        self.depth -= 1;
        e
    }

    fn primary(&mut self) -> Result<Expr, String> {
        self.skip_ws();
        match self.peek() {
            Some(b'$') => match self.reference()? {
                Some((r, _)) => Ok(Expr::Ref(r)),
                None => self.fail("expected a $reference"),
            },
            Some(b'(') => {
                self.pos += 1;
                let e = self.expr()?;
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return self.fail("( is not closed");
                }
                self.pos += 1;
                Ok(e)
            }
            Some(b'\'') => {
                self.pos += 1;
                let Some(close) = self.rest().find('\'') else {
                    return self.fail("unterminated string");
                };
                let s = self.rest()[..close].to_string();
                self.pos += close + 1;
                Ok(Expr::Lit(V::Str(s)))
            }
            Some(b'"') => {
                self.pos += 1;
                let Some(close) = self.rest().find('"') else {
                    return self.fail("unterminated string");
                };
                let end = self.pos + close;
                let saved = self.clean_line;
                let toks = self.tokens(Some(end))?;
                self.clean_line = saved;
                self.pos = end + 1;
                let mut it = toks.into_iter();
                let (nodes, stray) = build(&mut it, self.depth)?;
                if stray.is_some() {
                    return self.fail("#end in a string");
                }
                match nodes.as_slice() {
                    [] => Ok(Expr::Lit(V::Str(String::new()))),
                    [Node::Text(t)] => Ok(Expr::Lit(V::Str(t.to_string()))),
                    _ => Ok(Expr::Interp(nodes)),
                }
            }
            Some(b'[') => {
                self.pos += 1;
                self.skip_ws();
                if self.peek() == Some(b']') {
                    self.pos += 1;
                    return Ok(Expr::List(Vec::new()));
                }
                let first = self.expr()?;
                self.skip_ws();
                if self.rest().starts_with("..") {
                    self.pos += 2;
                    let last = self.expr()?;
                    self.skip_ws();
                    if self.peek() != Some(b']') {
                        return self.fail("[a..b] is not closed");
                    }
                    self.pos += 1;
                    return Ok(Expr::Range(Box::new(first), Box::new(last)));
                }
                let mut items = vec![first];
                loop {
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => {
                            self.pos += 1;
                            items.push(self.expr()?);
                        }
                        Some(b']') => {
                            self.pos += 1;
                            return Ok(Expr::List(items));
                        }
                        _ => return self.fail("[ is not closed"),
                    }
                }
            }
            Some(b'{') => {
                self.pos += 1;
                let mut entries = Vec::new();
                self.skip_ws();
                if self.peek() == Some(b'}') {
                    self.pos += 1;
                    return Ok(Expr::Map(entries));
                }
                loop {
                    let k = self.expr()?;
                    self.skip_ws();
                    if self.peek() != Some(b':') {
                        return self.fail("expected : in a map");
                    }
                    self.pos += 1;
                    let v = self.expr()?;
                    entries.push((k, v));
                    self.skip_ws();
                    match self.peek() {
                        Some(b',') => self.pos += 1,
                        Some(b'}') => {
                            self.pos += 1;
                            return Ok(Expr::Map(entries));
                        }
                        _ => return self.fail("{ is not closed"),
                    }
                }
            }
            Some(c) if c.is_ascii_digit() || c == b'-' => {
                let start = self.pos;
                self.pos += 1;
                while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                    self.pos += 1;
                }
                if self.peek() == Some(b'.') && self.peek_at(1).is_some_and(|b| b.is_ascii_digit())
                {
                    self.pos += 1;
                    while self.peek().is_some_and(|b| b.is_ascii_digit()) {
                        self.pos += 1;
                    }
                    return match self.s[start..self.pos].parse::<f64>() {
                        Ok(f) => Ok(Expr::Lit(V::Float(f))),
                        Err(_) => self.fail("invalid number"),
                    };
                }
                match self.s[start..self.pos].parse::<i64>() {
                    Ok(n) => Ok(Expr::Lit(V::Int(n))),
                    Err(_) => self.fail("invalid number"),
                }
            }
            _ => match self.ident() {
                Some("true") => Ok(Expr::Lit(V::Bool(true))),
                Some("false") => Ok(Expr::Lit(V::Bool(false))),
                Some("null") => Ok(Expr::Lit(V::Null)),
                _ => self.fail("expected a value"),
            },
        }
    }
}

fn flush(lit: &mut String, toks: &mut Vec<Tok>) {
    if !lit.is_empty() {
        toks.push(Tok::Node(Node::Text(std::mem::take(lit).into())));
    }
}

/// Parses AWS's JSONPath subset.
pub fn parse_jsonpath(p: &str) -> Result<Vec<Step>, String> {
    let bad = || format!("Invalid JSONPath '{p}': use $, .name, ['name'], [n], [*] or ..name");
    let p = p.trim();
    let Some(mut rest) = p.strip_prefix('$') else {
        return Err(bad());
    };
    let mut steps = Vec::new();
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("..") {
            let n = r.find(['.', '[']).unwrap_or(r.len());
            if n == 0 {
                return Err(bad());
            }
            steps.push(Step::Descend(r[..n].into()));
            rest = &r[n..];
        } else if let Some(r) = rest.strip_prefix('.') {
            let n = r.find(['.', '[']).unwrap_or(r.len());
            match &r[..n] {
                "" => return Err(bad()),
                "*" => steps.push(Step::Wildcard),
                name => steps.push(Step::Child(name.into())),
            }
            rest = &r[n..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let close = r.find(']').ok_or_else(bad)?;
            let inner = r[..close].trim();
            if inner == "*" {
                steps.push(Step::Wildcard);
            } else if let Some(q) = inner
                .strip_prefix('\'')
                .and_then(|s| s.strip_suffix('\''))
                .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
            {
                steps.push(Step::Child(q.into()));
            } else {
                steps.push(Step::Index(inner.parse().map_err(|_| bad())?));
            }
            rest = &r[close + 1..];
        } else {
            return Err(bad());
        }
    }
    Ok(steps)
}

/// Selects what `steps` name in `doc`; `many` when the path can match several (`[*]`, `..`).
pub fn select<'j>(doc: &'j Json, steps: &[Step], out: &mut Vec<&'j Json>) -> bool {
    let mut cur = vec![doc];
    let mut many = false;
    for s in steps {
        let mut next = Vec::new();
        for v in cur {
            match s {
                Step::Child(n) => next.extend(v.get(&**n)),
                Step::Index(i) => {
                    if let Json::Array(a) = v {
                        let i = if *i < 0 { a.len() as i64 + i } else { *i };
                        next.extend(usize::try_from(i).ok().and_then(|i| a.get(i)));
                    }
                }
                Step::Wildcard => {
                    many = true;
                    match v {
                        Json::Array(a) => next.extend(a.iter()),
                        Json::Object(o) => next.extend(o.values()),
                        _ => {}
                    }
                }
                Step::Descend(n) => {
                    many = true;
                    descend(v, n, &mut next);
                }
            }
        }
        cur = next;
    }
    out.extend(cur);
    many
}

fn descend<'j>(v: &'j Json, name: &str, out: &mut Vec<&'j Json>) {
    match v {
        Json::Object(o) => {
            if name == "*" {
                out.extend(o.values());
            } else if let Some(x) = o.get(name) {
                out.push(x);
            }
            for x in o.values() {
                descend(x, name, out);
            }
        }
        Json::Array(a) => {
            for x in a {
                descend(x, name, out);
            }
        }
        _ => {}
    }
}

// === rendering ===

struct Render<'c> {
    cx: &'c dyn Context,
    vars: Vec<(String, V)>,
    /// The body parsed as JSON, once (`None`: not yet; `Some(None)`: not JSON).
    body: Option<Option<Json>>,
    overrides: Overrides,
    /// Open `#foreach` loops: (index, count).
    loops: Vec<(usize, usize)>,
    steps: usize,
    limit: usize,
}

/// Why rendering stopped early.
enum Halt {
    Break,
    Stop,
}

impl Render<'_> {
    fn step(&mut self) -> Result<(), Halt> {
        self.steps += 1;
        if self.steps > VTL_STEPS_MAX {
            return Err(Halt::Stop);
        }
        Ok(())
    }

    fn nodes(&mut self, nodes: &[Node], out: &mut Vec<u8>) -> Result<(), Halt> {
        for n in nodes {
            self.step()?;
            if out.len() > self.limit {
                return Err(Halt::Stop);
            }
            match n {
                Node::Text(t) => out.extend_from_slice(t.as_bytes()),
                Node::Ref { r, quiet, raw } => self.render_ref(r, *quiet, raw, out),
                Node::Set(target, e) => {
                    let v = self.eval(e);
                    self.set(target, v);
                }
                Node::If(branches, otherwise) => {
                    let chosen = branches
                        .iter()
                        .find(|(c, _)| truthy(&self.eval(c)))
                        .map_or(otherwise.as_slice(), |(_, b)| b.as_slice());
                    self.nodes(chosen, out)?;
                }
                Node::Foreach(var, iter, body) => {
                    let items = match self.eval(iter) {
                        V::List(l) => l,
                        V::Map(m) => m.into_iter().map(|(_, v)| v).collect(),
                        V::Null => Vec::new(),
                        other => vec![other],
                    };
                    let saved = self.get_var(var).cloned();
                    let count = items.len().min(VTL_FOREACH_MAX);
                    self.loops.push((0, count));
                    let mut result = Ok(());
                    for (i, item) in items.into_iter().take(VTL_FOREACH_MAX).enumerate() {
                        if let Some(l) = self.loops.last_mut() {
                            l.0 = i;
                        }
                        self.put_var(var, item);
                        match self.nodes(body, out) {
                            Ok(()) => {}
                            Err(Halt::Break) => break,
                            Err(Halt::Stop) => {
                                result = Err(Halt::Stop);
                                break;
                            }
                        }
                    }
                    self.loops.pop();
                    match saved {
                        Some(v) => self.put_var(var, v),
                        None => self.vars.retain(|(n, _)| n != &**var),
                    }
                    result?;
                }
                Node::Break => return Err(Halt::Break),
                Node::Stop => return Err(Halt::Stop),
            }
        }
        Ok(())
    }

    fn get_var(&self, name: &str) -> Option<&V> {
        self.vars.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    fn put_var(&mut self, name: &str, v: V) {
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = v,
            None => self.vars.push((name.to_string(), v)),
        }
    }

    fn render_ref(&mut self, r: &Ref, quiet: bool, raw: &str, out: &mut Vec<u8>) {
        // The common references write straight into the output.
        match (&r.root, r.segs.as_slice()) {
            (Root::Input, [Seg::Prop(p)]) if &**p == "body" => {
                out.extend_from_slice(self.cx.body());
                return;
            }
            (Root::StageVariables, [Seg::Prop(p)]) => {
                if let Some(v) = self.cx.stage_variable(p) {
                    out.extend_from_slice(v.as_bytes());
                }
                return;
            }
            (Root::Context, _) if r.var.is_some() => {
                if let Some(var) = r.var {
                    self.cx.context(var, out);
                }
                return;
            }
            (Root::Context, [Seg::Prop(a), Seg::Prop(key)]) if &**a == "authorizer" => {
                if let Some(v) = self.cx.authorizer(key) {
                    out.extend_from_slice(v.as_bytes());
                }
                return;
            }
            _ => {}
        }
        let v = self.eval_ref(r);
        match v {
            V::Null => {
                let undefined = matches!(&r.root, Root::Var(n) if self.get_var(n).is_none());
                if !quiet && undefined {
                    out.extend_from_slice(raw.as_bytes());
                }
            }
            v => write_value(&v, out),
        }
    }

    fn set(&mut self, target: &Ref, v: V) {
        match &target.root {
            Root::Var(name) => {
                if target.segs.is_empty() {
                    self.put_var(name, v);
                    return;
                }
                // `#set($map.key = v)`: a put into a map variable.
                if let [Seg::Prop(key)] = target.segs.as_slice() {
                    if let Some((_, V::Map(m))) = self.vars.iter_mut().find(|(n, _)| n == &**name) {
                        map_put(m, key, v);
                    }
                }
            }
            Root::Context => {
                let names: Vec<&str> = target
                    .segs
                    .iter()
                    .filter_map(|s| match s {
                        Seg::Prop(p) => Some(&**p),
                        _ => None,
                    })
                    .collect();
                match names.as_slice() {
                    ["responseOverride", "status"] => {
                        self.overrides.status = match &v {
                            V::Int(n) => u16::try_from(*n).ok(),
                            V::Str(s) => s.trim().parse().ok(),
                            _ => None,
                        }
                        .filter(|s| (100..=599).contains(s));
                    }
                    ["responseOverride", "header", name] => {
                        let value = to_string(&v);
                        let h = &mut self.overrides.headers;
                        match h.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                            Some(slot) => slot.1 = value,
                            None => h.push((name.to_string(), value)),
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }

    fn eval(&mut self, e: &Expr) -> V {
        if self.step().is_err() {
            return V::Null;
        }
        match e {
            Expr::Lit(v) => v.clone(),
            Expr::Path(p, _) => V::Str(p.to_string()),
            Expr::Interp(nodes) => {
                let mut buf = Vec::new();
                let _ = self.nodes(nodes, &mut buf);
                V::Str(String::from_utf8_lossy(&buf).into_owned())
            }
            Expr::Ref(r) => self.eval_ref(r),
            Expr::List(items) => V::List(items.iter().map(|i| self.eval(i)).collect()),
            Expr::Range(a, b) => {
                let (a, b) = (as_int(&self.eval(a)), as_int(&self.eval(b)));
                match (a, b) {
                    (Some(a), Some(b)) => {
                        let n = (a - b).unsigned_abs().min(VTL_FOREACH_MAX as u64) as i64;
                        let dir = if b >= a { 1 } else { -1 };
                        V::List((0..=n).map(|i| V::Int(a + dir * i)).collect())
                    }
                    _ => V::Null,
                }
            }
            Expr::Map(entries) => V::Map(
                entries
                    .iter()
                    .map(|(k, v)| (to_string(&self.eval(k)), self.eval(v)))
                    .collect(),
            ),
            Expr::Not(e) => V::Bool(!truthy(&self.eval(e))),
            Expr::Neg(e) => match self.eval(e) {
                V::Int(n) => V::Int(n.wrapping_neg()),
                V::Float(f) => V::Float(-f),
                _ => V::Null,
            },
            Expr::Bin(Op::Or, a, b) => V::Bool(truthy(&self.eval(a)) || truthy(&self.eval(b))),
            Expr::Bin(Op::And, a, b) => V::Bool(truthy(&self.eval(a)) && truthy(&self.eval(b))),
            Expr::Bin(op, a, b) => {
                let (a, b) = (self.eval(a), self.eval(b));
                binary(*op, &a, &b)
            }
        }
    }

    fn eval_ref(&mut self, r: &Ref) -> V {
        let mut segs = r.segs.as_slice();
        let base = match &r.root {
            Root::Var(name) => {
                // `$list.add(x)` and `$map.put(k, v)` change the variable.
                if let [Seg::Call(m, args)] = segs {
                    if matches!(&**m, "add" | "put") {
                        let args: Vec<V> = args.iter().map(|a| self.eval(a)).collect();
                        if let Some((_, var)) = self.vars.iter_mut().find(|(n, _)| n == &**name) {
                            return mutate(var, m, args);
                        }
                    }
                }
                self.get_var(name).cloned().unwrap_or(V::Null)
            }
            Root::VelocityCount => match self.loops.last() {
                Some((i, _)) => V::Int(*i as i64 + 1),
                None => V::Null,
            },
            Root::Foreach => {
                let Some(&(i, count)) = self.loops.last() else {
                    return V::Null;
                };
                let Some(Seg::Prop(p)) = segs.first() else {
                    return V::Null;
                };
                segs = &segs[1..];
                match &**p {
                    "hasNext" => V::Bool(i + 1 < count),
                    "index" => V::Int(i as i64),
                    "count" => V::Int(i as i64 + 1),
                    "first" => V::Bool(i == 0),
                    "last" => V::Bool(i + 1 == count),
                    _ => V::Null,
                }
            }
            Root::StageVariables => {
                let name = match segs.first() {
                    Some(Seg::Prop(p)) => Some(p.to_string()),
                    Some(Seg::Index(e)) => Some(to_string(&self.eval(e))),
                    Some(Seg::Call(m, args)) if &**m == "get" && args.len() == 1 => {
                        Some(to_string(&self.eval(&args[0])))
                    }
                    _ => None,
                };
                let Some(name) = name else {
                    return V::Null;
                };
                segs = &segs[1..];
                match self.cx.stage_variable(&name) {
                    Some(v) => V::Str(v.to_string()),
                    None => V::Null,
                }
            }
            Root::Context if matches!(segs.first(), Some(Seg::Prop(a)) if &**a == "authorizer") => {
                // `$context.authorizer.claims.sub`, and the bracket forms AWS documents for
                // names a property cannot spell: `.claims['cognito:groups']`, `['key']`.
                let mut key = String::new();
                let mut n = 1;
                for s in &segs[1..] {
                    let part = match s {
                        Seg::Prop(p) => p.to_string(),
                        Seg::Index(e) => match self.eval(e) {
                            V::Str(s) => s,
                            _ => break,
                        },
                        Seg::Call(..) => break,
                    };
                    if !key.is_empty() {
                        key.push('.');
                    }
                    key.push_str(&part);
                    n += 1;
                }
                segs = &segs[n..];
                match self.cx.authorizer(&key) {
                    Some(v) if !key.is_empty() => V::Str(v.into_owned()),
                    _ => V::Null,
                }
            }
            Root::Context => {
                let n = segs
                    .iter()
                    .take_while(|s| matches!(s, Seg::Prop(_)))
                    .count();
                let (names, rest) = segs.split_at(n);
                segs = rest;
                self.context_value(names)
            }
            Root::Input => {
                let Some(first) = segs.first() else {
                    return V::Null;
                };
                segs = &segs[1..];
                self.input(first)
            }
            Root::Util => {
                let Some(Seg::Call(f, args)) = segs.first() else {
                    return V::Null;
                };
                segs = &segs[1..];
                let args: Vec<V> = args.iter().map(|a| self.eval(a)).collect();
                util(f, &args)
            }
        };
        let mut v = base;
        for s in segs {
            v = match s {
                Seg::Prop(p) => {
                    let next = match &v {
                        V::Map(m) => map_get(m, p).cloned().unwrap_or(V::Null),
                        V::List(l) if &**p == "empty" => V::Bool(l.is_empty()),
                        _ => V::Null,
                    };
                    next
                }
                Seg::Index(e) => {
                    let i = self.eval(e);
                    index(&v, &i)
                }
                Seg::Call(m, args) => {
                    let args: Vec<V> = args.iter().map(|a| self.eval(a)).collect();
                    method(&v, m, &args)
                }
            };
            if v == V::Null {
                break;
            }
        }
        v
    }

    fn context_value(&mut self, names: &[Seg]) -> V {
        let props: Vec<&str> = names
            .iter()
            .filter_map(|s| match s {
                Seg::Prop(p) => Some(&**p),
                _ => None,
            })
            .collect();
        match props.as_slice() {
            ["responseOverride", "status"] => {
                return self.overrides.status.map_or(V::Null, |s| V::Int(s.into()))
            }
            ["responseOverride", "header", h] => {
                return self
                    .overrides
                    .headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(h))
                    .map_or(V::Null, |(_, v)| V::Str(v.clone()))
            }
            _ => {}
        }
        match context_var(names) {
            Some(var) => {
                let mut buf = Vec::new();
                self.cx.context(var, &mut buf);
                match (var, buf.as_slice()) {
                    // A boolean, so `#if($context.isCanaryRequest)` reads as AWS users write it.
                    (ContextVar::IsCanaryRequest, b"true") => V::Bool(true),
                    (ContextVar::IsCanaryRequest, b"false") => V::Bool(false),
                    (ContextVar::IsCanaryRequest, _) => V::Null,
                    _ => V::Str(String::from_utf8_lossy(&buf).into_owned()),
                }
            }
            None => V::Null,
        }
    }

    fn json_body(&mut self) -> Option<&Json> {
        if self.body.is_none() {
            let body = self.cx.body();
            let parsed = if body.iter().all(u8::is_ascii_whitespace) {
                None
            } else {
                serde_json::from_slice(body).ok()
            };
            self.body = Some(parsed);
        }
        self.body.as_ref().and_then(Option::as_ref)
    }

    fn input(&mut self, first: &Seg) -> V {
        match first {
            Seg::Prop(p) if &**p == "body" => {
                V::Str(String::from_utf8_lossy(self.cx.body()).into_owned())
            }
            Seg::Call(m, args) if &**m == "json" || &**m == "path" => {
                let steps = match args.first() {
                    Some(Expr::Path(_, steps)) => steps.clone(),
                    Some(e) => match parse_jsonpath(&to_string(&self.eval(e))) {
                        Ok(s) => s,
                        Err(_) => return V::Null,
                    },
                    None => return V::Null,
                };
                let json = &**m == "json";
                let Some(doc) = self.json_body() else {
                    return if json { V::Str("null".into()) } else { V::Null };
                };
                let mut found = Vec::new();
                let many = select(doc, &steps, &mut found);
                let picked: Json = if many {
                    Json::Array(found.into_iter().cloned().collect())
                } else {
                    found.first().map_or(Json::Null, |v| (*v).clone())
                };
                if json {
                    V::Str(picked.to_string())
                } else {
                    from_json(&picked)
                }
            }
            Seg::Call(m, args) if &**m == "params" => match args.first() {
                None => {
                    let mut path = Vec::new();
                    let mut query = Vec::new();
                    let mut header = Vec::new();
                    self.cx
                        .each_request_path(&mut |n, v| path.push((n.to_string(), bytes_value(v))));
                    self.cx.each_request_query(&mut |n, v| {
                        if map_get(&query, n).is_none() {
                            query.push((n.to_string(), V::Str(url_decode(v))));
                        }
                    });
                    self.cx.each_request_header(&mut |n, v| {
                        if map_get(&header, n).is_none() {
                            header.push((n.to_string(), bytes_value(v)));
                        }
                    });
                    V::Map(vec![
                        ("path".into(), V::Map(path)),
                        ("querystring".into(), V::Map(query)),
                        ("header".into(), V::Map(header)),
                    ])
                }
                Some(e) => {
                    let name = to_string(&self.eval(e));
                    if let Some(v) = self.cx.request_path(&name) {
                        return bytes_value(v);
                    }
                    if let Some(v) = self.cx.request_query(&name) {
                        return V::Str(url_decode(v));
                    }
                    let lower = name.to_ascii_lowercase();
                    match self.cx.request_header(&lower) {
                        Some(v) => bytes_value(v),
                        None => V::Str(String::new()),
                    }
                }
            },
            _ => V::Null,
        }
    }
}

/// The `$context` variable `names` spell, when they are one.
fn context_var(names: &[Seg]) -> Option<ContextVar> {
    let mut joined = String::new();
    for s in names {
        let Seg::Prop(p) = s else { return None };
        if !joined.is_empty() {
            joined.push('.');
        }
        joined.push_str(p);
    }
    match ContextVar::parse(&joined) {
        ContextVar::Unknown => None,
        v => Some(v),
    }
}

fn bytes_value(v: &[u8]) -> V {
    V::Str(String::from_utf8_lossy(v).into_owned())
}

fn url_decode(v: &[u8]) -> String {
    let plus: Vec<u8> = v
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    String::from_utf8_lossy(&crate::percent::decode(&plus)).into_owned()
}

fn map_get<'m>(m: &'m [(String, V)], k: &str) -> Option<&'m V> {
    m.iter().find(|(n, _)| n == k).map(|(_, v)| v)
}

fn map_put(m: &mut Vec<(String, V)>, k: &str, v: V) -> V {
    match m.iter_mut().find(|(n, _)| n == k) {
        Some(slot) => std::mem::replace(&mut slot.1, v),
        None => {
            m.push((k.to_string(), v));
            V::Null
        }
    }
}

fn mutate(var: &mut V, m: &str, mut args: Vec<V>) -> V {
    match (var, m, args.len()) {
        (V::List(l), "add", 1) => {
            if l.len() < VTL_FOREACH_MAX * 10 {
                l.push(args.remove(0));
            }
            V::Bool(true)
        }
        (V::Map(map), "put", 2) => {
            let v = args.remove(1);
            let k = to_string(&args[0]);
            map_put(map, &k, v)
        }
        _ => V::Null,
    }
}

pub fn from_json(j: &Json) -> V {
    match j {
        Json::Null => V::Null,
        Json::Bool(b) => V::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => V::Int(i),
            None => V::Float(n.as_f64().unwrap_or(0.0)),
        },
        Json::String(s) => V::Str(s.clone()),
        Json::Array(a) => V::List(a.iter().map(from_json).collect()),
        Json::Object(o) => V::Map(o.iter().map(|(k, v)| (k.clone(), from_json(v))).collect()),
    }
}

pub fn truthy(v: &V) -> bool {
    !matches!(v, V::Null | V::Bool(false))
}

fn as_int(v: &V) -> Option<i64> {
    match v {
        V::Int(n) => Some(*n),
        V::Float(f) => Some(*f as i64),
        V::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn as_num(v: &V) -> Option<f64> {
    match v {
        V::Int(n) => Some(*n as f64),
        V::Float(f) => Some(*f),
        _ => None,
    }
}

fn binary(op: Op, a: &V, b: &V) -> V {
    match op {
        Op::Eq => V::Bool(equal(a, b)),
        Op::Ne => V::Bool(!equal(a, b)),
        Op::Lt | Op::Le | Op::Gt | Op::Ge => {
            let ord = match (as_num(a), as_num(b)) {
                (Some(x), Some(y)) => x.partial_cmp(&y),
                _ => match (a, b) {
                    (V::Str(x), V::Str(y)) => Some(x.cmp(y)),
                    _ => None,
                },
            };
            let Some(ord) = ord else { return V::Null };
            V::Bool(match op {
                Op::Lt => ord.is_lt(),
                Op::Le => ord.is_le(),
                Op::Gt => ord.is_gt(),
                _ => ord.is_ge(),
            })
        }
        Op::Add if matches!(a, V::Str(_)) || matches!(b, V::Str(_)) => {
            V::Str(to_string(a) + &to_string(b))
        }
        _ => match (a, b) {
            (V::Int(x), V::Int(y)) => match op {
                Op::Add => V::Int(x.wrapping_add(*y)),
                Op::Sub => V::Int(x.wrapping_sub(*y)),
                Op::Mul => V::Int(x.wrapping_mul(*y)),
                Op::Div => x.checked_div(*y).map_or(V::Null, V::Int),
                Op::Mod => x.checked_rem(*y).map_or(V::Null, V::Int),
                _ => V::Null,
            },
            _ => match (as_num(a), as_num(b)) {
                (Some(x), Some(y)) => V::Float(match op {
                    Op::Add => x + y,
                    Op::Sub => x - y,
                    Op::Mul => x * y,
                    Op::Div if y != 0.0 => x / y,
                    Op::Mod if y != 0.0 => x % y,
                    _ => return V::Null,
                }),
                _ => V::Null,
            },
        },
    }
}

/// Velocity 1.7's `==`: numbers by value, same types by value, otherwise by their text.
fn equal(a: &V, b: &V) -> bool {
    match (a, b) {
        (V::Null, V::Null) => true,
        (V::Null, _) | (_, V::Null) => false,
        _ => match (as_num(a), as_num(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b || to_string(a) == to_string(b),
        },
    }
}

fn index(v: &V, i: &V) -> V {
    match (v, i) {
        (V::List(l), _) => as_int(i)
            .and_then(|i| {
                let i = if i < 0 { l.len() as i64 + i } else { i };
                usize::try_from(i).ok()
            })
            .and_then(|i| l.get(i).cloned())
            .unwrap_or(V::Null),
        (V::Map(m), k) => map_get(m, &to_string(k)).cloned().unwrap_or(V::Null),
        _ => V::Null,
    }
}

/// Java methods templates call on values.
fn method(v: &V, m: &str, args: &[V]) -> V {
    let arg_str = |i: usize| args.get(i).map(to_string).unwrap_or_default();
    match (v, m, args.len()) {
        (_, "toString", 0) => V::Str(to_string(v)),
        (_, "equals", 1) => V::Bool(equal(v, &args[0])),
        (V::List(l), "size", 0) => V::Int(l.len() as i64),
        (V::Map(l), "size", 0) => V::Int(l.len() as i64),
        (V::List(l), "isEmpty", 0) => V::Bool(l.is_empty()),
        (V::Map(l), "isEmpty", 0) => V::Bool(l.is_empty()),
        (V::List(l), "get", 1) => index(v, &args[0]).or_null_if(l.is_empty()),
        (V::List(l), "contains", 1) => V::Bool(l.iter().any(|x| equal(x, &args[0]))),
        (V::Map(_), "get", 1) => index(v, &args[0]),
        (V::Map(m), "containsKey", 1) => V::Bool(map_get(m, &arg_str(0)).is_some()),
        (V::Map(m), "keySet", 0) => V::List(m.iter().map(|(k, _)| V::Str(k.clone())).collect()),
        (V::Map(m), "values", 0) => V::List(m.iter().map(|(_, v)| v.clone()).collect()),
        (V::Map(m), "entrySet", 0) => V::List(
            m.iter()
                .map(|(k, v)| {
                    V::Map(vec![
                        ("key".into(), V::Str(k.clone())),
                        ("value".into(), v.clone()),
                    ])
                })
                .collect(),
        ),
        (V::Str(s), "length", 0) => V::Int(s.encode_utf16().count() as i64),
        (V::Str(s), "isEmpty", 0) => V::Bool(s.is_empty()),
        (V::Str(s), "contains", 1) => V::Bool(s.contains(&arg_str(0))),
        (V::Str(s), "startsWith", 1) => V::Bool(s.starts_with(&arg_str(0))),
        (V::Str(s), "endsWith", 1) => V::Bool(s.ends_with(&arg_str(0))),
        (V::Str(s), "equalsIgnoreCase", 1) => V::Bool(s.eq_ignore_ascii_case(&arg_str(0))),
        (V::Str(s), "indexOf", 1) => V::Int(char_index(s, s.find(&arg_str(0)))),
        (V::Str(s), "lastIndexOf", 1) => V::Int(char_index(s, s.rfind(&arg_str(0)))),
        (V::Str(s), "toLowerCase", 0) => V::Str(s.to_lowercase()),
        (V::Str(s), "toUpperCase", 0) => V::Str(s.to_uppercase()),
        (V::Str(s), "trim", 0) => V::Str(s.trim().to_string()),
        (V::Str(s), "replace", 2) => V::Str(s.replace(&arg_str(0), &arg_str(1))),
        (V::Str(s), "replaceAll", 2) => match regex::Regex::new(&arg_str(0)) {
            Ok(re) => V::Str(
                re.replace_all(s, java_replacement(&arg_str(1)).as_str())
                    .into_owned(),
            ),
            Err(_) => V::Null,
        },
        (V::Str(s), "matches", 1) => match regex::Regex::new(&format!("^(?:{})$", arg_str(0))) {
            Ok(re) => V::Bool(re.is_match(s)),
            Err(_) => V::Null,
        },
        (V::Str(s), "split", 1) => match regex::Regex::new(&arg_str(0)) {
            Ok(re) => {
                let mut parts: Vec<V> = re.split(s).map(|p| V::Str(p.to_string())).collect();
                // Java drops trailing empty strings.
                while parts.last().is_some_and(|p| p == &V::Str(String::new())) {
                    parts.pop();
                }
                V::List(parts)
            }
            Err(_) => V::Null,
        },
        (V::Str(s), "charAt", 1) => as_int(&args[0])
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| s.chars().nth(i))
            .map_or(V::Null, |c| V::Str(c.to_string())),
        (V::Str(s), "substring", 1 | 2) => {
            let chars: Vec<char> = s.chars().collect();
            let a = as_int(&args[0]).and_then(|i| usize::try_from(i).ok());
            let b = match args.get(1) {
                Some(b) => as_int(b).and_then(|i| usize::try_from(i).ok()),
                None => Some(chars.len()),
            };
            match (a, b) {
                (Some(a), Some(b)) if a <= b && b <= chars.len() => {
                    V::Str(chars[a..b].iter().collect())
                }
                _ => V::Null,
            }
        }
        _ => V::Null,
    }
}

trait OrNull {
    fn or_null_if(self, c: bool) -> V;
}

impl OrNull for V {
    fn or_null_if(self, c: bool) -> V {
        if c {
            V::Null
        } else {
            self
        }
    }
}

fn char_index(s: &str, byte: Option<usize>) -> i64 {
    byte.map_or(-1, |b| s[..b].chars().count() as i64)
}

/// Java's `$1` group references become the regex crate's `${1}`.
fn java_replacement(r: &str) -> String {
    let mut out = String::with_capacity(r.len());
    let mut chars = r.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    if n == '$' {
                        out.push_str("$$");
                    } else {
                        out.push(n);
                    }
                }
            }
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push_str("${");
                while let Some(d) = chars.peek().copied().filter(char::is_ascii_digit) {
                    out.push(d);
                    chars.next();
                }
                out.push('}');
            }
            '$' => out.push_str("$$"),
            c => out.push(c),
        }
    }
    out
}

/// `$util.*`.
fn util(f: &str, args: &[V]) -> V {
    let Some(a) = args.first() else {
        return V::Null;
    };
    let s = to_string(a);
    match f {
        "escapeJavaScript" => {
            let mut out = String::with_capacity(s.len() + 8);
            escape_javascript(&s, &mut out);
            V::Str(out)
        }
        "urlEncode" => V::Str(url_encode(&s)),
        "urlDecode" => V::Str(url_decode(s.as_bytes())),
        "base64Encode" => V::Str(base64_encode(s.as_bytes())),
        "base64Decode" => match base64_decode(&s) {
            Some(b) => V::Str(String::from_utf8_lossy(&b).into_owned()),
            None => V::Null,
        },
        "parseJson" => match serde_json::from_str::<Json>(&s) {
            Ok(j) => from_json(&j),
            Err(_) => V::Null,
        },
        _ => V::Null,
    }
}

/// Java's `StringEscapeUtils.escapeJavaScript`, which API Gateway's `escapeJavaScript` is.
pub fn escape_javascript(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04X}");
                }
            }
            c => out.push(c),
        }
    }
}

/// Java's `URLEncoder.encode(s, "UTF-8")`: form encoding (space as `+`).
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            b => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub fn base64_encode(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &x)| n | u32::from(x) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(B64[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim().trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Java's `toString` of a value (`[a, b]`, `{k=v}`); null is empty.
pub fn to_string(v: &V) -> String {
    let mut out = Vec::new();
    write_value(v, &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn write_value(v: &V, out: &mut Vec<u8>) {
    match v {
        V::Null => {}
        V::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        V::Int(n) => out.extend_from_slice(n.to_string().as_bytes()),
        V::Float(f) => {
            if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e7 {
                out.extend_from_slice(format!("{f:.1}").as_bytes());
            } else {
                out.extend_from_slice(f.to_string().as_bytes());
            }
        }
        V::Str(s) => out.extend_from_slice(s.as_bytes()),
        V::List(l) => {
            out.push(b'[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                write_value(x, out);
            }
            out.push(b']');
        }
        V::Map(m) => {
            out.push(b'{');
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.extend_from_slice(b", ");
                }
                out.extend_from_slice(k.as_bytes());
                out.push(b'=');
                write_value(x, out);
            }
            out.push(b'}');
        }
    }
}

#[cfg(test)]
mod tests;
