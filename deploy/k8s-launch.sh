#!/bin/sh
# Launch command of coopmux inside Kubernetes (`--launch='k8s-launch.sh [FLAGS] [-- AGENT…]'`).
#
# Creates one session pod running `coopmux session`. The pod manifest is built as JSON by
# `coopmux k8s-pod-manifest` from this process's environment (GIT_REPO, GIT_BRANCH,
# WORKING_DIR, COOP_MUX_URL, COOP_MUX_SESSION_ID, POD_NAMESPACE) and the flags given here, so
# no value is ever pasted into YAML or shell text. Credentials and the mux token reach the pod
# through Secrets, never as literal values. Deployment settings (image, secrets) are flags in
# the mux's --launch string, so that launch variables cannot change them.
set -eu

# Built first and applied only if it succeeded (POSIX sh has no pipefail).
manifest=$(coopmux k8s-pod-manifest "$@")
printf '%s\n' "$manifest" | kubectl apply -f -
