//! Launches: the REST API end to end with real processes, tracking inside one process, and
//! the Kubernetes launch script and manifests.

mod api;
mod k8s;
mod tracking;
