//! The source table is bounded (in its own test binary: filling the table
//! is process-wide).
#![cfg(not(loom))]

use rtstate::{Error, Source, MAX_SOURCES};

#[test]
fn a_full_table_refuses_new_names_and_keeps_old_ones() {
    let first = Source::try_intern("component-0").unwrap();
    let mut refused = None;
    for i in 1..=MAX_SOURCES {
        match Source::try_intern(&format!("component-{i}")) {
            Ok(_) => {}
            Err(e) => {
                refused = Some((i, e));
                break;
            }
        }
    }
    let (at, err) = refused.expect("the table must refuse a name at some point");
    assert!(at < MAX_SOURCES, "refused at {at}");
    assert!(
        matches!(err, Error::InvalidArgument { name: "source", .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&MAX_SOURCES.to_string()), "{err}");
    // Names already interned still resolve, without growing the table.
    assert_eq!(Source::try_intern("component-0"), Ok(first));
    assert_eq!(first.as_str(), "component-0");
    assert_eq!(Source::intern("one too many"), Source::UNKNOWN);
}
