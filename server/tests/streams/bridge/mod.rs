//! `/ws/{id}`: byte-exact PTY streams, pushes by subscription, request ids, upstream drops
//! and slow clients.

mod offsets;
mod pushes;
mod reconnect;
mod request_ids;
mod slow_client;
