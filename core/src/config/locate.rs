//! Where keys stand in the file, so that problems can give a line and column.

use std::collections::HashMap;

use toml::de::{DeTable, DeValue};

/// Byte offsets of every key, by dotted path (`environments.dev.pool`).
pub struct KeySpans<'a> {
    text: &'a str,
    offsets: HashMap<String, usize>,
}

impl<'a> KeySpans<'a> {
    pub fn new(text: &'a str, root: &DeTable<'_>) -> Self {
        let mut offsets = HashMap::new();
        collect(root, "", &mut offsets);
        KeySpans { text, offsets }
    }

    /// Line and column (1-based) of the key at `path`, or of its nearest
    /// parent that has one.
    pub fn locate(&self, path: &[&str]) -> Option<(usize, usize)> {
        (1..=path.len())
            .rev()
            .find_map(|n| self.offsets.get(&path[..n].join(".")))
            .map(|&o| line_col(self.text, o))
    }
}

fn collect(table: &DeTable<'_>, prefix: &str, offsets: &mut HashMap<String, usize>) {
    for (key, value) in table.iter() {
        let path =
            if prefix.is_empty() { key.get_ref().to_string() } else { format!("{prefix}.{}", key.get_ref()) };
        if let DeValue::Table(inner) = value.get_ref() {
            collect(inner, &path, offsets);
        }
        offsets.entry(path).or_insert(key.span().start);
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_located_by_path() {
        let text = "a = 1\n[environments.dev]\ndriver = \"x\"\n\n[environments.dev.pool]\n  max = 3\n";
        let (root, errors) = DeTable::parse_recoverable(text);
        assert!(errors.is_empty());
        let spans = KeySpans::new(text, root.get_ref());
        assert_eq!(spans.locate(&["a"]), Some((1, 1)));
        assert_eq!(spans.locate(&["environments", "dev", "driver"]), Some((3, 1)));
        assert_eq!(spans.locate(&["environments", "dev", "pool", "max"]), Some((6, 3)));
        assert_eq!(spans.locate(&["environments", "dev", "missing"]), spans.locate(&["environments", "dev"]));
    }
}
