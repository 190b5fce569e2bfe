//! A small map of things kept for the latest published state only: entries of an older state are
//! dropped when one of a newer state is kept, and the map is emptied when it reaches its bound.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;

#[derive(Debug)]
pub struct PerState<K, V> {
    map: Mutex<HashMap<(u64, K), V>>,
    bound: usize,
}

impl<K: Eq + Hash, V: Clone> PerState<K, V> {
    pub fn new(bound: usize) -> Self {
        PerState { map: Mutex::new(HashMap::new()), bound }
    }

    pub fn get(&self, seq: u64, key: K) -> Option<V> {
        self.map.lock().ok()?.get(&(seq, key)).cloned()
    }

    /// Keeps `value` for `key` at state `seq`, dropping what older states kept.
    pub fn put(&self, seq: u64, key: K, value: V) {
        let Ok(mut map) = self.map.lock() else { return };
        map.retain(|(s, _), _| *s == seq);
        if map.len() >= self.bound {
            map.clear();
        }
        map.insert((seq, key), value);
    }
}

#[cfg(test)]
mod tests {
    use super::PerState;

    #[test]
    fn a_newer_state_drops_the_older_and_the_bound_empties_the_map() {
        let m: PerState<&str, u32> = PerState::new(2);
        m.put(1, "a", 1);
        m.put(1, "b", 2);
        assert_eq!((m.get(1, "a"), m.get(1, "b")), (Some(1), Some(2)));
        // A third entry of the same state: the map was full, so it starts again.
        m.put(1, "c", 3);
        assert_eq!((m.get(1, "a"), m.get(1, "c")), (None, Some(3)));
        // An entry of the next state drops the old state's.
        m.put(2, "a", 4);
        assert_eq!((m.get(1, "c"), m.get(2, "a")), (None, Some(4)));
    }
}
