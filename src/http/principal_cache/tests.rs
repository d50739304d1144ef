//! Unit tests of the principal cache: hits, bypass, the invalidation race, age and size.

use super::*;
use crate::http::auth::Scope;

fn principal(user_id: Uuid) -> Principal {
    Principal {
        key_id: Uuid::new_v4(),
        user_id,
        scope: Scope::All,
        messages_app_everywhere: true,
    }
}

fn listening(capacity: usize) -> PrincipalCache {
    let cache = PrincipalCache::new(capacity);
    cache.set_listening(true);
    cache
}

/// Looks `hash` up, loading `answer` on a miss; answers what came back and whether the
/// loader ran.
async fn fetch(
    cache: &PrincipalCache,
    hash: CredentialHash,
    answer: Option<Principal>,
) -> (Option<Principal>, bool) {
    let mut loaded = false;
    let got = cache
        .get_or_load(&hash, || {
            loaded = true;
            async move { Ok::<_, ()>(answer) }
        })
        .await
        .unwrap();
    (got, loaded)
}

#[tokio::test]
async fn a_found_principal_is_kept_and_an_unknown_credential_is_not() {
    let cache = listening(10);
    let user = Uuid::new_v4();
    let p = principal(user);
    assert!(fetch(&cache, [1; 32], Some(p.clone())).await.1);
    let (again, loaded) = fetch(&cache, [1; 32], None).await;
    assert!(!loaded, "the second lookup is served from memory");
    assert_eq!(again.map(|p| p.key_id), Some(p.key_id));
    for _ in 0..2 {
        let (got, loaded) = fetch(&cache, [2; 32], None).await;
        assert!(got.is_none() && loaded);
    }
    assert_eq!(cache.len(), 1);
}

#[tokio::test]
async fn without_listen_every_lookup_reads_the_database() {
    let cache = PrincipalCache::new(10);
    let p = principal(Uuid::new_v4());
    assert!(fetch(&cache, [1; 32], Some(p.clone())).await.1);
    assert!(fetch(&cache, [1; 32], Some(p.clone())).await.1);
    assert!(cache.is_empty());

    // Lost after something was kept: dropped, and bypassed until it is back.
    cache.set_listening(true);
    fetch(&cache, [1; 32], Some(p.clone())).await;
    assert_eq!(cache.len(), 1);
    cache.set_listening(false);
    assert!(cache.is_empty());
    assert!(fetch(&cache, [1; 32], Some(p.clone())).await.1);
    assert!(cache.is_empty());
}

#[tokio::test]
async fn a_lookup_that_straddles_an_invalidation_stores_nothing() {
    let cache = listening(10);
    let user = Uuid::new_v4();
    // The database was read before the change; the change is announced before the answer
    // is stored.
    let got = cache
        .get_or_load(&[1; 32], || async {
            cache.forget_user(user);
            Ok::<_, ()>(Some(principal(user)))
        })
        .await
        .unwrap();
    assert!(got.is_some(), "the caller still gets its answer");
    assert!(cache.is_empty(), "but a possibly stale answer is not kept");

    // Same with the connection lost and back meanwhile.
    cache
        .get_or_load(&[1; 32], || async {
            cache.set_listening(false);
            cache.set_listening(true);
            Ok::<_, ()>(Some(principal(user)))
        })
        .await
        .unwrap();
    assert!(cache.is_empty());
}

#[tokio::test]
async fn notifications_forget_one_user_or_everyone() {
    let cache = listening(10);
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    fetch(&cache, [1; 32], Some(principal(a))).await;
    fetch(&cache, [2; 32], Some(principal(a))).await;
    fetch(&cache, [3; 32], Some(principal(b))).await;
    cache.apply(&a.to_string());
    assert_eq!(cache.len(), 1);
    assert!(fetch(&cache, [1; 32], Some(principal(a))).await.1);
    assert!(!fetch(&cache, [3; 32], None).await.1);
    cache.apply("*");
    assert!(cache.is_empty());
}

#[tokio::test]
async fn an_entry_older_than_the_maximum_age_is_read_again() {
    let cache = listening(10);
    let user = Uuid::new_v4();
    fetch(&cache, [1; 32], Some(principal(user))).await;
    let old = Instant::now()
        .checked_sub(MAX_AGE + Duration::from_secs(1))
        .expect("a clock far enough from its origin");
    cache
        .lock()
        .entries
        .get_mut(&[1; 32])
        .expect("kept")
        .loaded_at = old;
    assert!(fetch(&cache, [1; 32], Some(principal(user))).await.1);
    assert!(!fetch(&cache, [1; 32], None).await.1, "and kept anew");
}

#[tokio::test]
async fn the_cache_never_holds_more_than_its_capacity() {
    let cache = listening(3);
    for i in 0..50u8 {
        fetch(&cache, [i; 32], Some(principal(Uuid::new_v4()))).await;
        assert!(cache.len() <= 3);
    }
    assert_eq!(cache.len(), 3);
    // The newest is always kept.
    assert!(!fetch(&cache, [49; 32], None).await.1);

    let none = listening(0);
    assert!(
        fetch(&none, [1; 32], Some(principal(Uuid::new_v4())))
            .await
            .1
    );
    assert!(none.is_empty());
}
