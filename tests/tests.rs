//! Integration tests of the portproof binary.
