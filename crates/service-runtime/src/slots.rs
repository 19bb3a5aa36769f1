//! A cap on things in progress per key (requests per client address, open
//! streams per user): a slot is taken before the work starts and given back
//! when its guard is dropped, however the work ends.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// At most `max` slots per key.
#[derive(Debug)]
pub struct KeyedSlots<K> {
    max: usize,
    counts: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K> Clone for KeyedSlots<K> {
    fn clone(&self) -> Self {
        Self {
            max: self.max,
            counts: self.counts.clone(),
        }
    }
}

/// A slot of a [`KeyedSlots`], given back when dropped.
#[derive(Debug)]
pub struct Slot<K: Hash + Eq> {
    key: K,
    counts: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Hash + Eq + Clone> KeyedSlots<K> {
    /// At most `max` slots per key.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            counts: Arc::default(),
        }
    }

    /// The most slots per key.
    pub fn max(&self) -> usize {
        self.max
    }

    /// A slot for `key`, or `None` when it holds `max` already.
    pub fn try_enter(&self, key: K) -> Option<Slot<K>> {
        let mut counts = self
            .counts
            .lock()
            .expect("never poisoned: no panics inside");
        let count = counts.entry(key.clone()).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot {
            key,
            counts: self.counts.clone(),
        })
    }

    /// The slots `key` holds.
    pub fn of(&self, key: &K) -> usize {
        let counts = self.counts.lock().expect("never poisoned");
        counts.get(key).copied().unwrap_or(0)
    }
}

impl<K: Hash + Eq> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().expect("never poisoned");
        if let Some(count) = counts.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_gets_max_slots_and_a_dropped_slot_is_given_back() {
        let slots = KeyedSlots::new(2);
        let first = slots.try_enter("a").unwrap();
        let _second = slots.try_enter("a").unwrap();
        assert!(slots.try_enter("a").is_none());
        assert!(
            slots.try_enter("b").is_some(),
            "another key is not affected"
        );
        drop(first);
        assert_eq!(slots.of(&"a"), 1);
        assert!(slots.try_enter("a").is_some());
        assert_eq!(slots.of(&"b"), 0, "forgotten at zero");
    }
}
