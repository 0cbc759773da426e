//! `/ws/{id}`: byte-exact PTY streams, coop's lag replays, pushes by subscription, clients
//! joining with other flags, request ids and reply order (also after coop's uncorrelated
//! errors), unknown ids, upstream drops and slow clients.

mod join;
mod lag;
mod not_found;
mod offsets;
mod order;
mod pushes;
mod reconnect;
mod request_ids;
mod slow_client;
mod uncorrelated;
