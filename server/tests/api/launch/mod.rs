//! Launches: the REST API end to end with real processes, how launches are linked to the
//! sessions they start (never killed), tracking inside one process, and the Kubernetes launch
//! script and manifests.

mod api;
mod correlation;
mod k8s;
mod tracking;
