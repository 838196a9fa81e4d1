//! The one sort of the timeline: a small heapsort of indices.

/// Sorts the indices `v` by `less`, a strict order (ties are then broken by index by the
/// callers' keys). One small heapsort serves every sort of this module: each use of the
/// standard library's sorts adds kilobytes to the binary. O(n log n) on any input.
pub(super) fn sort_with(v: &mut [usize], less: &dyn Fn(usize, usize) -> bool) {
    let sift = |v: &mut [usize], mut root: usize, end: usize| loop {
        let mut child = 2 * root + 1;
        if child >= end {
            break;
        }
        if child + 1 < end && less(v[child], v[child + 1]) {
            child += 1;
        }
        if !less(v[root], v[child]) {
            break;
        }
        v.swap(root, child);
        root = child;
    };
    let n = v.len();
    for i in (0..n / 2).rev() {
        sift(v, i, n);
    }
    for end in (1..n).rev() {
        v.swap(0, end);
        sift(v, 0, end);
    }
}

/// Sorts the indices `v` by `key`, ties by index.
pub(super) fn sort_by(v: &mut [usize], key: &dyn Fn(usize) -> [u64; 3]) {
    sort_with(v, &|a, b| (key(a), a) < (key(b), b));
}

/// `0..n`, sorted by `key`.
pub(super) fn sorted(n: usize, key: &dyn Fn(usize) -> [u64; 3]) -> Vec<usize> {
    let mut v: Vec<usize> = (0..n).collect();
    sort_by(&mut v, key);
    v
}
