//! The filter's syntax: tokens, then comparisons joined by `AND`; what the
//! fields mean is the business of the parent module.

/// The longest filter accepted, in bytes.
const MAX_FILTER_LEN: usize = 2000;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl Op {
    pub(super) fn sql(self) -> &'static str {
        match self {
            Op::Eq => " = ",
            // Null-safe, so `account != "accounts/…"` keeps the rows whose
            // account is null (the organisation-wide series).
            Op::Ne => " is distinct from ",
            Op::Lt => " < ",
            Op::Le => " <= ",
            Op::Gt => " > ",
            Op::Ge => " >= ",
        }
    }

    pub(super) fn is_equality(self) -> bool {
        matches!(self, Op::Eq | Op::Ne)
    }
}

/// A literal as written in the filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// A double-quoted string, unescaped.
    Quoted(String),
    /// A bare word such as `ACTIVE`, `42` or `true`.
    Bare(String),
}

impl Literal {
    pub(super) fn text(&self) -> &str {
        match self {
            Literal::Quoted(text) | Literal::Bare(text) => text,
        }
    }
}

/// One parsed comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// The field name as written.
    pub field: String,
    /// The operator.
    pub op: Op,
    /// The value.
    pub value: Literal,
}

#[derive(Debug, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Op(Op),
}

fn tokenize(filter: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = filter.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '"' => {
                chars.next();
                let mut text = String::new();
                loop {
                    match chars.next() {
                        Some((_, '"')) => break,
                        Some((_, '\\')) => match chars.next() {
                            Some((_, escaped @ ('"' | '\\'))) => text.push(escaped),
                            _ => {
                                return Err(format!(
                                    "unsupported escape in the string at {at}: only \\\" and \\\\ are allowed"
                                ));
                            }
                        },
                        Some((_, other)) => text.push(other),
                        None => return Err(format!("the string starting at {at} is not closed")),
                    }
                }
                tokens.push(Token::Quoted(text));
            }
            '=' | '!' | '<' | '>' => {
                chars.next();
                let followed_by_eq = chars.next_if(|&(_, next)| next == '=').is_some();
                let op = match (c, followed_by_eq) {
                    ('=', false) => Op::Eq,
                    ('!', true) => Op::Ne,
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    ('>', true) => Op::Ge,
                    _ => return Err(format!("unknown operator at {at}")),
                };
                tokens.push(Token::Op(op));
            }
            '(' | ')' | ':' | '~' | '*' | ',' => {
                return Err(format!("{c:?} at {at} is outside the supported subset"));
            }
            _ => {
                let mut word = String::new();
                while let Some(&(_, next)) = chars.peek() {
                    if next.is_whitespace() || "=!<>\"()~:,".contains(next) {
                        break;
                    }
                    word.push(next);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

/// Parses a filter into its comparisons; empty means no restriction.
pub fn parse(filter: &str) -> Result<Vec<Comparison>, String> {
    if filter.len() > MAX_FILTER_LEN {
        return Err(format!("is longer than {MAX_FILTER_LEN} bytes"));
    }
    // No stored text holds a NUL, and PostgreSQL refuses one in a literal.
    if filter.contains('\0') {
        return Err("holds a NUL character: remove it".into());
    }
    let tokens = tokenize(filter)?;
    let mut comparisons = Vec::new();
    let mut rest = tokens.into_iter();
    loop {
        let Some(first) = rest.next() else {
            if comparisons.is_empty() {
                return Ok(comparisons);
            }
            return Err("ends with AND: a comparison must follow".into());
        };
        let field = match first {
            Token::Word(word) if is_field_name(&word) => word,
            Token::Word(word) if matches!(word.as_str(), "OR" | "NOT") => {
                return Err(format!("{word} is not supported, only AND"));
            }
            other => return Err(format!("expected a field name, found {}", describe(&other))),
        };
        let op = match rest.next() {
            Some(Token::Op(op)) => op,
            Some(other) => {
                return Err(format!(
                    "expected an operator after {field}, found {}",
                    describe(&other)
                ));
            }
            None => return Err(format!("expected an operator after {field}")),
        };
        let value = match rest.next() {
            Some(Token::Quoted(text)) => Literal::Quoted(text),
            Some(Token::Word(word)) => Literal::Bare(word),
            Some(other) => {
                return Err(format!(
                    "expected a value after {field}, found {}",
                    describe(&other)
                ));
            }
            None => return Err(format!("expected a value after {field}")),
        };
        comparisons.push(Comparison { field, op, value });
        match rest.next() {
            None => return Ok(comparisons),
            Some(Token::Word(word)) if word == "AND" => {}
            Some(other) => {
                return Err(format!(
                    "expected AND between comparisons, found {}",
                    describe(&other)
                ));
            }
        }
    }
}

fn is_field_name(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn describe(token: &Token) -> String {
    match token {
        Token::Word(word) => format!("{word:?}"),
        Token::Quoted(text) => format!("the string {text:?}"),
        Token::Op(op) => format!("the operator{}", op.sql().trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comparisons_joined_by_and() {
        let parsed = parse(r#"network = INSTAGRAM AND owner != "social \"team\"" AND create_time>="2026-01-01T00:00:00Z""#).unwrap();
        assert_eq!(
            parsed,
            vec![
                Comparison {
                    field: "network".into(),
                    op: Op::Eq,
                    value: Literal::Bare("INSTAGRAM".into())
                },
                Comparison {
                    field: "owner".into(),
                    op: Op::Ne,
                    value: Literal::Quoted("social \"team\"".into())
                },
                Comparison {
                    field: "create_time".into(),
                    op: Op::Ge,
                    value: Literal::Quoted("2026-01-01T00:00:00Z".into())
                },
            ]
        );
        assert_eq!(parse("   ").unwrap(), vec![]);
    }

    #[test]
    fn rejects_everything_outside_the_subset() {
        let cases = [
            ("or", "network = X OR network = FACEBOOK"),
            ("not", "NOT network = X"),
            ("parentheses", "(network = X)"),
            ("has operator", "owner:social"),
            ("trailing and", "network = X AND"),
            ("missing operator", "network X"),
            ("missing value", "network ="),
            ("unclosed string", "owner = \"abc"),
            ("two comparisons without and", "network = X owner = \"a\""),
            ("lowercase and", "network = X and owner = \"a\""),
            ("bare value as field", "\"x\" = network"),
            ("nul in a quoted literal", "owner = \"a\0\""),
            ("nul in a bare literal", "network = X\0"),
        ];
        for (description, filter) in cases {
            assert!(parse(filter).is_err(), "{description}: {filter}");
        }
    }
}
