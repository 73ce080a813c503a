//! Where each template value lands in a bash script, so that it can be
//! written in the one form bash reads as data there.
//!
//! The script formatter writes a sentinel (`\0` number `\0`) for every
//! `{{ }}` value; [`shell_spots`] lexes the rendered text the way bash
//! quotes and expands it and says, per sentinel, which [`ShellSpot`] it is
//! in. It is a lexer, not a parser: it follows quotes, `$( )`, `${ }`,
//! backquotes, heredocs, comments, `(( ))`, `$(( ))`, `$[ ]`, `let`,
//! `[[ … -lt … ]]` and array subscripts, which is what decides how a value
//! is expanded.

use std::collections::{BTreeMap, HashSet};

/// The byte that opens and closes a sentinel. Bash cannot receive it (argv
/// and the environment are C strings), so it never occurs in a real script.
pub const SENTINEL: u8 = 0;

/// How bash reads the text at a template value's position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellSpot {
    /// An unquoted word (or a comment): written `"${LIFEBOAT_Vn}"`.
    Word,
    /// Inside `"…"`: written `${LIFEBOAT_Vn}`; the quotes are already there.
    DoubleQuoted,
    /// The body of a heredoc with an unquoted delimiter: written
    /// `${LIFEBOAT_Vn}`, which bash expands as data.
    HeredocBody,
    /// Inside `'…'` or `$'…'`, where nothing is expanded.
    SingleQuoted,
    /// The body of a heredoc whose delimiter is quoted (`<<'EOF'`), where
    /// nothing is expanded.
    QuotedHeredoc,
    /// Part of a heredoc delimiter.
    HeredocDelimiter,
    /// Right after a backslash, which would escape the expansion.
    Escaped,
    /// Evaluated as arithmetic, where bash runs the command substitutions
    /// in an array subscript of the value: it must be an integer. Names the
    /// construct, e.g. `$(( ))`.
    Arithmetic(&'static str),
}

impl ShellSpot {
    /// Whether a value can be expanded here at all.
    pub fn refusal(self) -> Option<&'static str> {
        match self {
            ShellSpot::SingleQuoted => Some(
                "sits inside single quotes, where bash expands nothing; remove the single quotes around it (the value is always passed as one word) or use double quotes",
            ),
            ShellSpot::QuotedHeredoc => Some(
                "sits in a heredoc whose delimiter is quoted (`<<'EOF'`), where bash expands nothing; unquote the delimiter (`<<EOF`): the value is still expanded as data, never as shell syntax",
            ),
            ShellSpot::HeredocDelimiter => Some(
                "is a heredoc delimiter; write the delimiter literally",
            ),
            ShellSpot::Escaped => Some(
                "follows a backslash, which would stop bash from expanding it; remove the backslash",
            ),
            _ => None,
        }
    }
}

/// Where a sentinel is: its spot, and inside how many backquotes (which
/// change how a human-readable form must be escaped, not how bash reads
/// the variable reference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    pub spot: ShellSpot,
    pub backquotes: usize,
}

/// The placement of every sentinel in `script`, by sentinel number. A
/// sentinel the lexer does not reach (it cannot happen with well-formed
/// sentinels) is absent; callers treat that as an error.
pub fn shell_spots(script: &str) -> BTreeMap<usize, Placement> {
    let mut lexer = Lexer {
        s: script.as_bytes(),
        pos: 0,
        backquotes: 0,
        spots: Vec::new(),
        heredocs: Vec::new(),
        assoc: declared(script, 'A'),
        integers: declared(script, 'i'),
    };
    lexer.commands(Ctx::TOP, End::Eof);
    lexer.spots.into_iter().collect()
}

/// The sentinel for value number `n`.
pub fn sentinel(n: usize) -> String {
    format!("\0{n}\0")
}

/// Replaces every sentinel in `text` with what `with` returns for its
/// number and its byte offset in `text`.
pub fn replace_sentinels(
    text: &str,
    mut with: impl FnMut(usize, usize) -> Result<String, String>,
) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('\0') {
        out.push_str(&rest[..start]);
        let at = text.len() - rest.len() + start;
        let after = &rest[start + 1..];
        let end = after
            .find('\0')
            .ok_or_else(|| "internal: an unterminated value marker".to_string())?;
        let n: usize = after[..end]
            .parse()
            .map_err(|_| "internal: a malformed value marker".to_string())?;
        out.push_str(&with(n, at)?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// The arithmetic comparisons of `[[ ]]`, whose operands bash evaluates.
const ARITHMETIC_TESTS: &[&str] = &["-eq", "-ne", "-lt", "-le", "-gt", "-ge"];

/// Builtins that take variable names, whose subscripts they evaluate.
const TAKE_NAMES: &[&str] = &[
    "unset",
    "read",
    "printf",
    "declare",
    "local",
    "typeset",
    "readonly",
    "export",
    "test",
    "[",
    "mapfile",
    "readarray",
    "wait",
];

/// Words after which the next word is still in command position.
const RESERVED: &[&str] = &[
    "if", "then", "else", "elif", "do", "while", "until", "!", "time", "{",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Heredoc,
}

/// What the lexer is inside: the quoting, and whether the text ends up in
/// an arithmetic evaluation (which survives nesting: the output of a
/// `$( )` inside `$(( ))` is evaluated too).
#[derive(Clone, Copy)]
struct Ctx {
    quote: Quote,
    arith: Option<&'static str>,
}

impl Ctx {
    const TOP: Ctx = Ctx {
        quote: Quote::None,
        arith: None,
    };

    fn quoted(self, quote: Quote) -> Ctx {
        Ctx { quote, ..self }
    }

    fn arith(self, construct: &'static str) -> Ctx {
        Ctx {
            arith: Some(self.arith.unwrap_or(construct)),
            ..self
        }
    }

    fn spot(self) -> ShellSpot {
        match (self.arith, self.quote) {
            (Some(c), _) => ShellSpot::Arithmetic(c),
            (None, Quote::None) => ShellSpot::Word,
            (None, Quote::Double) => ShellSpot::DoubleQuoted,
            (None, Quote::Heredoc) => ShellSpot::HeredocBody,
        }
    }
}

/// Where a run of commands stops.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Eof,
    /// The `)` of `$(`.
    Paren,
    /// The closing backquote.
    Backquote,
}

struct Heredoc {
    delimiter: String,
    quoted: bool,
    strip_tabs: bool,
}

struct Lexer<'a> {
    s: &'a [u8],
    pos: usize,
    /// How many backquotes the lexer is inside.
    backquotes: usize,
    spots: Vec<(usize, Placement)>,
    /// Heredocs whose bodies start after the current line.
    heredocs: Vec<Heredoc>,
    /// Names declared associative (`declare -A`): their subscripts are
    /// strings, not arithmetic.
    assoc: HashSet<String>,
    /// Names declared integer (`declare -i`): what is assigned to them is
    /// evaluated as arithmetic.
    integers: HashSet<String>,
}

/// The state of one simple command while its words are read.
struct Words {
    start: Option<usize>,
    first_spot: usize,
    command_position: bool,
    /// The command's name, once read.
    command: Option<String>,
    let_args: bool,
    /// Inside `[[ ]]`: each word's text and the spots it holds.
    test_words: Option<Vec<(String, std::ops::Range<usize>)>>,
}

impl Lexer<'_> {
    fn peek(&self, ahead: usize) -> Option<u8> {
        self.s.get(self.pos + ahead).copied()
    }

    /// At `\\`: skips the escaped character; a value there cannot expand.
    fn escape(&mut self) {
        if self.peek(1) == Some(SENTINEL) {
            self.pos += 1;
            self.sentinel(ShellSpot::Escaped);
        } else {
            self.pos = (self.pos + 2).min(self.s.len());
        }
    }

    /// Reads a sentinel at `pos` and records its spot.
    fn sentinel(&mut self, spot: ShellSpot) {
        let start = self.pos + 1;
        let mut end = start;
        while end < self.s.len() && self.s[end] != SENTINEL {
            end += 1;
        }
        if let Some(n) = std::str::from_utf8(&self.s[start..end])
            .ok()
            .and_then(|t| t.parse().ok())
        {
            self.spots.push((
                n,
                Placement {
                    spot,
                    backquotes: self.backquotes,
                },
            ));
        }
        self.pos = (end + 1).min(self.s.len());
    }

    /// Commands: words, operators, comments and heredocs.
    fn commands(&mut self, ctx: Ctx, end: End) {
        let ctx = ctx.quoted(Quote::None);
        let mut w = Words {
            start: None,
            first_spot: self.spots.len(),
            command_position: true,
            command: None,
            let_args: false,
            test_words: None,
        };
        let mut depth = 0usize;
        while let Some(c) = self.peek(0) {
            match c {
                b')' if end == End::Paren && depth == 0 && w.test_words.is_none() => {
                    self.end_word(&mut w);
                    self.pos += 1;
                    return;
                }
                b'`' if end == End::Backquote => {
                    self.end_word(&mut w);
                    self.pos += 1;
                    return;
                }
                b' ' | b'\t' => {
                    self.end_word(&mut w);
                    self.pos += 1;
                }
                b'\n' => {
                    self.end_word(&mut w);
                    self.pos += 1;
                    if w.test_words.is_none() {
                        self.end_command(&mut w);
                    }
                    self.heredoc_bodies(ctx);
                }
                b';' | b'&' | b'|' => {
                    self.end_word(&mut w);
                    self.pos += 1;
                    if w.test_words.is_none() {
                        self.end_command(&mut w);
                    }
                }
                b'(' if w.start.is_none()
                    && self.peek(1) == Some(b'(')
                    && w.test_words.is_none() =>
                {
                    self.pos += 2;
                    self.arithmetic(ctx.arith("(( ))"), b')');
                    w.command_position = false;
                }
                b'(' | b')' => {
                    self.end_word(&mut w);
                    self.pos += 1;
                    if c == b'(' {
                        depth += 1;
                        w.command_position = w.test_words.is_none();
                    } else {
                        depth = depth.saturating_sub(1);
                    }
                }
                b'<' if self.peek(1) == Some(b'<')
                    && self.peek(2) != Some(b'<')
                    && w.test_words.is_none() =>
                {
                    self.end_word(&mut w);
                    self.pos += 2;
                    self.heredoc_redirection();
                }
                b'<' | b'>' => {
                    self.end_word(&mut w);
                    self.pos += 1;
                    // A here-string (`<<<`) is followed by an ordinary word.
                    while self.peek(0) == Some(b'<') {
                        self.pos += 1;
                    }
                }
                b'#' if w.start.is_none() => {
                    while let Some(c) = self.peek(0) {
                        if c == b'\n' {
                            break;
                        }
                        if c == SENTINEL {
                            self.sentinel(ShellSpot::Word);
                        } else {
                            self.pos += 1;
                        }
                    }
                }
                _ => {
                    if w.start.is_none() {
                        w.start = Some(self.pos);
                        w.first_spot = self.spots.len();
                        if self.assignment_subscript(ctx) {
                            continue;
                        }
                    }
                    self.word_part(ctx);
                }
            }
        }
        self.end_word(&mut w);
    }

    /// After an opening backquote: commands up to the closing one.
    fn backquoted(&mut self, ctx: Ctx) {
        self.backquotes += 1;
        self.commands(ctx, End::Backquote);
        self.backquotes -= 1;
    }

    /// One element of a word: a quoted string, an expansion or a character.
    fn word_part(&mut self, ctx: Ctx) {
        match self.peek(0) {
            Some(b'\\') => self.escape(),
            Some(b'\'') => self.single_quoted(),
            Some(b'"') => {
                self.pos += 1;
                self.double_quoted(ctx.quoted(Quote::Double));
            }
            Some(b'$') => self.dollar(ctx),
            Some(b'`') => {
                self.pos += 1;
                self.backquoted(ctx);
            }
            Some(SENTINEL) => self.sentinel(ctx.spot()),
            Some(_) => self.pos += 1,
            None => {}
        }
    }

    fn end_word(&mut self, w: &mut Words) {
        let Some(start) = w.start.take() else {
            return;
        };
        let text = String::from_utf8_lossy(&self.s[start..self.pos]).into_owned();
        let spots = w.first_spot..self.spots.len();
        if let Some(words) = &mut w.test_words {
            if text == "]]" {
                let words = w.test_words.take().unwrap_or_default();
                self.arithmetic_tests(&words);
                w.command_position = false;
            } else {
                words.push((text, spots));
            }
            return;
        }
        if w.let_args {
            self.make_arithmetic(spots, "let");
            return;
        }
        if is_assignment(&text) {
            let name: String = text
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if self.integers.contains(&name) {
                self.make_arithmetic(spots.clone(), "declare -i");
            }
        }
        if w.command_position {
            if text == "let" {
                w.let_args = true;
                w.command_position = false;
            } else if text == "[[" {
                w.test_words = Some(Vec::new());
            } else if !RESERVED.contains(&text.as_str()) && !is_assignment(&text) {
                w.command_position = false;
                w.command = Some(text);
            }
        } else if w
            .command
            .as_deref()
            .is_some_and(|c| TAKE_NAMES.contains(&c))
            && self.indexed_element(&text)
        {
            // `unset 'a[…]'`, `read "a[…]"`, `printf -v "a[…]"`: a builtin
            // given a variable name evaluates its subscript, quoted or not.
            self.make_arithmetic(spots, "array subscript");
        }
    }

    fn end_command(&mut self, w: &mut Words) {
        w.command_position = true;
        w.command = None;
        w.let_args = false;
    }

    /// Whether a word names an element of an indexed array (`a[…]`,
    /// `"a[…]"`), as `unset` and `[[ -v ]]` take it.
    fn indexed_element(&self, word: &str) -> bool {
        let word = word.trim_start_matches(['"', '\'']);
        let name_end = word
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(word.len());
        name_end > 0 && word[name_end..].starts_with('[') && !self.assoc.contains(&word[..name_end])
    }

    /// In `[[ ]]`, the operands of `-lt` and friends are arithmetic.
    fn arithmetic_tests(&mut self, words: &[(String, std::ops::Range<usize>)]) {
        for (i, (_, spots)) in words.iter().enumerate() {
            let before = i.checked_sub(1).and_then(|j| words.get(j));
            let after = words.get(i + 1);
            let compared = [before, after]
                .into_iter()
                .flatten()
                .any(|(t, _)| ARITHMETIC_TESTS.contains(&t.as_str()));
            if compared {
                self.make_arithmetic(spots.clone(), "[[ … -lt … ]]");
            } else if before.is_some_and(|(t, _)| t == "-v") && self.indexed_element(&words[i].0) {
                self.make_arithmetic(spots.clone(), "array subscript");
            }
        }
    }

    fn make_arithmetic(&mut self, spots: std::ops::Range<usize>, construct: &'static str) {
        for (_, placed) in &mut self.spots[spots] {
            if matches!(
                placed.spot,
                ShellSpot::Word | ShellSpot::DoubleQuoted | ShellSpot::HeredocBody
            ) {
                placed.spot = ShellSpot::Arithmetic(construct);
            }
        }
    }

    /// `name[subscript]=value` at the start of a word: the subscript is
    /// arithmetic (unless `name` is associative). Returns whether it read one.
    fn assignment_subscript(&mut self, ctx: Ctx) -> bool {
        let name_end = self.s[self.pos..]
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b == b'_'))
            .map(|n| self.pos + n)
            .unwrap_or(self.s.len());
        if name_end == self.pos
            || self.s[self.pos].is_ascii_digit()
            || self.s.get(name_end) != Some(&b'[')
        {
            return false;
        }
        // Only an assignment: `a[…]` elsewhere is a glob.
        let Some(close) = self.matching_bracket(name_end) else {
            return false;
        };
        let rest = &self.s[close + 1..];
        if !(rest.starts_with(b"=") || rest.starts_with(b"+=")) {
            return false;
        }
        let name = String::from_utf8_lossy(&self.s[self.pos..name_end]).into_owned();
        self.pos = name_end + 1;
        self.subscript(ctx, &name);
        true
    }

    /// The index of the `]` matching the `[` at `open`, on the same line.
    fn matching_bracket(&self, open: usize) -> Option<usize> {
        let mut depth = 0usize;
        for (i, &b) in self.s.iter().enumerate().skip(open) {
            match b {
                b'[' => depth += 1,
                b']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                b'\n' => return None,
                _ => {}
            }
        }
        None
    }

    /// After `[`: an array subscript, up to its `]`.
    fn subscript(&mut self, ctx: Ctx, name: &str) {
        let whole = matches!(
            (self.peek(0), self.peek(1)),
            (Some(b'@' | b'*'), Some(b']'))
        );
        let ctx = if self.assoc.contains(name) || whole {
            ctx
        } else {
            ctx.arith("array subscript")
        };
        let mut depth = 0usize;
        while let Some(c) = self.peek(0) {
            match c {
                b'[' => {
                    depth += 1;
                    self.pos += 1;
                }
                b']' if depth == 0 => {
                    self.pos += 1;
                    return;
                }
                b']' => {
                    depth -= 1;
                    self.pos += 1;
                }
                _ => self.word_part(ctx),
            }
        }
    }

    fn single_quoted(&mut self) {
        self.pos += 1;
        while let Some(c) = self.peek(0) {
            match c {
                b'\'' => {
                    self.pos += 1;
                    return;
                }
                SENTINEL => self.sentinel(ShellSpot::SingleQuoted),
                _ => self.pos += 1,
            }
        }
    }

    /// After `$'`: ANSI-C quoting, where `\'` does not end the string.
    fn ansi_c_quoted(&mut self) {
        while let Some(c) = self.peek(0) {
            match c {
                b'\\' => self.escape(),
                b'\'' => {
                    self.pos += 1;
                    return;
                }
                SENTINEL => self.sentinel(ShellSpot::SingleQuoted),
                _ => self.pos += 1,
            }
        }
    }

    /// After `"`: up to the closing quote.
    fn double_quoted(&mut self, ctx: Ctx) {
        while let Some(c) = self.peek(0) {
            match c {
                b'"' => {
                    self.pos += 1;
                    return;
                }
                b'\\' => self.escape(),
                b'$' => self.dollar(ctx),
                b'`' => {
                    self.pos += 1;
                    self.backquoted(ctx);
                }
                SENTINEL => self.sentinel(ctx.spot()),
                _ => self.pos += 1,
            }
        }
    }

    /// At `$`: an expansion, or a plain dollar sign.
    fn dollar(&mut self, ctx: Ctx) {
        match (self.peek(1), self.peek(2)) {
            (Some(b'('), Some(b'(')) => {
                self.pos += 3;
                self.arithmetic(ctx.arith("$(( ))"), b')');
            }
            (Some(b'('), _) => {
                self.pos += 2;
                self.commands(ctx, End::Paren);
            }
            (Some(b'['), _) => {
                self.pos += 2;
                self.arithmetic(ctx.arith("$[ ]"), b']');
            }
            (Some(b'{'), _) => {
                self.pos += 2;
                self.parameter(ctx);
            }
            (Some(b'\''), _) if ctx.quote == Quote::None => {
                self.pos += 2;
                self.ansi_c_quoted();
            }
            (Some(b'"'), _) if ctx.quote == Quote::None => {
                self.pos += 2;
                self.double_quoted(ctx.quoted(Quote::Double));
            }
            _ => self.pos += 1,
        }
    }

    /// An arithmetic expression, up to `))` (for `close == b')'`) or `]`.
    fn arithmetic(&mut self, ctx: Ctx, close: u8) {
        let open = if close == b')' { b'(' } else { b'[' };
        let mut depth = 0usize;
        while let Some(c) = self.peek(0) {
            match c {
                _ if c == open => {
                    depth += 1;
                    self.pos += 1;
                }
                _ if c == close && depth > 0 => {
                    depth -= 1;
                    self.pos += 1;
                }
                _ if c == close => {
                    self.pos += if close == b')' && self.peek(1) == Some(b')') {
                        2
                    } else {
                        1
                    };
                    return;
                }
                b'\'' => self.single_quoted(),
                b'"' => {
                    self.pos += 1;
                    self.double_quoted(ctx.quoted(Quote::Double));
                }
                _ => self.word_part(ctx),
            }
        }
    }

    /// After `${`: a parameter expansion, up to its `}`.
    fn parameter(&mut self, ctx: Ctx) {
        if matches!(self.peek(0), Some(b'!' | b'#')) && self.peek(1) != Some(b'}') {
            self.pos += 1;
        }
        let name_start = self.pos;
        while let Some(c) = self.peek(0) {
            if c.is_ascii_alphanumeric() || c == b'_' {
                self.pos += 1;
            } else {
                break;
            }
        }
        if self.pos == name_start
            && matches!(
                self.peek(0),
                Some(b'@' | b'*' | b'#' | b'?' | b'-' | b'$' | b'!')
            )
        {
            self.pos += 1;
        }
        let name = String::from_utf8_lossy(&self.s[name_start..self.pos]).into_owned();
        if self.peek(0) == Some(b'[') {
            self.pos += 1;
            self.subscript(ctx, &name);
        }
        // `${name:offset:length}`: both are arithmetic.
        let ctx = if self.peek(0) == Some(b':')
            && !matches!(self.peek(1), Some(b'-' | b'=' | b'?' | b'+'))
        {
            ctx.arith("${name:offset:length}")
        } else {
            ctx
        };
        let mut depth = 0usize;
        while let Some(c) = self.peek(0) {
            match c {
                b'{' => {
                    depth += 1;
                    self.pos += 1;
                }
                b'}' if depth == 0 => {
                    self.pos += 1;
                    return;
                }
                b'}' => {
                    depth -= 1;
                    self.pos += 1;
                }
                b'\'' if ctx.quote != Quote::None => self.pos += 1,
                b'"' if ctx.quote == Quote::Double => {
                    self.pos += 1;
                    self.double_quoted(ctx);
                }
                _ => self.word_part(ctx),
            }
        }
    }

    /// After `<<`: the delimiter of a heredoc, whose body starts on the
    /// next line.
    fn heredoc_redirection(&mut self) {
        let strip_tabs = self.peek(0) == Some(b'-');
        if strip_tabs {
            self.pos += 1;
        }
        while matches!(self.peek(0), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
        let mut delimiter = Vec::new();
        let mut quoted = false;
        while let Some(c) = self.peek(0) {
            match c {
                b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')' => break,
                b'\'' | b'"' => {
                    quoted = true;
                    self.pos += 1;
                    while let Some(d) = self.peek(0) {
                        if d == SENTINEL {
                            self.sentinel(ShellSpot::HeredocDelimiter);
                            continue;
                        }
                        self.pos += 1;
                        if d == c {
                            break;
                        }
                        delimiter.push(d);
                    }
                }
                b'\\' => {
                    quoted = true;
                    match self.peek(1) {
                        Some(SENTINEL) => self.pos += 1,
                        Some(d) => {
                            delimiter.push(d);
                            self.pos += 2;
                        }
                        None => self.pos += 1,
                    }
                }
                SENTINEL => self.sentinel(ShellSpot::HeredocDelimiter),
                _ => {
                    delimiter.push(c);
                    self.pos += 1;
                }
            }
        }
        self.heredocs.push(Heredoc {
            delimiter: String::from_utf8_lossy(&delimiter).into_owned(),
            quoted,
            strip_tabs,
        });
    }

    /// At the start of a line: the bodies of the heredocs opened on the
    /// line before, in order.
    fn heredoc_bodies(&mut self, ctx: Ctx) {
        for doc in std::mem::take(&mut self.heredocs) {
            let ctx = ctx.quoted(Quote::Heredoc);
            while self.pos < self.s.len() {
                let line_end = self.s[self.pos..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map(|n| self.pos + n)
                    .unwrap_or(self.s.len());
                let line = &self.s[self.pos..line_end];
                let line = if doc.strip_tabs {
                    let tabs = line.iter().take_while(|&&b| b == b'\t').count();
                    &line[tabs..]
                } else {
                    line
                };
                if line == doc.delimiter.as_bytes() {
                    self.pos = (line_end + 1).min(self.s.len());
                    break;
                }
                while self.pos < self.s.len() && self.s[self.pos] != b'\n' {
                    match self.s[self.pos] {
                        SENTINEL if doc.quoted => self.sentinel(ShellSpot::QuotedHeredoc),
                        _ if doc.quoted => self.pos += 1,
                        b'\\' => self.escape(),
                        b'$' => self.dollar(ctx),
                        b'`' => {
                            self.pos += 1;
                            self.backquoted(ctx);
                        }
                        SENTINEL => self.sentinel(ctx.spot()),
                        _ => self.pos += 1,
                    }
                }
                self.pos = (self.pos + 1).min(self.s.len());
            }
        }
    }
}

/// `name=…` or `name+=…`.
fn is_assignment(word: &str) -> bool {
    let name_end = word
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(word.len());
    name_end > 0
        && !word.starts_with(|c: char| c.is_ascii_digit())
        && (word[name_end..].starts_with('=') || word[name_end..].starts_with("+="))
}

/// Names declared with `flag` (`declare -A`, `local -i`, `typeset -iA`, …).
fn declared(script: &str, flag: char) -> HashSet<String> {
    let mut names = HashSet::new();
    for line in script.lines() {
        let mut words = line.split_whitespace().peekable();
        while let Some(word) = words.next() {
            if !matches!(word, "declare" | "local" | "typeset") {
                continue;
            }
            let mut flagged = false;
            while let Some(next) = words.peek() {
                if let Some(flags) = next.strip_prefix('-') {
                    flagged |= flags.contains(flag);
                    words.next();
                } else {
                    break;
                }
            }
            if flagged {
                for name in words.by_ref() {
                    let name: String = name
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if name.is_empty() {
                        break;
                    }
                    names.insert(name);
                }
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;
    use ShellSpot::*;

    /// `@` marks where a value lands; the table lists the spot of each.
    fn spots(script: &str) -> Vec<ShellSpot> {
        let mut n = 0;
        let text: String = script
            .split('@')
            .enumerate()
            .map(|(i, part)| {
                if i == 0 {
                    part.to_string()
                } else {
                    n += 1;
                    format!("{}{part}", sentinel(n))
                }
            })
            .collect();
        let found = shell_spots(&text);
        assert_eq!(
            found.len(),
            n,
            "every value is placed in {script:?}: {found:?}"
        );
        found.into_values().map(|p| p.spot).collect()
    }

    #[test]
    fn where_values_land() {
        let cases: &[(&str, &[ShellSpot])] = &[
            ("rm -f @", &[Word]),
            ("rm -f \"@\"", &[DoubleQuoted]),
            ("rm -f \"dir/@.tmp\" @x", &[DoubleQuoted, Word]),
            ("echo 'it is @'", &[SingleQuoted]),
            ("echo $'a\\'@'", &[SingleQuoted]),
            ("echo \"it's @\"", &[DoubleQuoted]),
            ("echo \"$(cat @)\"", &[Word]),
            ("echo \"$(cat \"@\")\"", &[DoubleQuoted]),
            ("echo `cat @`", &[Word]),
            ("echo ${x:-@} \"${x:-@}\"", &[Word, DoubleQuoted]),
            ("# a comment with @\necho @", &[Word, Word]),
            ("echo a#@", &[Word]),
            ("x=@ y=\"@\"", &[Word, DoubleQuoted]),
            (
                "cat <<EOF\nname: @\n\"@\"\nEOF\necho @",
                &[HeredocBody, HeredocBody, Word],
            ),
            ("cat <<-EOF\n\tname: $(echo @)\n\tEOF\n", &[Word]),
            ("cat <<'EOF'\nname: @\nEOF\n", &[QuotedHeredoc]),
            ("cat <<\"EOF\" > f\n@\nEOF\necho @", &[QuotedHeredoc, Word]),
            ("cat <<\\EOF\n@\nEOF", &[QuotedHeredoc]),
            ("cat <<@\nx\n", &[HeredocDelimiter]),
            ("cat <<<@", &[Word]),
            (
                "if [[ @ -lt 5 ]]; then :; fi",
                &[Arithmetic("[[ … -lt … ]]")],
            ),
            ("[[ \"@\" -ge \"@\" ]]", &[Arithmetic("[[ … -lt … ]]"); 2]),
            (
                "[[ $(echo @) -eq 1 && @ == x ]]",
                &[Arithmetic("[[ … -lt … ]]"), Word],
            ),
            ("[[ @ == 5 ]] && echo @", &[Word, Word]),
            ("[ @ -lt 5 ]", &[Word]),
            ("(( @ > 3 ))", &[Arithmetic("(( ))")]),
            (
                "for (( i = 0; i < @; i++ )); do :; done",
                &[Arithmetic("(( ))")],
            ),
            ("echo $(( @ + 1 )) \"$(( @ ))\"", &[Arithmetic("$(( ))"); 2]),
            ("echo $(( $(echo @) + 1 ))", &[Arithmetic("$(( ))")]),
            ("echo $[ @ + 1 ]", &[Arithmetic("$[ ]")]),
            ("let n=@+1; echo @", &[Arithmetic("let"), Word]),
            ("a[@]=1", &[Arithmetic("array subscript")]),
            (
                "echo ${a[@]} \"${a[@]}\"",
                &[Arithmetic("array subscript"); 2],
            ),
            (
                "declare -A m\nm[@]=1; echo \"${m[@]}\"",
                &[Word, DoubleQuoted],
            ),
            ("echo a[@]", &[Word]),
            ("declare -i n\nn=@; m=@", &[Arithmetic("declare -i"), Word]),
            ("local -i n=@", &[Arithmetic("declare -i")]),
            (
                "unset @ \"a[@]\" 'b[@]' a[@]",
                &[
                    Word,
                    Arithmetic("array subscript"),
                    SingleQuoted,
                    Arithmetic("array subscript"),
                ],
            ),
            ("declare -A m\nunset \"m[@]\"", &[DoubleQuoted]),
            (
                "read \"a[@]\"; printf -v b[@] x; echo \"a[@]\"",
                &[
                    Arithmetic("array subscript"),
                    Arithmetic("array subscript"),
                    DoubleQuoted,
                ],
            ),
            (
                "[ -v \"a[@]\" ]; test -v a[@]",
                &[Arithmetic("array subscript"); 2],
            ),
            (
                "[[ -v \"a[@]\" && -v @ ]]",
                &[Arithmetic("array subscript"), Word],
            ),
            ("echo ${s:@:2}", &[Arithmetic("${name:offset:length}")]),
            ("echo ${s:-@}", &[Word]),
            ("f() { echo @; }\nf", &[Word]),
            ("echo \"a\\\"@\"", &[DoubleQuoted]),
            ("echo \\@ \"\\@\"", &[Escaped, Escaped]),
            ("cat <<'@'\nx\n", &[HeredocDelimiter]),
        ];
        for (script, expected) in cases {
            assert_eq!(&spots(script), expected, "{script:?}");
        }
    }

    #[test]
    fn backquotes_are_counted() {
        let text = format!(
            "echo {} `a {} \"$(b `c {}`)\"`",
            sentinel(1),
            sentinel(2),
            sentinel(3)
        );
        let depth: Vec<usize> = shell_spots(&text)
            .into_values()
            .map(|p| p.backquotes)
            .collect();
        assert_eq!(depth, [0, 1, 2]);
    }

    #[test]
    fn sentinels_are_replaced_in_order() {
        let text = format!("a {} b {}", sentinel(1), sentinel(2));
        let out = replace_sentinels(&text, |n, at| Ok(format!("<{n}@{at}>"))).unwrap();
        assert_eq!(out, "a <1@2> b <2@8>");
    }
}
