//! Stamped slots in the mapping, as bytes: the stamp protocol of the
//! in-process plain-data slots applied to a slot's words in the file, with
//! the state as raw bytes (its layout is in the header).
//!
//! A slot is `SLOT_META_WORDS` words (stamp, version, timestamp,
//! published_at, published_ns, source index) followed by the state's bytes
//! in native-endian words, zero-padded to a word. The protocol (writer:
//! stamp odd, `Release` fence, words `Relaxed`, stamp even `Release`;
//! reader: stamp `Acquire`, words `Relaxed`, `Acquire` fence, stamp
//! re-check) and its argument are those of the crate's storage module.

use super::region::SLOT_META_WORDS;
use crate::sync::{fence, Ordering};
use std::sync::atomic::AtomicU64; // shim-exempt: words of the mapped file (see shm/map.rs)

const WRITING: u64 = 1;

/// A slot's metadata.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlotMeta {
    /// The sequence number of this publish: never reused in the buffer's
    /// life (a reset restarts versions, not sequence numbers; a new writer
    /// continues them). Not stored in the slot: it is the stamp's.
    pub seq: u64,
    /// The buffer's version of this publish.
    pub version: u64,
    /// The state's own timestamp (or the publish time), wall-clock seconds.
    pub timestamp: f64,
    /// Wall-clock seconds of the publish.
    pub published_at: f64,
    /// Monotonic ns of the publish, on the writing process's clock.
    pub published_ns: u64,
    /// The index of the publisher's name in the header's source table
    /// (`u32::MAX`: unknown).
    pub source: u32,
}

/// Writes sequence `seq` into `words` (one slot). Writers are serialised.
#[inline]
pub(crate) fn write(words: &[AtomicU64], seq: u64, meta: &SlotMeta, state: &[u8]) {
    let stamp = &words[0];
    // ORDERING: Relaxed; made visible before the payload by the Release
    // fence below.
    stamp.store(seq << 1 | WRITING, Ordering::Relaxed);
    // ORDERING: pairs with the reader's Acquire fence.
    fence(Ordering::Release);
    let values = [
        meta.version,
        meta.timestamp.to_bits(),
        meta.published_at.to_bits(),
        meta.published_ns,
        u64::from(meta.source),
    ];
    let (meta_words, state_words) = words.split_at(SLOT_META_WORDS);
    // ORDERING (payload stores): Relaxed, ordered by the fences and the
    // final Release stamp store.
    for (word, value) in meta_words[1..].iter().zip(values) {
        word.store(value, Ordering::Relaxed);
    }
    assert!(
        state_words.len() * 8 >= state.len(),
        "state larger than a slot"
    );
    for (word, chunk) in state_words.iter().zip(state.chunks(8)) {
        let mut bytes = [0u8; 8];
        bytes[..chunk.len()].copy_from_slice(chunk);
        word.store(u64::from_ne_bytes(bytes), Ordering::Relaxed);
    }
    // ORDERING: Release; pairs with the reader's Acquire stamp load.
    stamp.store(seq << 1, Ordering::Release);
}

/// Reads `words` (one slot) into `state` if it holds the complete write of
/// `seq`; `None` if it holds another sequence or was rewritten meanwhile.
#[inline]
pub(crate) fn read(words: &[AtomicU64], seq: u64, state: &mut [u8]) -> Option<SlotMeta> {
    let stamp = &words[0];
    // ORDERING: Acquire; pairs with the writer's final Release store.
    let before = stamp.load(Ordering::Acquire);
    if before != seq << 1 {
        return None;
    }
    let (meta_words, state_words) = words.split_at(SLOT_META_WORDS);
    // ORDERING (payload loads): Relaxed, validated below.
    let load = |w: &AtomicU64| w.load(Ordering::Relaxed);
    let meta = SlotMeta {
        seq,
        version: load(&meta_words[1]),
        timestamp: f64::from_bits(load(&meta_words[2])),
        published_at: f64::from_bits(load(&meta_words[3])),
        published_ns: load(&meta_words[4]),
        source: load(&meta_words[5]) as u32,
    };
    if state_words.len() * 8 < state.len() {
        return None;
    }
    let full = state.len() / 8;
    let mut chunks = state.chunks_exact_mut(8);
    for (word, chunk) in state_words.iter().zip(&mut chunks) {
        chunk.copy_from_slice(&load(word).to_ne_bytes());
    }
    let tail = chunks.into_remainder();
    if !tail.is_empty() {
        let bytes = load(&state_words[full]).to_ne_bytes();
        tail.copy_from_slice(&bytes[..tail.len()]);
    }
    // ORDERING: pairs with the writer's Release fence: a word from a later
    // write makes the re-load below see that write's stamp.
    fence(Ordering::Acquire);
    // ORDERING: Relaxed after the Acquire fence.
    if stamp.load(Ordering::Relaxed) != before {
        return None;
    }
    Some(meta)
}
