//go:build e2e

package e2e

import (
	"strings"
	"testing"
)

// A user who may create policies but not update deployments/scale cannot make the scaler
// scale a Deployment for them: the webhook's SubjectAccessReview refuses the policy, saying
// why. Once the same user may update the Deployment's /scale, the same policy is admitted.
// kubectl impersonates the user (--as) as an administrator would to check a user's rights.
func TestWebhookRefusesAPolicyItsAuthorCouldNotScale(t *testing.T) {
	requireInferscale(t)
	ns := newNamespace(t)
	const user = "policy-author"
	grant(t, ns, "policy-author", user, "{apiGroups: [inferscale.io], resources: [autoscalingpolicies], verbs: [get, list, create, update, patch]}")
	policy := policyManifest(ns, "llama", "Deployment", "apps/v1", "llama")
	out, err := applyManifest(t, policy, "--as="+user)
	if err == nil {
		t.Fatalf("a policy of a user without update on deployments/scale was admitted:\n%s", out)
	}
	for _, want := range []string{"spec.targetRef", `user "` + user + `" may not update deployments.apps/scale "llama" in namespace ` + ns} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}

	grant(t, ns, "scale-llama", user, "{apiGroups: [apps], resources: [deployments/scale], resourceNames: [llama], verbs: [update]}")
	if out, err := applyManifest(t, policy, "--as="+user); err != nil {
		t.Errorf("the policy of a user who may update deployments/scale llama was refused: %v\n%s", err, out)
	}
}

// grant gives user the rule in namespace ns through a Role and RoleBinding named name.
func grant(t *testing.T, ns, name, user, rule string) {
	t.Helper()
	manifest := `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: ` + name + `, namespace: ` + ns + `}
rules: [` + rule + `]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ` + name + `, namespace: ` + ns + `}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: ` + name + `}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: ` + user + `}]
`
	if out, err := applyManifest(t, manifest); err != nil {
		t.Fatalf("RBAC %s: %v\n%s", name, err, out)
	}
}
