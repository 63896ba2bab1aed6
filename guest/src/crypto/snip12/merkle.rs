//! Merkle root of a SNIP-12 `merkletree` value, as starknet.js's `MerkleTree`
//! builds it: leaves are paired left to right, each pair is sorted
//! numerically and hashed (Pedersen in revision 0, Poseidon in revision 1),
//! a lone last node is paired with zero, until one node remains. A single
//! leaf is its own root; an empty tree has no root.

use starknet_crypto::{pedersen_hash, poseidon_hash};

use super::Revision;
use crate::crypto::felt::Felt;

/// The root over `leaves`, or `None` for an empty list.
pub(super) fn merkle_root(leaves: &[Felt], revision: Revision) -> Option<Felt> {
    let mut layer = leaves.to_vec();
    while layer.len() > 1 {
        layer = layer
            .chunks(2)
            .map(|pair| match pair {
                [a, b] => hash_sorted(*a, *b, revision),
                [a] => hash_sorted(*a, Felt::ZERO, revision),
                _ => Felt::ZERO,
            })
            .collect();
    }
    layer.first().copied()
}

/// Hash of a pair, smaller value first.
fn hash_sorted(a: Felt, b: Felt, revision: Revision) -> Felt {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    match revision {
        Revision::V0 => pedersen_hash(&low, &high),
        Revision::V1 => poseidon_hash(low, high),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starknet_js_vector_three_leaves() {
        // starknet.js: `new MerkleTree(['0x1', '0x2', '0x3']).root`
        let leaves = [Felt::from(1u8), Felt::from(2u8), Felt::from(3u8)];
        assert_eq!(
            merkle_root(&leaves, Revision::V0).unwrap(),
            Felt::from_hex_unchecked(
                "0x15ac9e457789ef0c56e5d559809e7336a909c14ee2511503fa7af69be1ba639"
            )
        );
    }

    #[test]
    fn shape() {
        let a = Felt::from(10u8);
        let b = Felt::from(5u8);
        assert_eq!(merkle_root(&[], Revision::V1), None);
        assert_eq!(merkle_root(&[a], Revision::V1), Some(a));
        assert_eq!(
            merkle_root(&[a, b], Revision::V1),
            Some(poseidon_hash(b, a))
        );
        assert_eq!(
            merkle_root(&[b, a], Revision::V1),
            Some(poseidon_hash(b, a))
        );
        assert_eq!(
            merkle_root(&[a, b], Revision::V0),
            Some(pedersen_hash(&b, &a))
        );
        let c = Felt::from(7u8);
        let expected = {
            let left = poseidon_hash(b, a);
            let right = poseidon_hash(Felt::ZERO, c);
            if left <= right {
                poseidon_hash(left, right)
            } else {
                poseidon_hash(right, left)
            }
        };
        assert_eq!(merkle_root(&[a, b, c], Revision::V1), Some(expected));
    }
}
