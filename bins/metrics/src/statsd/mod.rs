//! StatsD in: the line format ([`line`]) and the sockets it arrives on ([`udp`], [`tcp`], [`unixgram`]).

pub mod line;
pub mod tcp;
pub mod udp;
pub mod unixgram;
