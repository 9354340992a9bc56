#!/bin/sh
# Create the database roles' password secrets at deploy time, once, before
# `kubectl apply -k deploy/k8s`. Existing secrets are left alone (rotation: docs/runbook.md).
# Passwords are random hex (URL-safe: they go into ANKOMMEN_DATABASE_URL) and never touch a
# file. Kafka passwords need nothing here: Strimzi's User Operator generates one per
# KafkaUser into a secret of the user's name.
set -eu
NAMESPACE="${NAMESPACE:-ankommen}"
for service in allocation housing integration volunteers reporting; do
    name="ankommen-pg-$service"
    if kubectl -n "$NAMESPACE" get secret "$name" >/dev/null 2>&1; then
        echo "exists: $name"
        continue
    fi
    kubectl -n "$NAMESPACE" create secret generic "$name" \
        --type=kubernetes.io/basic-auth \
        --from-literal=username="$service" \
        --from-literal=password="$(openssl rand -hex 24)"
    kubectl -n "$NAMESPACE" label secret "$name" cnpg.io/reload=true app.kubernetes.io/part-of=ankommen
done
# The key of the events' pseudonyms, shared by every service. Never rotate it without a plan:
# pseudonyms made under another key do not match (docs/runbook.md).
if kubectl -n "$NAMESPACE" get secret ankommen-pseudonym-key >/dev/null 2>&1; then
    echo "exists: ankommen-pseudonym-key"
else
    kubectl -n "$NAMESPACE" create secret generic ankommen-pseudonym-key \
        --from-literal=key="$(openssl rand -hex 32)"
    kubectl -n "$NAMESPACE" label secret ankommen-pseudonym-key app.kubernetes.io/part-of=ankommen
fi
