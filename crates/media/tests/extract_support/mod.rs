//! Shared by the extraction tests: Matroska files rewritten with sizes of unknown length.

/// Rewrites the size of the Segment and of every Cluster to "unknown" (all ones, same width).
pub fn with_unknown_sizes(bytes: &[u8]) -> Vec<u8> {
    fn vint(b: &[u8], p: usize, id: bool) -> (u64, usize) {
        let w = b[p].leading_zeros() as usize + 1;
        let mut v = if id {
            u64::from(b[p])
        } else {
            u64::from(b[p]) & (0xFF >> w)
        };
        for &x in &b[p + 1..p + w] {
            v = v << 8 | u64::from(x);
        }
        (v, w)
    }
    fn make_unknown(b: &mut [u8], p: usize, w: usize) {
        b[p] = 0xFF >> (w - 1);
        b[p + 1..p + w].fill(0xFF);
    }
    let mut out = bytes.to_vec();
    let (_, w) = vint(bytes, 0, true);
    let (size, sw) = vint(bytes, w, false);
    let mut p = w + sw + size as usize;
    let (id, w) = vint(bytes, p, true);
    assert_eq!(id, 0x1853_8067, "the Segment follows the EBML header");
    let (_, sw) = vint(bytes, p + w, false);
    make_unknown(&mut out, p + w, sw);
    p += w + sw;
    let mut clusters = 0;
    while p < bytes.len() {
        let (id, w) = vint(bytes, p, true);
        let (size, sw) = vint(bytes, p + w, false);
        if id == 0x1F43_B675 {
            make_unknown(&mut out, p + w, sw);
            clusters += 1;
        }
        p += w + sw + size as usize;
    }
    assert!(clusters > 0);
    out
}
