//go:build tools

// Package tools pins metrics-server, which the e2e tests run so that
// Resource (cpu, memory) policies scale on real metrics.k8s.io data. It is a
// module of its own because metrics-server builds against an older
// Kubernetes minor than the project does.
package tools

import _ "sigs.k8s.io/metrics-server/cmd/metrics-server"
