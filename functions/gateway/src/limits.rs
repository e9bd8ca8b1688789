//! What one GraphQL document may make the gateway do, checked before async-graphql parses,
//! validates or executes it.
//!
//! async-graphql's own limits (depth, complexity) are checked *during* validation, and its
//! parser and validation recurse and follow fragment spreads without memo: 30 fragments that
//! each spread the one before twice held a core for a minute in validation, and a selection
//! set nested ~1,200 deep overflowed the guest's stack in the parser. So [`admit`] does, in
//! order, work that is linear in the document and cannot recurse deeper than
//! [`MAX_NESTING`]:
//!
//! 1. a scan of the text (strings, block strings and comments skipped) counting tokens and
//!    bracket nesting, before anything recursive runs;
//! 2. the parse (now bounded), counting fragment spreads;
//! 3. a walk of the parsed document with each fragment's cost memoised, refusing cycles,
//!    counting the selections the document expands to with fragments inlined and the calls
//!    its fields make to the functions behind the gateway.
//!
//! A refusal is a 400 before any validation or call; what passes is handed on parsed.

use std::collections::{HashMap, HashSet};

use async_graphql::parser::types::{DocumentOperations, ExecutableDocument, OperationDefinition, Selection, SelectionSet};
use async_graphql::Request;

/// Most tokens in a document. GraphiQL's introspection query and a whole screen are a few
/// hundred; parsing this many takes well under a millisecond.
pub const MAX_TOKENS: usize = 5_000;
/// Deepest nesting of `{`, `[` and `(`. The parser refuses selection sets deeper than 64 on
/// its own, but only after a recursive descent that overflows the guest's stack at ~1,200;
/// the data graph is 7 deep and GraphiQL's introspection query about 25.
pub const MAX_NESTING: usize = 64;
/// Most fragment spreads written in a document (GraphiQL's introspection query has 9).
pub const MAX_SPREADS: usize = 100;
/// Most selections a document may expand to with its fragments inlined: the size of the tree
/// validation walks. GraphiQL's introspection query is 494 and a whole screen under 50; 2,000
/// validates in milliseconds, where the expansion of 20 doubling fragments (2²⁰) took 0.5 s
/// natively and more than twice that in the guest.
pub const MAX_SELECTIONS: usize = 2_000;
/// Most calls to the owning functions one request may make: a screen makes 1 to 4 (one per
/// root field, two for `userWithOrders`, one batch for all the lines' products).
pub const MAX_CALLS: usize = 50;

/// Why a document was refused before it was validated. The message is the GraphQL error's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the document is too long: more than {MAX_TOKENS} tokens")]
    TooManyTokens,
    #[error("the document is nested too deeply: more than {MAX_NESTING} levels of brackets or selections")]
    TooDeep,
    #[error("the document has too many fragment spreads: more than {MAX_SPREADS}")]
    TooManySpreads,
    #[error("fragment `{0}` spreads itself, directly or through other fragments")]
    FragmentCycle(String),
    #[error("the document is too large: with its fragments inlined it has more than {MAX_SELECTIONS} selections")]
    TooLarge,
    #[error("the request would make {0} calls to the services behind the gateway, more than {MAX_CALLS}; ask for less in one request")]
    TooManyCalls(usize),
}

/// The request, parsed, if its document is within every limit. A document that does not
/// parse is passed on unparsed: async-graphql reports the syntax error in its usual words.
pub fn admit(mut request: Request) -> Result<Request, Refusal> {
    scan(&request.query)?;
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return Ok(request);
    };
    let cost = cost(&document, request.operation_name.as_deref())?;
    if cost.calls > MAX_CALLS {
        return Err(Refusal::TooManyCalls(cost.calls));
    }
    request.set_parsed_query(document);
    Ok(request)
}

/// Counts tokens and bracket nesting in one pass over the bytes, without recursion: the
/// number of tokens, or the limit the text is over.
fn scan(text: &str) -> Result<usize, Refusal> {
    let bytes = text.as_bytes();
    let at = |i: usize, s: &[u8]| bytes[i..].starts_with(s);
    let (mut i, mut tokens, mut depth) = (0, 0, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            // Commas are insignificant in GraphQL, like white space.
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r') {
                    i += 1;
                }
                continue;
            }
            b'"' if at(i, b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !at(i, b"\"\"\"") {
                    // `\"""` is an escaped delimiter inside a block string.
                    i += if at(i, b"\\\"\"\"") { 4 } else { 1 };
                }
                i += 3;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && !matches!(bytes[i], b'"' | b'\n' | b'\r') {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(Refusal::TooDeep);
                }
                i += 1;
            }
            b'}' | b']' | b')' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'.' if at(i, b"...") => i += 3,
            b if b.is_ascii_alphanumeric() || b == b'_' || b == b'-' => {
                i += 1;
                // A name, or a number with its fraction and exponent.
                let number = b.is_ascii_digit() || b == b'-';
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || (number && matches!(bytes[i], b'.' | b'+' | b'-')))
                {
                    i += 1;
                }
            }
            _ => i += 1,
        }
        tokens += 1;
        if tokens > MAX_TOKENS {
            return Err(Refusal::TooManyTokens);
        }
    }
    Ok(tokens)
}

/// What a selection set costs once its fragments are inlined.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// Fields, inline fragments and spreads, counted once per place they are inlined.
    pub selections: usize,
    /// Calls to the owning functions its fields make.
    pub calls: usize,
}

impl Cost {
    fn add(&mut self, other: Cost) -> Result<(), Refusal> {
        self.selections = self.selections.saturating_add(other.selections);
        self.calls = self.calls.saturating_add(other.calls);
        if self.selections > MAX_SELECTIONS {
            return Err(Refusal::TooLarge);
        }
        Ok(())
    }
}

/// The calls a field makes, by name: a root field its own reads (`userWithOrders` two, at the
/// same time); below the root, only an order line's `product` and a product's `stock` call,
/// and all of an answer's share one batch each, so each counts one wherever it appears. Everything else is read with
/// its parent. A root field missing here would count nothing: a unit test checks every field
/// of `Query` is listed.
pub fn calls_of(field: &str, root: bool) -> usize {
    match (root, field) {
        (true, "me" | "user" | "product" | "products" | "order" | "orders") => 1,
        (true, "userWithOrders") => 2,
        (false, "product" | "stock") => 1,
        _ => 0,
    }
}

/// The selections the whole document expands to (what validation walks: every operation and
/// every fragment definition), and the calls of the operation that would run
/// (`operation_name`, or the costliest when it is not given).
pub fn cost(document: &ExecutableDocument, operation_name: Option<&str>) -> Result<Cost, Refusal> {
    let spreads = document
        .operations
        .iter()
        .map(|(_, op)| &op.node.selection_set.node)
        .chain(document.fragments.values().map(|f| &f.node.selection_set.node))
        .map(count_spreads)
        .sum::<usize>();
    if spreads > MAX_SPREADS {
        return Err(Refusal::TooManySpreads);
    }
    let mut walk = Walk { document, memo: HashMap::new(), open: HashSet::new() };
    let mut total = Cost::default();
    let mut calls = 0;
    for (name, operation) in document.operations.iter() {
        let cost = walk.operation(&operation.node)?;
        total.add(Cost { selections: cost.selections, calls: 0 })?;
        let runs = match (&document.operations, operation_name) {
            (DocumentOperations::Multiple(_), Some(wanted)) => name.is_some_and(|name| name.as_str() == wanted),
            _ => true,
        };
        if runs {
            calls = calls.max(cost.calls);
        }
    }
    for name in document.fragments.keys() {
        let cost = walk.fragment(name.as_str(), false, 0)?;
        total.add(Cost { selections: cost.selections, calls: 0 })?;
    }
    Ok(Cost { selections: total.selections, calls })
}

/// Spreads written in a selection set and the sets inside it (not through the fragments they
/// name). The nesting is already bounded by [`scan`].
fn count_spreads(set: &SelectionSet) -> usize {
    set.items
        .iter()
        .map(|item| match &item.node {
            Selection::Field(field) => count_spreads(&field.node.selection_set.node),
            Selection::InlineFragment(inline) => count_spreads(&inline.node.selection_set.node),
            Selection::FragmentSpread(_) => 1,
        })
        .sum()
}

/// The expansion walk. Each fragment is costed once per position (at the root or below it)
/// and remembered, so a fragment spread twice by a fragment spread twice by … is two lookups,
/// never 2ⁿ visits; `open` holds the fragments being costed, to find cycles.
struct Walk<'a> {
    document: &'a ExecutableDocument,
    memo: HashMap<(&'a str, bool), Cost>,
    open: HashSet<&'a str>,
}

impl<'a> Walk<'a> {
    fn operation(&mut self, operation: &'a OperationDefinition) -> Result<Cost, Refusal> {
        self.selection_set(&operation.selection_set.node, true, 0)
    }

    /// `depth` counts selection sets and fragment hops from the operation, so this walk can
    /// never recurse deeper than [`MAX_NESTING`] whatever chain of fragments it follows.
    fn selection_set(&mut self, set: &'a SelectionSet, root: bool, depth: usize) -> Result<Cost, Refusal> {
        if depth > MAX_NESTING {
            return Err(Refusal::TooDeep);
        }
        let mut cost = Cost::default();
        for item in &set.items {
            cost.add(Cost { selections: 1, calls: 0 })?;
            match &item.node {
                Selection::Field(field) => {
                    cost.add(Cost { selections: 0, calls: calls_of(field.node.name.node.as_str(), root) })?;
                    cost.add(self.selection_set(&field.node.selection_set.node, false, depth + 1)?)?;
                }
                // An inline fragment's fields are at the level it sits at.
                Selection::InlineFragment(inline) => cost.add(self.selection_set(&inline.node.selection_set.node, root, depth + 1)?)?,
                Selection::FragmentSpread(spread) => cost.add(self.fragment(spread.node.fragment_name.node.as_str(), root, depth + 1)?)?,
            }
        }
        Ok(cost)
    }

    fn fragment(&mut self, name: &'a str, root: bool, depth: usize) -> Result<Cost, Refusal> {
        if let Some(cost) = self.memo.get(&(name, root)) {
            return Ok(*cost);
        }
        // An unknown fragment costs nothing here; validation reports it.
        let Some((name, fragment)) = self.document.fragments.get_key_value(name) else {
            return Ok(Cost::default());
        };
        let name = name.as_str();
        if !self.open.insert(name) {
            return Err(Refusal::FragmentCycle(name.to_owned()));
        }
        let cost = self.selection_set(&fragment.node.selection_set.node, root, depth);
        self.open.remove(name);
        let cost = cost?;
        self.memo.insert((name, root), cost);
        Ok(cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(query: &str) -> Option<Refusal> {
        admit(Request::new(query)).err()
    }

    /// `n` fragments, each spreading the one before twice, under `on Query` with `leaf`
    /// selected by the first: the document that held validation for 60 s at n = 30.
    pub(crate) fn doubling(n: usize, leaf: &str) -> String {
        let mut doc = format!("query {{ ...F{n} }} fragment F0 on Query {{ {leaf} }} ");
        for i in 1..=n {
            doc.push_str(&format!("fragment F{i} on Query {{ ...F{p} ...F{p} }} ", p = i - 1));
        }
        doc
    }

    #[test]
    fn doubling_fragments_are_refused_by_their_expanded_size() {
        // Under the spread limit (2 × 40 = 80), so it is the expansion that refuses it.
        assert_eq!(refusal(&doubling(40, "__typename")), Some(Refusal::TooLarge));
        assert_eq!(refusal(&doubling(30, "me { id }")), Some(Refusal::TooLarge));
        // The same shape, small, passes and parses once.
        assert_eq!(refusal(&doubling(3, "__typename")), None);
    }

    #[test]
    fn expansion_is_counted_exactly() {
        let document = async_graphql::parser::parse_query(doubling(3, "__typename")).unwrap();
        // The operation: F3 → 2 × F2 → 4 × F1 → 8 × F0 → 8 fields: 1 + 2 + 4 + 8 + 8 = 23.
        // Each fragment definition on its own: F0 1, F1 4, F2 10, F3 22.
        assert_eq!(cost(&document, None).unwrap().selections, 23 + 1 + 4 + 10 + 22);
    }

    #[test]
    fn fragment_cycles_are_refused_before_validation_follows_them() {
        let cycle = "{ ...A } fragment A on Query { ...B ...B } fragment B on Query { ...A ...A }";
        assert!(matches!(refusal(cycle), Some(Refusal::FragmentCycle(_))));
        assert!(matches!(refusal("{ ...A } fragment A on Query { me { ...A } }"), Some(Refusal::FragmentCycle(_))));
    }

    #[test]
    fn too_many_spreads_are_refused() {
        let spreads = "...F ".repeat(MAX_SPREADS + 1);
        assert_eq!(refusal(&format!("{{ {spreads} }} fragment F on Query {{ __typename }}")), Some(Refusal::TooManySpreads));
        let spreads = "...F ".repeat(MAX_SPREADS);
        assert_eq!(refusal(&format!("{{ {spreads} }} fragment F on Query {{ __typename }}")), None);
    }

    #[test]
    fn deep_nesting_is_refused_before_the_parser_recurses() {
        // Deep enough to overflow the parser's stack; this test would crash, not fail, if it ran.
        let selections = format!("{}__typename{}", "{ a ".repeat(5_000), " }".repeat(5_000));
        assert_eq!(refusal(&format!("{{ {selections} }}")), Some(Refusal::TooDeep));
        let list = format!("{{ product(id: {}1{}) {{ id }} }}", "[".repeat(5_000), "]".repeat(5_000));
        assert_eq!(refusal(&list), Some(Refusal::TooDeep));
        let object = format!("{{ product(id: {}1{}) {{ id }} }}", "{a: ".repeat(5_000), "}".repeat(5_000));
        assert_eq!(refusal(&object), Some(Refusal::TooDeep));
        // Exactly at the limit it is the parser's to judge (which refuses selection sets over 64).
        let at_limit = format!("{}__typename{}", "{ ".repeat(MAX_NESTING), " }".repeat(MAX_NESTING));
        assert!(scan(&at_limit).is_ok());
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let brackets = "{".repeat(MAX_NESTING * 2);
        for hidden in [
            format!("\"{brackets}\""),
            format!("\"\\\"{brackets}\""),
            format!("\"\"\"{brackets} \\\"\"\" {brackets}\"\"\""),
        ] {
            assert_eq!(scan(&format!("{{ product(id: {hidden}) {{ id }} }}")), Ok(11), "{hidden}");
        }
        assert_eq!(scan(&format!("# {brackets}\n{{ __typename }}")), Ok(3));
        // The scan resumes after each string: brackets after one still count.
        assert_eq!(scan(&format!("{{ a(s: \"x\") {brackets} }}")), Err(Refusal::TooDeep));
    }

    #[test]
    fn tokens_are_counted() {
        let at_limit = format!("{{ {} }}", "__typename ".repeat(MAX_TOKENS - 2));
        assert_eq!(scan(&at_limit), Ok(MAX_TOKENS));
        assert_eq!(scan(&format!("{{ {} }}", "__typename ".repeat(MAX_TOKENS - 1))), Err(Refusal::TooManyTokens));
        // Punctuators, names, numbers, strings, spreads; commas, comments and spaces are not tokens.
        let text = "query($a: Int = -1.5e3, $b: [String!]) { x(a: $a, s: \"a b\") ...F } # c { {";
        assert_eq!(scan(text), Ok(30));
    }

    #[test]
    fn calls_are_counted_and_bounded() {
        let document = async_graphql::parser::parse_query(
            "{ me { id } a: me { id } userWithOrders(id: \"x\") { orders { nodes { lines { product { id } } } } } ...Q }
             fragment Q on Query { products { nodes { id } } }",
        )
        .unwrap();
        assert_eq!(cost(&document, None).unwrap().calls, 1 + 1 + 2 + 1 + 1);
        let aliases: String = (0..=MAX_CALLS).map(|i| format!("m{i}: me {{ id }} ")).collect();
        assert_eq!(refusal(&format!("{{ {aliases} }}")), Some(Refusal::TooManyCalls(MAX_CALLS + 1)));
        let aliases: String = (0..MAX_CALLS).map(|i| format!("m{i}: me {{ id }} ")).collect();
        assert_eq!(refusal(&format!("{{ {aliases} }}")), None);
    }

    #[test]
    fn only_the_operation_that_runs_counts_its_calls() {
        let many: String = (0..=MAX_CALLS).map(|i| format!("m{i}: me {{ id }} ")).collect();
        let document = format!("query Cheap {{ me {{ id }} }} query Dear {{ {many} }}");
        let request = |name: &str| Request::new(document.clone()).operation_name(name);
        assert!(admit(request("Cheap")).is_ok());
        assert_eq!(admit(request("Dear")).err(), Some(Refusal::TooManyCalls(MAX_CALLS + 1)));
    }
}
