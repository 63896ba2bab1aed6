//! Pure cryptography and encodings: keys, ciphertext formats, felts, SNIP-12.
