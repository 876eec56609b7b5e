//! A small YAML emitter for CloudFormation templates held as `serde_json::Value`.
//!
//! Templates are built as JSON values so that tests can inspect them, and written as YAML so
//! that people can read them. Intrinsic functions, which live in the value in their long form
//! (`{"Ref": ...}`, `{"Fn::Sub": ...}`), are written in CloudFormation's short tag form
//! (`!Ref`, `!Sub`). Strings are written plain only when no YAML 1.1 reader could take them for
//! anything else (a number, a date, a boolean, a null, an indicator); otherwise they are
//! double-quoted with JSON escapes, which YAML accepts unchanged.

use serde_json::{Map, Value};

/// Lines longer than this are written in block style instead of flow style.
const MAX_LINE: usize = 100;

/// Render `value` (a mapping) as a YAML document.
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        other => {
            out.push_str(&flow(other, false).unwrap_or_default());
            out.push('\n');
        }
    }
    out
}

/// The short tag and the argument of an intrinsic function, if `value` is one.
fn intrinsic(value: &Value) -> Option<(String, &Value)> {
    let Value::Object(map) = value else {
        return None;
    };
    if map.len() != 1 {
        return None;
    }
    let (key, arg) = map.iter().next()?;
    if key == "Ref" {
        Some(("!Ref".to_owned(), arg))
    } else {
        key.strip_prefix("Fn::")
            .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()))
            .map(|name| (format!("!{name}"), arg))
    }
}

/// The value on one line, when that is possible (no non-empty mappings). `in_flow` says
/// whether it stands inside a `[...]` flow collection, where plain scalars are stricter.
fn flow(value: &Value, in_flow: bool) -> Option<String> {
    match value {
        Value::Null => Some("null".to_owned()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(scalar(s, in_flow)),
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items.iter().map(|v| flow(v, true)).collect();
            Some(format!("[{}]", parts?.join(", ")))
        }
        Value::Object(map) if map.is_empty() => Some("{}".to_owned()),
        Value::Object(_) => {
            let (tag, arg) = intrinsic(value)?;
            // `!GetAtt Resource.Attribute` is the usual way to write the two-element form.
            if tag == "!GetAtt"
                && let Some([Value::String(res), Value::String(attr)]) =
                    arg.as_array().map(Vec::as_slice)
                && plain(res, in_flow)
                && plain(attr, in_flow)
            {
                return Some(format!("!GetAtt {res}.{attr}"));
            }
            Some(format!("{tag} {}", flow(arg, in_flow)?))
        }
    }
}

/// A string scalar, plain when that is safe, double-quoted otherwise.
fn scalar(s: &str, in_flow: bool) -> String {
    if plain(s, in_flow) {
        s.to_owned()
    } else {
        // JSON string escapes are a subset of YAML's double-quoted escapes.
        serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
    }
}

/// Whether `s` can be written as a plain scalar and read back as the same string.
fn plain(s: &str, in_flow: bool) -> bool {
    const RESERVED: [&str; 10] = [
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
    ];
    let starts_well = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '/');
    // Inside `[...]`, a comma ends the scalar, and some readers reject any colon.
    let chars_ok = s.chars().all(|c| {
        c.is_ascii_alphanumeric() || " _./-()+=@".contains(c) || (!in_flow && ",:".contains(c))
    });
    starts_well
        && chars_ok
        && !s.ends_with(' ')
        && !s.ends_with(':')
        && !s.contains(": ")
        && !s.contains(" #")
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

/// A mapping in block style, every key at column `at`.
fn write_map(out: &mut String, map: &Map<String, Value>, at: usize) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !out.ends_with("- ") {
            indent(out, at);
        }
        out.push_str(&scalar(key, false));
        out.push(':');
        write_after_indicator(out, value, at + key.len() + 1, at);
    }
}

/// A sequence in block style, every `-` at column `at`.
fn write_seq(out: &mut String, items: &[Value], at: usize) {
    for item in items {
        indent(out, at);
        out.push('-');
        write_after_indicator(out, item, at + 1, at);
    }
}

/// The value after `key:` or `-`. `column` is where the line stands now; `at` is the
/// column of the key or dash that owns the value.
fn write_after_indicator(out: &mut String, value: &Value, column: usize, at: usize) {
    if let Some(line) = flow(value, false)
        && column + 1 + line.len() <= MAX_LINE
    {
        out.push(' ');
        out.push_str(&line);
        out.push('\n');
        return;
    }
    if let Some((tag, arg)) = intrinsic(value) {
        out.push(' ');
        out.push_str(&tag);
        match arg {
            Value::Array(items) if !items.is_empty() => {
                out.push('\n');
                write_seq(out, items, at + 2);
            }
            Value::Object(map) if !map.is_empty() => {
                out.push('\n');
                write_map(out, map, at + 2);
            }
            other => {
                out.push(' ');
                out.push_str(&flow(other, false).unwrap_or_default());
                out.push('\n');
            }
        }
        return;
    }
    match value {
        Value::Object(map) if !map.is_empty() => {
            if out.ends_with('-') {
                // A mapping inside a sequence starts on the dash's line.
                out.push(' ');
                write_map(out, map, at + 2);
            } else {
                out.push('\n');
                write_map(out, map, at + 2);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_seq(out, items, at + 2);
        }
        // A scalar too long for one line: write it anyway, YAML has no length limit.
        other => {
            out.push(' ');
            out.push_str(&flow(other, false).unwrap_or_default());
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ambiguous_strings_are_quoted() {
        for s in [
            "",
            "yes",
            "No",
            "true",
            "null",
            "~",
            "0.1.0",
            "32",
            "2012-10-17",
            "*",
            "!x",
            "a: b",
            "a #b",
            "trailing:",
            " lead",
            "${AWS::Region}",
            "/@\"'\\",
            "&a",
            "-1",
        ] {
            assert!(!plain(s, false), "{s:?} must be quoted");
        }
        for s in [
            "arm64",
            "x86_64",
            "AWS::NoValue",
            "/aws/lambda",
            "provided.al2023",
            "Foo Bar",
        ] {
            assert!(plain(s, false), "{s:?} can be plain");
        }
        assert!(plain("a, b", false));
        assert!(!plain("a, b", true));
        assert!(!plain("kms:Decrypt", true));
        assert_eq!(scalar("/@\"'\\", false), r#""/@\"'\\""#);
    }

    #[test]
    fn intrinsics_use_short_tags() {
        let v = json!({
            "A": {"Ref": "x"},
            "B": {"Fn::GetAtt": ["Role", "Arn"]},
            "C": {"Fn::Not": [{"Fn::Equals": [{"Ref": "endpoint"}, ""]}]},
            "D": {"Fn::If": ["HasVpc", {"SubnetIds": {"Ref": "s"}}, {"Ref": "AWS::NoValue"}]},
        });
        assert_eq!(
            to_yaml(&v),
            "A: !Ref x\n\
             B: !GetAtt Role.Arn\n\
             C: !Not [!Equals [!Ref endpoint, \"\"]]\n\
             D: !If\n  - HasVpc\n  - SubnetIds: !Ref s\n  - !Ref AWS::NoValue\n"
        );
    }

    #[test]
    fn nested_blocks_indent_consistently() {
        let v = json!({
            "Statement": [
                {"Sid": "One", "Action": ["a:B", "a:C"], "Resource": "*"},
                {"Fn::If": ["Cond", {"Sid": "Two", "Resource": {"k": "v"}}, {"Ref": "AWS::NoValue"}]},
            ],
            "Empty": {},
        });
        assert_eq!(
            to_yaml(&v),
            "Statement:\n\
             \x20 - Sid: One\n\
             \x20   Action: [\"a:B\", \"a:C\"]\n\
             \x20   Resource: \"*\"\n\
             \x20 - !If\n\
             \x20   - Cond\n\
             \x20   - Sid: Two\n\
             \x20     Resource:\n\
             \x20       k: v\n\
             \x20   - !Ref AWS::NoValue\n\
             Empty: {}\n"
        );
    }
}
