//! Sumac test server.
