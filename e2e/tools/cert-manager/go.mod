module github.com/inferscale/inferscale/e2e/tools/cert-manager

go 1.26.8

// The e2e tests install cert-manager's CRDs from this pinned release to
// dry-run manifests/cert-manager against a real API server.
require github.com/cert-manager/cert-manager v1.19.1
