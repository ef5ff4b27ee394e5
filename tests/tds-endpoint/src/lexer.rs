//! A small T-SQL tokenizer.
//!
//! The rewrite to SQLite and the catalog's reading of `CREATE TABLE` text both need to
//! know where string literals, quoted identifiers and comments are, so that a keyword
//! inside `'...'` is never touched. Tokens keep their exact source text, so joining
//! them gives the input back.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Space,
    Comment,
    /// `'...'` (quotes included, `''` escapes kept).
    Str,
    /// `N'...'`: a Unicode string literal.
    NStr,
    /// `[name]`, `"name"` or `` `name` ``.
    Quoted,
    /// A bare word: keyword or identifier.
    Word,
    Number,
    /// `0x...`.
    Hex,
    /// `@name` or `@@name`.
    Variable,
    Punct,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub text: String,
}

impl Token {
    pub fn new(kind: Kind, text: impl Into<String>) -> Token {
        Token { kind, text: text.into() }
    }

    /// True for a bare word equal (ignoring case) to `word`.
    pub fn is_word(&self, word: &str) -> bool {
        self.kind == Kind::Word && self.text.eq_ignore_ascii_case(word)
    }

    pub fn is_punct(&self, p: &str) -> bool {
        self.kind == Kind::Punct && self.text == p
    }

    /// Neither whitespace nor a comment.
    pub fn is_significant(&self) -> bool {
        !matches!(self.kind, Kind::Space | Kind::Comment)
    }

    /// The identifier this token names, without its quoting, for words and quoted names.
    pub fn identifier(&self) -> Option<String> {
        match self.kind {
            Kind::Word => Some(self.text.clone()),
            Kind::Quoted => {
                let inner = &self.text[1..self.text.len() - 1];
                let close = self.text.chars().last().unwrap_or(']');
                Some(inner.replace(&format!("{close}{close}"), &close.to_string()))
            }
            _ => None,
        }
    }
}

pub fn tokenize(sql: &str) -> Vec<Token> {
    let chars: Vec<char> = sql.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        let c = chars[i];
        let kind = if c.is_whitespace() {
            while i < chars.len() && chars[i].is_whitespace() {
                i += 1;
            }
            Kind::Space
        } else if c == '-' && chars.get(i + 1) == Some(&'-') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            Kind::Comment
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            i += 2;
            while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                i += 1;
            }
            i = (i + 2).min(chars.len());
            Kind::Comment
        } else if c == '\'' {
            i = skip_quoted(&chars, i, '\'');
            Kind::Str
        } else if (c == 'N' || c == 'n') && chars.get(i + 1) == Some(&'\'') {
            i = skip_quoted(&chars, i + 1, '\'');
            Kind::NStr
        } else if c == '[' {
            i = skip_quoted(&chars, i, ']');
            Kind::Quoted
        } else if c == '"' || c == '`' {
            i = skip_quoted(&chars, i, c);
            Kind::Quoted
        } else if c == '0' && matches!(chars.get(i + 1), Some('x' | 'X')) {
            i += 2;
            while i < chars.len() && chars[i].is_ascii_hexdigit() {
                i += 1;
            }
            Kind::Hex
        } else if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                i += 1;
            }
            Kind::Number
        } else if c == '@' {
            i += 1;
            while i < chars.len() && (chars[i] == '@' || is_word_char(chars[i])) {
                i += 1;
            }
            Kind::Variable
        } else if is_word_char(c) {
            while i < chars.len() && is_word_char(chars[i]) {
                i += 1;
            }
            Kind::Word
        } else {
            i += 1;
            let two: String = chars[start..(start + 2).min(chars.len())].iter().collect();
            if matches!(two.as_str(), "<=" | ">=" | "<>" | "!=" | "||") {
                i += 1;
            }
            Kind::Punct
        };
        tokens.push(Token::new(kind, chars[start..i].iter().collect::<String>()));
    }
    tokens
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '$' || c == '#'
}

/// Index just past a quoted run starting at `open` whose closing quote is `close`
/// (a doubled closing quote is an escaped one).
fn skip_quoted(chars: &[char], open: usize, close: char) -> usize {
    let mut i = open + 1;
    while i < chars.len() {
        if chars[i] == close {
            if chars.get(i + 1) == Some(&close) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    chars.len()
}

pub fn join(tokens: &[Token]) -> String {
    tokens.iter().map(|t| t.text.as_str()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_classifies() {
        let sql = "SELECT N'a''b', [x y], 0xAB, @P1, @@VERSION -- c\nFROM t";
        let tokens = tokenize(sql);
        assert_eq!(join(&tokens), sql);
        let kinds: Vec<Kind> = tokens.iter().filter(|t| t.is_significant()).map(|t| t.kind).collect();
        assert_eq!(
            kinds,
            [
                Kind::Word,
                Kind::NStr,
                Kind::Punct,
                Kind::Quoted,
                Kind::Punct,
                Kind::Hex,
                Kind::Punct,
                Kind::Variable,
                Kind::Punct,
                Kind::Variable,
                Kind::Word,
                Kind::Word
            ]
        );
    }
}
