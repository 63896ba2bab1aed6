//! Warm sessions: one `WalletSession` kept across calls, as the component's
//! `wallet-session` resource is.

use super::*;
use crate::crypto::envelope::argon2_derivations_on_this_thread;

fn transfer_of(amount: u64) -> CallInput {
    CallInput {
        calldata: vec!["0xbeef".into(), format!("{amount:#x}"), "0x0".into()],
        ..transfer()
    }
}

/// A registered session, opened warm; its key locked (as after a restart).
fn warm_registered(p: &mut FakePorts) -> WalletSession {
    let mut s = WalletSession::new(ctx());
    s.create_session(&CreateOptions::default(), p).unwrap();
    s.register_session(&register_opts(10), p).unwrap();
    s.lock();
    s
}

#[test]
fn warm_execute_runs_no_key_derivation() {
    let mut p = FakePorts::default();
    let mut s = warm_registered(&mut p);
    assert!(!s.is_unlocked());

    let before = argon2_derivations_on_this_thread();
    s.execute_with_session(&[transfer_of(1)], &IntentOptions::default(), &mut p)
        .unwrap();
    assert_eq!(
        argon2_derivations_on_this_thread() - before,
        1,
        "the first signature unlocks"
    );
    assert!(s.is_unlocked());

    let before = argon2_derivations_on_this_thread();
    for amount in 2..=5 {
        s.execute_with_session(&[transfer_of(amount)], &IntentOptions::default(), &mut p)
            .unwrap();
    }
    assert_eq!(
        argon2_derivations_on_this_thread(),
        before,
        "warm executes derive nothing"
    );
    // No chain id read either: it is pinned with the session.
    let chain_reads = p
        .requests
        .iter()
        .filter(|(_, body)| body["method"] == "starknet_chainId")
        .count();
    assert_eq!(chain_reads, 1, "only create read the chain id");

    let status = s.get_session_status(&mut p).unwrap();
    assert_eq!(status.remaining_calls, Some(5));
}

#[test]
fn create_keeps_the_new_key_unlocked() {
    let mut p = FakePorts::default();
    let mut s = WalletSession::new(ctx());
    s.create_session(&CreateOptions::default(), &mut p).unwrap();
    assert!(s.is_unlocked());
    let before = argon2_derivations_on_this_thread();
    s.register_session(&register_opts(10), &mut p).unwrap();
    assert_eq!(
        argon2_derivations_on_this_thread() - before,
        1,
        "register decrypts the owner key only (this test wallet's owner envelope is Argon2id)"
    );
    let before = argon2_derivations_on_this_thread();
    s.execute_with_session(&[transfer_of(1)], &IntentOptions::default(), &mut p)
        .unwrap();
    assert_eq!(argon2_derivations_on_this_thread(), before);
}

#[test]
fn lock_revoke_and_clear_forget_the_key() {
    let mut p = FakePorts::default();
    let mut s = warm_registered(&mut p);
    s.execute_with_session(&[transfer_of(1)], &IntentOptions::default(), &mut p)
        .unwrap();
    assert!(s.is_unlocked());
    s.lock();
    assert!(!s.is_unlocked());

    let before = argon2_derivations_on_this_thread();
    s.execute_with_session(&[transfer_of(2)], &IntentOptions::default(), &mut p)
        .unwrap();
    assert_eq!(
        argon2_derivations_on_this_thread() - before,
        1,
        "locked: unlock again"
    );

    s.revoke_session(&IntentOptions::default(), &mut p).unwrap();
    assert!(!s.is_unlocked());
    s.execute_with_session(&[transfer_of(3)], &IntentOptions::default(), &mut p)
        .unwrap_err();
    assert!(!s.is_unlocked());

    let mut s = warm_registered(&mut FakePorts::default());
    s.clear_session(&mut p).unwrap();
    assert!(!s.is_unlocked());
}

#[test]
fn lock_zeroizes_the_key_in_place() {
    let key = SigningKey::from_felt(&Felt::from(0x1234_u64)).unwrap();
    let mut keys = SessionKeys::default();
    keys.keep(key, Felt::ONE, "envelope");
    assert!(keys.is_unlocked());
    let taken = keys.take_zeroized().expect("was unlocked");
    assert_eq!(
        *taken.key.to_be_bytes(),
        [0u8; 32],
        "lock zeroes the key before it is freed"
    );
    assert!(!keys.is_unlocked());
}

#[test]
fn a_replaced_session_is_never_signed_with_the_old_key() {
    let mut p = FakePorts::default();
    let mut warm = warm_registered(&mut p);
    warm.execute_with_session(&[transfer_of(1)], &IntentOptions::default(), &mut p)
        .unwrap();

    // Another instance revokes, clears and registers a new session.
    let c = ctx();
    revoke_session(&c, &mut p).unwrap();
    clear_session(&c, &mut p).unwrap();
    create_session(&c, &CreateOptions::default(), &mut p).unwrap();
    register_session(&c, &register_opts(10), &mut p).unwrap();

    let before = argon2_derivations_on_this_thread();
    warm.execute_with_session(&[transfer_of(2)], &IntentOptions::default(), &mut p)
        .unwrap();
    assert_eq!(
        argon2_derivations_on_this_thread() - before,
        1,
        "the new session's key is decrypted, not the old one reused"
    );
    let new_pk = SessionRecord::decode(&p.store[&SessionRecord::key(WALLET)])
        .unwrap()
        .public_key;
    let last = p
        .requests
        .iter()
        .rev()
        .find(|(url, _)| url.contains("execute-sponsored-transaction"))
        .unwrap();
    assert_eq!(
        last.1["userSignature"][0].as_str().map(str::to_owned),
        Some(new_pk)
    );
}

#[test]
fn a_wrong_pin_never_rides_on_an_unlocked_key() {
    let mut p = FakePorts::default();
    let mut right = warm_registered(&mut p);
    right
        .execute_with_session(&[transfer_of(1)], &IntentOptions::default(), &mut p)
        .unwrap();
    let mut wrong = WalletSession::new(ctx_with("9999", WalletType::Chipi));
    let err = wrong
        .execute_with_session(&[transfer_of(2)], &IntentOptions::default(), &mut p)
        .unwrap_err();
    assert_eq!(err.code(), "SESSION_DECRYPTION_FAILED");
}

#[test]
fn wait_for_transaction_polls_until_accepted() {
    let mut p = FakePorts::default();
    let mut s = warm_registered(&mut p);
    let hash = s
        .execute_with_session(&[transfer_of(1)], &IntentOptions::default(), &mut p)
        .unwrap();
    p.receipt_unknown_polls.set(3);
    let slept = p.slept_ms;
    let receipt = s.wait_for_transaction(&hash, 60_000, &mut p).unwrap();
    assert_eq!(receipt.transaction_hash, hash);
    assert_eq!(receipt.execution_status, ExecutionStatus::Succeeded);
    assert_eq!(receipt.finality_status, "ACCEPTED_ON_L2");
    assert_eq!(receipt.block_number, Some(7));
    assert_eq!(p.slept_ms - slept, 100 + 200 + 400, "backoff between polls");

    let err = s.wait_for_transaction("0xdead", 1_000, &mut p).unwrap_err();
    assert_eq!(err.code(), "TRANSACTION_PENDING");
    let err = s.wait_for_transaction("nope", 1_000, &mut p).unwrap_err();
    assert_eq!(err.code(), "INVALID_INPUT");
}

#[test]
fn a_wait_whose_node_keeps_failing_is_pending_with_the_hash() {
    let mut p = FakePorts::default();
    let mut s = warm_registered(&mut p);
    let hash = s
        .execute_with_session(&[transfer_of(1)], &IntentOptions::default(), &mut p)
        .unwrap();
    p.fail = Some(("rpc.example".into(), 503, "{}".into()));
    let err = s.wait_for_transaction(&hash, 5_000, &mut p).unwrap_err();
    assert_eq!(err.code(), "TRANSACTION_PENDING", "{err}");
    assert!(err.to_string().contains(&hash), "{err}");
    assert!(
        err.to_string().contains("503"),
        "names the node's error: {err}"
    );
    // Once the node answers again, the same wait reads the receipt.
    p.fail = None;
    let receipt = s.wait_for_transaction(&hash, 5_000, &mut p).unwrap();
    assert_eq!(receipt.transaction_hash, hash);
}

#[test]
fn high_entropy_keys_never_run_argon2_even_one_session_per_request() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let key = URL_SAFE_NO_PAD.encode([0x5a_u8; 32]);
    let mut c = ctx_with(&key, WalletType::Chipi);
    c.encrypt_key_kind = KeyKind::HighEntropy;
    let owner = SigningKey::from_felt(&Felt::from(0x5eed_u64)).unwrap();
    let wallet = Felt::from_hex(WALLET).unwrap();
    let high_entropy = EncryptKey::new(KeyKind::HighEntropy, &key).unwrap();
    c.wallet.encrypted_private_key =
        seal_owner_key(&owner, &high_entropy, &wallet, [1; 16], [2; 12]).unwrap();
    let mut p = FakePorts::default();
    let before = argon2_derivations_on_this_thread();
    // A fresh session per operation: what a serverless host does.
    let created = create_session(&c, &CreateOptions::default(), &mut p).unwrap();
    assert!(created.encrypted_private_key.starts_with("v1.hkdf-sha256."));
    register_session(&c, &register_opts(10), &mut p).unwrap();
    for amount in 1..=3 {
        execute_with_session(&c, &[transfer_of(amount)], &mut p).unwrap();
    }
    assert_eq!(argon2_derivations_on_this_thread(), before);
    // The same text given as a PIN does not open it, and the error says
    // which kind it was sealed with.
    let mut as_pin = c.clone();
    as_pin.encrypt_key_kind = KeyKind::Pin;
    let e = execute_with_session(&as_pin, &[transfer_of(9)], &mut p).unwrap_err();
    assert_eq!(e.code(), "SESSION_DECRYPTION_FAILED");
    assert!(e.to_string().contains("`high-entropy`"), "{e}");
    assert_eq!(argon2_derivations_on_this_thread(), before);
    // A high-entropy key shorter than 32 bytes is refused up front.
    let mut short = c.clone();
    short.encrypt_key = Zeroizing::new(URL_SAFE_NO_PAD.encode([0x5a_u8; 31]));
    let e = execute_with_session(&short, &[transfer_of(9)], &mut p).unwrap_err();
    assert_eq!(e.code(), "INVALID_INPUT", "{e}");
    let e = create_session(&short, &CreateOptions::default(), &mut p).unwrap_err();
    assert_eq!(e.code(), "INVALID_INPUT", "{e}");
}

#[test]
fn a_warm_execute_writes_the_store_once() {
    let mut p = FakePorts::default();
    let mut s = warm_registered(&mut p);
    s.execute_with_session(&[transfer_of(1)], &IntentOptions::default(), &mut p)
        .unwrap();
    let writes = p.cas_writes;
    for amount in 2..=6 {
        s.execute_with_session(&[transfer_of(amount)], &IntentOptions::default(), &mut p)
            .unwrap();
    }
    assert_eq!(p.cas_writes - writes, 5, "one write per execute");
    // Until the next write, the last landing is known to this session only;
    // every reader of this session sees it landed.
    assert!(s.has_unsettled());
    assert_eq!(record(&p).pending.len(), 1);
    assert_eq!(
        s.get_session_status(&mut p).unwrap().remaining_calls,
        Some(4)
    );
    // Any other operation (here the status above) or the resource's drop
    // writes it.
    assert!(!s.has_unsettled());
    let r = record(&p);
    assert!(r.pending.is_empty());
    assert_eq!(r.calls_used, 6);
}

#[test]
fn another_instance_settles_a_deferred_landing_once() {
    let mut p = FakePorts::default();
    let mut warm = warm_registered(&mut p);
    warm.execute_with_session(&[transfer_of(1)], &IntentOptions::default(), &mut p)
        .unwrap();
    assert_eq!(record(&p).pending.len(), 1);
    // Another instance reconciles it with the account (nonce consumed).
    execute_with_session(&ctx(), &[transfer_of(2)], &mut p).unwrap();
    let r = record(&p);
    assert!(r.pending.is_empty());
    assert_eq!(r.calls_used, 2);
    // The warm session finds nothing left to fold and counts nothing twice.
    warm.execute_with_session(&[transfer_of(3)], &IntentOptions::default(), &mut p)
        .unwrap();
    warm.flush(&mut p);
    assert_eq!(record(&p).calls_used, 3);
    assert_eq!(session_calls_used(&p), 3);
}

#[test]
fn the_same_transfer_twice_in_a_warm_session_is_two_transactions() {
    let mut p = FakePorts::default();
    let mut s = warm_registered(&mut p);
    let first = s
        .execute_with_session(&[transfer_of(7)], &IntentOptions::default(), &mut p)
        .unwrap();
    let second = s
        .execute_with_session(&[transfer_of(7)], &IntentOptions::default(), &mut p)
        .unwrap();
    assert_ne!(first, second);
    s.flush(&mut p);
    assert_eq!(record(&p).calls_used, 2);
}

/// Linear memory scans: after `lock`, the whole linear memory of the
/// instance (stack and heap) holds neither the session key nor the nonce `k`
/// of its last signature, in any of the forms the code handles them in
/// (big-endian bytes, little-endian bytes, the in-memory `Felt`). Runs on
/// wasm32 only: there the test reads its own linear memory, as a host can.
#[cfg(target_arch = "wasm32")]
mod linear_memory {
    use super::*;
    use crate::crypto::envelope::{self, EncryptKey};
    use crate::crypto::felt::parse_felt;
    use crate::crypto::scrub::scrub_after_lock;

    /// A pattern stored complemented, so that the scan never finds the
    /// pattern's own bytes.
    struct Masked {
        name: &'static str,
        bytes: [u8; 32],
    }

    fn masked(name: &'static str, plain: &[u8]) -> Masked {
        let mut bytes = [0u8; 32];
        for (m, p) in bytes.iter_mut().zip(plain) {
            *m = !*p;
        }
        Masked { name, bytes }
    }

    /// The in-memory bytes of a felt (whatever its internal representation).
    fn felt_bytes(felt: &Felt) -> [u8; 32] {
        assert_eq!(size_of::<Felt>(), 32);
        let mut out = [0u8; 32];
        // SAFETY: `felt` is a live, initialised 32-byte value; it is read
        // as bytes, not reinterpreted.
        let raw = unsafe { core::slice::from_raw_parts((felt as *const Felt).cast::<u8>(), 32) };
        out.copy_from_slice(raw);
        out
    }

    /// How many times each pattern occurs in the whole linear memory.
    fn occurrences(patterns: &[Masked]) -> Vec<(&'static str, usize)> {
        let size = core::arch::wasm32::memory_size(0) * 65_536;
        // Address 0 is the null pointer; nothing is kept in the first bytes.
        let start = 16usize;
        // SAFETY: in wasm32 every address below the memory size is mapped
        // and readable; the scan only reads bytes.
        let memory = unsafe {
            core::slice::from_raw_parts(
                core::ptr::with_exposed_provenance::<u8>(start),
                size - start,
            )
        };
        patterns
            .iter()
            .map(|p| {
                let first = !p.bytes[0];
                let count = memory
                    .windows(32)
                    .filter(|w| w[0] == first && w.iter().zip(&p.bytes).all(|(m, b)| *m == !*b))
                    .count();
                (p.name, count)
            })
            .collect()
    }

    /// The session key and the `k` of the pending transaction's signature,
    /// read the slow way (envelope, RFC 6979) and returned masked; the
    /// temporaries this leaves are scrubbed by the caller.
    #[inline(never)]
    fn key_material(p: &FakePorts) -> Vec<Masked> {
        let record = record(p);
        let wallet = parse_felt(&record.wallet).unwrap();
        let public = parse_felt(&record.public_key).unwrap();
        let key = envelope::open(
            &record.encrypted_private_key,
            &EncryptKey::pin(PIN),
            &wallet,
            &public,
        )
        .unwrap();
        let hash = parse_felt(&record.pending[0].message_hash).unwrap();
        let secret = key.to_be_bytes();
        let k = key.nonce_for_tests(&hash);
        let mut secret_le = *secret;
        secret_le.reverse();
        let mut k_le = *k;
        k_le.reverse();
        let secret_felt = felt_bytes(&Felt::from_bytes_be(&secret));
        let k_felt = felt_bytes(&Felt::from_bytes_be(&k));
        vec![
            masked("session key (big-endian)", secret.as_slice()),
            masked("session key (little-endian)", &secret_le),
            masked("session key (felt)", &secret_felt),
            masked("k (big-endian)", k.as_slice()),
            masked("k (little-endian)", &k_le),
            masked("k (felt)", &k_felt),
        ]
    }

    #[test]
    fn lock_leaves_no_key_material_in_linear_memory() {
        use rand::SeedableRng;
        // A session key no other test of this binary makes (they run in the
        // same linear memory before this one).
        let mut p = FakePorts {
            rng: rand::rngs::StdRng::seed_from_u64(0x6c6f_636b_5f73_6361),
            ..FakePorts::default()
        };
        let mut s = warm_registered(&mut p);
        for amount in 1..=2 {
            s.execute_with_session(&[transfer_of(amount)], &IntentOptions::default(), &mut p)
                .unwrap();
        }
        // The last signature stays pending: its message hash is in the record.
        p.lose_answers = 1;
        let e = s
            .execute_with_session(&[transfer_of(3)], &IntentOptions::default(), &mut p)
            .unwrap_err();
        assert_eq!(e.code(), "TRANSACTION_PENDING", "{e}");
        assert!(s.is_unlocked());
        let patterns = key_material(&p);
        scrub_after_lock();

        // The scan finds what is there: the unlocked key, and a live felt.
        let before = occurrences(&patterns);
        assert!(before[0].1 >= 1, "the unlocked key is found: {before:?}");
        let probe = Box::new(Felt::from(0x5eed_1234_5678_u64));
        let probe_pattern = [masked("probe felt", &felt_bytes(&probe))];
        assert_eq!(occurrences(&probe_pattern)[0].1, 1, "a live felt is found");
        drop(probe);

        s.lock();
        let after = occurrences(&patterns);
        assert!(
            after.iter().all(|(_, count)| *count == 0),
            "key material left in linear memory after lock: {after:?} (before lock: {before:?})"
        );
    }
}
