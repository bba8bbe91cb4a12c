//! Dockerfile parser and AST: pure, no IO.
