//! Saga templates: strings with placeholders (`{input.email}`, `{steps.customer.id}`) that read the saga's input and
//! earlier steps' answers, in a step's path and its JSON body. A body string that is exactly one placeholder takes
//! the value's JSON type (`"{input.amount}"` → `2000`); anywhere else a value is written as text (a string as it is,
//! a number or boolean in JSON; in a path, percent-encoded). `{{` and `}}` are literal braces. A placeholder's path
//! walks objects by field and arrays by index.

use serde_json::{Map, Value};

/// What a placeholder reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Root {
    Input,
    /// An earlier step's answer (its domain JSON).
    Step(String),
}

/// One placeholder: its root and the path below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ref {
    pub root: Root,
    pub path: Vec<String>,
    /// As written, without the braces (`steps.customer.id`), for messages.
    pub text: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Ref(Ref),
}

/// A parsed template string.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

/// A JSON body whose strings are templates.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Literal(Value),
    Text(Template),
    Array(Vec<Body>),
    Object(Vec<(String, Body)>),
}

/// Where placeholders are looked up: the input, and the answers of the steps completed so far (by name).
pub trait Scope: Sync {
    fn input(&self) -> &Value;
    fn step(&self, name: &str) -> Option<&Value>;
    /// A value every step placeholder reads as, whatever its path (checking a request before any step ran).
    fn stand_in(&self) -> Option<&Value> {
        None
    }
}

/// A placeholder whose value is not there (or is null).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing(pub String);

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{{{}}} has no value", self.0)
    }
}

impl Template {
    /// Parses `text`; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find(['{', '}']) {
            literal.push_str(&rest[..at]);
            let (brace, after) = (&rest[at..=at], &rest[at + 1..]);
            if after.starts_with(brace) {
                literal.push_str(brace);
                rest = &after[1..];
                continue;
            }
            if brace == "}" {
                return Err(format!(
                    "{text:?} has a '}}' without its '{{' (write '}}}}' for a brace)"
                ));
            }
            let end = after
                .find('}')
                .ok_or_else(|| format!("{text:?} has a '{{' without its '}}' (write '{{{{' for a brace)"))?;
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(Part::Ref(reference(&after[..end])?));
            rest = &after[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    pub fn refs(&self) -> impl Iterator<Item = &Ref> {
        self.parts.iter().filter_map(|part| match part {
            Part::Ref(r) => Some(r),
            Part::Text(_) => None,
        })
    }

    /// The text with every placeholder's value written by `write` (text as it is, or percent-encoded for a path).
    pub fn render_text(&self, scope: &dyn Scope, write: fn(&str) -> String) -> Result<String, Missing> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Ref(r) => out.push_str(&write(&as_text(lookup(scope, r)?))),
            }
        }
        Ok(out)
    }

    /// The text with `stand_in` for every placeholder (to check which route a path is).
    pub fn stand_in(&self, stand_in: &str) -> String {
        self.parts
            .iter()
            .map(|part| match part {
                Part::Text(text) => text.as_str(),
                Part::Ref(_) => stand_in,
            })
            .collect()
    }

    /// The value: a lone placeholder's own JSON value, otherwise the rendered text.
    pub fn render_value(&self, scope: &dyn Scope) -> Result<Value, Missing> {
        match self.parts.as_slice() {
            [Part::Ref(r)] => lookup(scope, r).cloned(),
            _ => self.render_text(scope, str::to_owned).map(Value::String),
        }
    }
}

impl Body {
    /// Parses every string of `value` as a template.
    pub fn parse(value: &Value) -> Result<Body, String> {
        Ok(match value {
            Value::String(text) => Body::Text(Template::parse(text)?),
            Value::Array(items) => Body::Array(items.iter().map(Body::parse).collect::<Result<_, _>>()?),
            Value::Object(fields) => Body::Object(
                fields
                    .iter()
                    .map(|(name, value)| Ok((name.clone(), Body::parse(value)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => Body::Literal(other.clone()),
        })
    }

    pub fn refs(&self) -> Vec<&Ref> {
        match self {
            Body::Literal(_) => Vec::new(),
            Body::Text(template) => template.refs().collect(),
            Body::Array(items) => items.iter().flat_map(Body::refs).collect(),
            Body::Object(fields) => fields.iter().flat_map(|(_, body)| body.refs()).collect(),
        }
    }

    pub fn render(&self, scope: &dyn Scope) -> Result<Value, Missing> {
        Ok(match self {
            Body::Literal(value) => value.clone(),
            Body::Text(template) => template.render_value(scope)?,
            Body::Array(items) => Value::Array(items.iter().map(|b| b.render(scope)).collect::<Result<_, _>>()?),
            Body::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(name, body)| Ok((name.clone(), body.render(scope)?)))
                    .collect::<Result<Map<_, _>, Missing>>()?,
            ),
        })
    }
}

fn reference(inner: &str) -> Result<Ref, String> {
    let segments: Vec<&str> = inner.split('.').collect();
    let plain = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !segments.iter().all(plain) {
        return Err(format!(
            "{{{inner}}} is not a placeholder: write {{input.FIELD}} or {{steps.STEP.FIELD}}"
        ));
    }
    match segments.as_slice() {
        ["input", path @ ..] if !path.is_empty() => Ok(Ref {
            root: Root::Input,
            path: path.iter().map(|s| (*s).to_owned()).collect(),
            text: inner.to_owned(),
        }),
        ["steps", step, path @ ..] if !path.is_empty() => Ok(Ref {
            root: Root::Step((*step).to_owned()),
            path: path.iter().map(|s| (*s).to_owned()).collect(),
            text: inner.to_owned(),
        }),
        _ => Err(format!(
            "{{{inner}}} is not a placeholder: write {{input.FIELD}} or {{steps.STEP.FIELD}}"
        )),
    }
}

/// The value `r` points to; null counts as missing.
pub fn lookup<'a>(scope: &'a dyn Scope, r: &Ref) -> Result<&'a Value, Missing> {
    let missing = || Missing(r.text.clone());
    let mut value = match &r.root {
        Root::Input => scope.input(),
        Root::Step(_) if scope.stand_in().is_some() => return scope.stand_in().ok_or_else(missing),
        Root::Step(name) => scope.step(name).ok_or_else(missing)?,
    };
    for segment in &r.path {
        value = match value {
            Value::Object(fields) => fields.get(segment),
            Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        }
        .ok_or_else(missing)?;
    }
    if value.is_null() {
        return Err(missing());
    }
    Ok(value)
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    struct Values(Value, Value);

    impl Scope for Values {
        fn input(&self) -> &Value {
            &self.0
        }
        fn step(&self, name: &str) -> Option<&Value> {
            self.1.get(name)
        }
    }

    fn scope() -> Values {
        Values(
            json!({"name": "Ada", "amount": 2000, "tags": ["a", "b"], "gone": null}),
            json!({"customer": {"id": "c/1", "email": "ada@example.com"}}),
        )
    }

    #[test]
    fn a_lone_placeholder_keeps_its_type_and_text_interpolates() {
        let body = Body::parse(&json!({
            "amount": {"value": "{input.amount}", "currency": "usd"},
            "customer_id": "{steps.customer.id}",
            "note": "for {input.name}: {input.amount} {{literal}}",
            "first": "{input.tags.0}",
            "n": 3,
        }))
        .unwrap();
        assert_eq!(
            body.render(&scope()).unwrap(),
            json!({
                "amount": {"value": 2000, "currency": "usd"},
                "customer_id": "c/1",
                "note": "for Ada: 2000 {literal}",
                "first": "a",
                "n": 3,
            })
        );
    }

    #[test]
    fn a_path_percent_encodes_values() {
        let path = Template::parse("/customers/{steps.customer.id}").unwrap();
        let encoded = path
            .render_text(&scope(), gatehouse_kit::outbound::path_segment)
            .unwrap();
        assert_eq!(encoded, "/customers/c%2F1");
    }

    #[test]
    fn missing_and_null_values_are_named() {
        for text in [
            "{input.email}",
            "{input.gone}",
            "{steps.payment.id}",
            "{input.tags.5}",
            "x{input.name.x}",
        ] {
            let error = Template::parse(text).unwrap().render_value(&scope()).unwrap_err();
            assert!(text.contains(&error.0), "{text}: {error}");
        }
    }

    #[test]
    fn malformed_templates_are_refused() {
        for text in [
            "{input}",
            "{steps.customer}",
            "{nope.x}",
            "{input.}",
            "{input.a b}",
            "a { b",
            "a } b",
            "{}",
        ] {
            assert!(Template::parse(text).is_err(), "{text}");
        }
        let refs: Vec<_> = Template::parse("{input.a.b}-{steps.s.id}")
            .unwrap()
            .refs()
            .cloned()
            .collect();
        assert_eq!(refs[0].root, Root::Input);
        assert_eq!(refs[1].root, Root::Step("s".into()));
        assert_eq!(refs[1].path, vec!["id".to_owned()]);
    }
}
