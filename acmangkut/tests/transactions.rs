//! `store::write` nests: an inner write that fails rolls back only its savepoint when the outer
//! one carries on, an outer failure rolls back everything, and a dry run leaves nothing. On the
//! suite's backend (`has_test_db`).

use acmangkut::store::audit::Actor;
use acmangkut::store::settings::{get, set};
use acmangkut::store::{self, DbConn, Store, StoreError};

fn actor() -> Actor {
    Actor {
        name: "test".into(),
        kind: "user",
        peer: "127.0.0.1".into(),
    }
}

/// What each case leaves behind, read after the outer transaction ended.
async fn nesting(store: &Store) {
    // Inner failure caught: the outer write commits its own change, not the inner one's.
    store
        .run(|c| {
            store::write(c, |c| {
                set(c, &actor(), "outer", "kept")?;
                let inner = store::write(c, |c| {
                    set(c, &actor(), "inner", "rolled back")?;
                    Err::<(), _>(StoreError::conflict("inner fails"))
                });
                assert!(matches!(inner, Err(StoreError::Conflict(_))), "{inner:?}");
                // Nested again after the rollback: the savepoint machinery still works.
                store::write(c, |c| set(c, &actor(), "after", "kept"))?;
                Ok::<_, StoreError>(())
            })
        })
        .await
        .expect("outer commits");
    // Outer failure: everything it did, nested writes included, is gone.
    let outer = store
        .run(|c| {
            store::write(c, |c| {
                set(c, &actor(), "doomed", "x")?;
                store::write(c, |c| set(c, &actor(), "doomed_inner", "x"))?;
                Err::<(), _>(StoreError::not_found("outer fails"))
            })
        })
        .await;
    assert!(matches!(outer, Err(StoreError::NotFound(_))), "{outer:?}");
    // A dry run rolls back even on success, nested writes included.
    let rehearsed = store
        .run(|c| {
            store::dry_run(c, |c| {
                set(c, &actor(), "rehearsed", "x")?;
                store::write(c, |c| set(c, &actor(), "rehearsed_inner", "x"))?;
                get(c, "rehearsed_inner")
            })
        })
        .await
        .expect("dry run");
    assert_eq!(
        rehearsed.as_deref(),
        Some("x"),
        "visible inside the dry run"
    );

    let read = |key: &'static str| async move {
        store
            .run(move |c: &mut DbConn| get(c, key))
            .await
            .expect("read")
    };
    assert_eq!(read("outer").await.as_deref(), Some("kept"));
    assert_eq!(read("after").await.as_deref(), Some("kept"));
    for key in [
        "inner",
        "doomed",
        "doomed_inner",
        "rehearsed",
        "rehearsed_inner",
    ] {
        assert_eq!(read(key).await, None, "{key} must have been rolled back");
    }
}

#[tokio::test]
async fn nested_writes() {
    let db = has_test_db::TestDb::new();
    let store = Store::open(&db.url, 2, 5_000).expect("store");
    nesting(&store).await;
}
