//! The wire protocols, through hyper's `client::conn`: the only modules that name hyper's
//! types. [`h1`] exchanges one request over an HTTP/1 connection (and captures the response
//! head as received); [`h2`] opens HTTP/2 connections and sends requests on their streams.

pub(crate) mod h1;
pub(crate) mod h2;
