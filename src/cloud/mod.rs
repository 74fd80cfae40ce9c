//! Cloud termination: the provider-side signals that a node is about to go away and the calls that
//! tell the provider the node is ready. AWS only for now ([`aws`]).

pub mod aws;
