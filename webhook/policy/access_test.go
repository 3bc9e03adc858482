package policy

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
)

// sarReviewer answers SubjectAccessReviews with allowed, and keeps the last one asked.
type sarReviewer struct {
	allowed bool
	err     error
	last    *authzv1.SubjectAccessReview
	calls   int
}

func (r *sarReviewer) Create(_ context.Context, sar *authzv1.SubjectAccessReview, _ metav1.CreateOptions) (*authzv1.SubjectAccessReview, error) {
	r.calls++
	r.last = sar.DeepCopy()
	if r.err != nil {
		return nil, r.err
	}
	out := sar.DeepCopy()
	out.Status.Allowed = r.allowed
	if !r.allowed {
		out.Status.Reason = "no RBAC policy matched"
	}
	return out, nil
}

func allowAll() *ScaleAccess { return &ScaleAccess{Reviewer: &sarReviewer{allowed: true}} }

var alice = authnv1.UserInfo{
	Username: "alice", UID: "a-1", Groups: []string{"ml-team", "system:authenticated"},
	Extra: map[string]authnv1.ExtraValue{"scopes": {"s1"}},
}

func accessValidator(t *testing.T, r *sarReviewer) *Validator {
	mapper := meta.NewDefaultRESTMapper([]schema.GroupVersion{{Group: "apps", Version: "v1"}})
	mapper.Add(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, meta.RESTScopeNamespace)
	return &Validator{
		Reader: fake.NewClientBuilder().WithScheme(newScheme(t)).Build(), Scales: scales{},
		Access: &ScaleAccess{Reviewer: r, Mapper: mapper},
	}
}

// A user who may create policies but not update deployments/scale is refused, and the
// message says why; the review asks about exactly that user (groups and extra included) and
// exactly the target's /scale.
func TestPolicyOfAUserWhoMayNotScaleIsRefused(t *testing.T) {
	r := &sarReviewer{allowed: false}
	req := request(t, admissionv1.Create, validPolicy, "")
	req.UserInfo = alice
	resp := accessValidator(t, r).Handle(context.Background(), req)
	if resp.Allowed {
		t.Fatal("a policy of a user who may not scale its target was admitted")
	}
	got := strings.Join(causes(resp), "\n")
	for _, want := range []string{"spec.targetRef", `user "alice" may not update deployments.apps/scale "llama" in namespace ai`, "no RBAC policy matched"} {
		if !strings.Contains(got, want) {
			t.Errorf("refusal %q does not say %q", got, want)
		}
	}
	s := r.last.Spec
	ra := s.ResourceAttributes
	if s.User != "alice" || s.UID != "a-1" || len(s.Groups) != 2 || s.Groups[0] != "ml-team" || s.Extra["scopes"][0] != "s1" {
		t.Errorf("reviewed %+v, want alice with her groups and extra", s)
	}
	if *ra != (authzv1.ResourceAttributes{Namespace: "ai", Verb: "update", Group: "apps", Version: "v1", Resource: "deployments", Subresource: "scale", Name: "llama"}) {
		t.Errorf("reviewed %+v", *ra)
	}

	r.allowed = true
	if resp := accessValidator(t, r).Handle(context.Background(), req); !resp.Allowed {
		t.Errorf("a user who may scale was refused: %v", causes(resp))
	}
}

func TestAccessCheckedOnSpecChangesOnly(t *testing.T) {
	r := &sarReviewer{allowed: false}
	v := accessValidator(t, r)
	relabelled := strings.Replace(validPolicy, "metadata: {name: llama, namespace: ai}", "metadata: {name: llama, namespace: ai, labels: {a: b}}", 1)
	if resp := v.Handle(context.Background(), request(t, admissionv1.Update, relabelled, validPolicy)); !resp.Allowed || r.calls != 0 {
		t.Errorf("label change: allowed=%v after %d reviews, want allowed without one", resp.Allowed, r.calls)
	}
	raised := strings.Replace(validPolicy, "maxReplicas: 5", "maxReplicas: 50", 1)
	if resp := v.Handle(context.Background(), request(t, admissionv1.Update, raised, validPolicy)); resp.Allowed || r.calls != 1 {
		t.Errorf("maxReplicas raised by a user who may not scale: allowed=%v after %d reviews", resp.Allowed, r.calls)
	}
}

// A review that fails refuses the policy (500): admitting it would lend the scaler's rights
// whenever the API server is slow.
func TestAccessReviewFailureRefuses(t *testing.T) {
	resp := accessValidator(t, &sarReviewer{err: errors.New("timeout")}).Handle(context.Background(), request(t, admissionv1.Create, validPolicy, ""))
	if resp.Allowed || resp.Result == nil || resp.Result.Code != 500 {
		t.Errorf("failed review: allowed=%v result %+v, want a 500 refusal", resp.Allowed, resp.Result)
	}
	v := accessValidator(t, &sarReviewer{allowed: true})
	v.Access = nil
	if resp := v.Handle(context.Background(), request(t, admissionv1.Create, validPolicy, "")); resp.Allowed {
		t.Error("a validator without an access check admitted a policy")
	}
}

// A kind the RESTMapper does not know (a CRD to come) is checked under its guessed plural.
func TestAccessOfAnUnknownKindUsesItsPlural(t *testing.T) {
	r := &sarReviewer{allowed: true}
	manifest := strings.Replace(validPolicy, "{apiVersion: apps/v1, kind: Deployment, name: llama}", "{apiVersion: serving.example.com/v1, kind: ModelServer, name: llama}", 1)
	if resp := accessValidator(t, r).Handle(context.Background(), request(t, admissionv1.Create, manifest, "")); !resp.Allowed {
		t.Fatalf("refused: %v", causes(resp))
	}
	if ra := r.last.Spec.ResourceAttributes; ra.Group != "serving.example.com" || ra.Resource != "modelservers" || ra.Subresource != "scale" {
		t.Errorf("reviewed %+v", *ra)
	}
}

func TestMaxReplicasCeiling(t *testing.T) {
	v := accessValidator(t, &sarReviewer{allowed: true})
	for _, c := range []struct {
		ceiling, max int32
		ok           bool
	}{{0, DefaultMaxReplicas, true}, {0, DefaultMaxReplicas + 1, false}, {10, 10, true}, {10, 11, false}} {
		v.MaxReplicas = c.ceiling
		manifest := strings.Replace(validPolicy, "maxReplicas: 5", "maxReplicas: "+itoa(c.max), 1)
		resp := v.Handle(context.Background(), request(t, admissionv1.Create, manifest, ""))
		if resp.Allowed != c.ok {
			t.Errorf("ceiling %d, maxReplicas %d: allowed=%v %v", c.ceiling, c.max, resp.Allowed, causes(resp))
		}
		if !c.ok && !strings.Contains(strings.Join(causes(resp), ""), "spec.maxReplicas: ") {
			t.Errorf("ceiling refusal does not name spec.maxReplicas: %v", causes(resp))
		}
	}
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }
